"""The Models tab: batch versions side by side with rollback (the same engine call and validation as
POST /ml/batch/rollback), the hybrid's calibration per picked symbol, the batch feature importance.
Drawn when the tab is opened, then on each state change while it is open."""
from __future__ import annotations

from typing import Callable

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, no_update

from callbacks.model_figures import calibration_bins, calibration_figure, importance_figure
from callbacks.status import ACCURACY_BARS, picked
from engine.errors import ValidationError
from layouts.models import importance_options, versions_table


def calibration_view(system, choice: str | None):
    """The hybrid's reliability diagram over each picked symbol's scored predictions."""
    bins, cfg = {}, system.config.current()
    for symbol in picked(cfg["symbols"], choice):
        scored = system.hybrid.log.scored(symbol, cfg["interval"], ACCURACY_BARS)
        bins[symbol] = calibration_bins(scored["ensemble"], scored["outcome"])
    return calibration_figure(bins)


def importance_view(versions: list[dict], version: int | None) -> tuple:
    """(importance figure, picker options, picked version): the chosen version, else the active one."""
    options = importance_options(versions)
    recorded = {v["version"]: v for v in versions if v.get("feature_importance")}
    if version not in recorded:
        version = next((v["version"] for v in versions if v.get("active") and v["version"] in recorded),
                       options[0]["value"] if options else None)
    chosen = recorded.get(version) or {}
    return importance_figure(chosen.get("feature_importance"), version), options, version


def rollback_question(version: int, active: int | None) -> str:
    """What the operator confirms before a rollback changes the model every prediction uses.

    >>> rollback_question(2, 3)
    'Make v2 the active batch model? Predictions use it at once; v3 stays stored and can be made active again.'
    """
    keep = f"v{active} stays stored and can be made active again" if active is not None else "no version is deleted"
    return f"Make v{version} the active batch model? Predictions use it at once; {keep}."


def rollback(system, version: int) -> dbc.Alert:
    """Make ``version`` the active batch model; the answer in words (refused ones say why)."""
    try:
        active = system.rollback_batch(version)
    except ValidationError as exc:
        return dbc.Alert(f"Not rolled back — {exc}", color="danger", className="py-2 mb-0", id="rollback-error")
    return dbc.Alert(f"Version {active['version']} is active again; predictions use it from now on.",
                     color="success", className="py-2 mb-0", id="rollback-ok", duration=6000)


def versions_digest(versions: list[dict]) -> str:
    """What the versions table shows changes only with a new version, a rollback or a removed file.

    >>> versions_digest([{"version": 2, "active": True, "available": True}])
    '2:True:True'
    """
    return ",".join(f"{v['version']}:{v.get('active')}:{v.get('available')}" for v in versions)


def register(app, get_system: Callable) -> None:
    @app.callback(Output("versions-content", "children"), Output("versions-digest", "data"),
                  Output("calibration-graph", "figure"),
                  Output("importance-graph", "figure"), Output("importance-version", "options"),
                  Output("importance-version", "value"),
                  Input("tabs", "active_tab"), Input("state-version", "data"), Input("symbol-picker", "value"),
                  Input("importance-version", "value"), Input("rollback-message", "children"),
                  State("versions-digest", "data"), prevent_initial_call=True)  # drawn when its tab is opened
    def render(tab, _version, choice, version, _rolled, shown):
        if tab != "models":
            return (no_update,) * 6
        system = get_system()
        versions = system.batch.versions()
        digest = versions_digest(versions)
        # the table is redrawn only when it changed: a rollback button never moves under the pointer
        table = (no_update, no_update) if digest == shown else (versions_table(versions), digest)
        return (*table, calibration_view(system, choice), *importance_view(versions, int(version) if version else None))

    @app.callback(Output("rollback-confirm", "message"), Output("rollback-confirm", "displayed"),
                  Output("rollback-pending", "data"), Input({"type": "rollback", "version": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def ask_rollback(clicks):
        if not ctx.triggered_id or not any(clicks):  # the buttons were (re)drawn, not pressed
            return no_update, no_update, no_update
        version = ctx.triggered_id["version"]
        active = get_system().batch.active()
        return rollback_question(version, active and active.get("version")), True, version

    @app.callback(Output("rollback-message", "children"), Input("rollback-confirm", "submit_n_clicks"),
                  State("rollback-pending", "data"), prevent_initial_call=True)
    def do_rollback(_submitted, version):  # only an OK in the dialog gets here; Cancel changes nothing
        return rollback(get_system(), version) if version is not None else no_update

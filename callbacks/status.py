"""Live refresh: a cheap poll turns system.status() into a fingerprint; panels re-render only when it changes."""
from __future__ import annotations

import hashlib
import json
from typing import Callable, Mapping

from dash import Input, Output, State, no_update

from callbacks.figures import accuracy_figure, accuracy_series
from layouts import panels
from layouts.hybrid_learning import JOBS

AGE_BUCKET_MS = 60_000  # ages and lags shown on the page are re-rendered at least once a minute
HISTORY_LIMIT = 1000


def fingerprint(status: Mapping) -> str:
    """A digest of everything in ``status`` that the page shows, minus the ever-ticking clock fields
    (the clock itself, ages, lags, alert stamps), so an idle system keeps the same fingerprint.

    >>> a = {"time": 1, "batch_model": {"age_s": 3}, "data_collection": {"symbols": {"X": {"lag_ms": 5}}}}
    >>> b = {"time": 2, "batch_model": {"age_s": 4}, "data_collection": {"symbols": {"X": {"lag_ms": 6}}}}
    >>> fingerprint(a) == fingerprint(b)
    True
    """
    stable = dict(status)
    stable["time"] = (status.get("time") or 0) // AGE_BUCKET_MS
    stable["batch_model"] = {k: v for k, v in (status.get("batch_model") or {}).items() if k != "age_s"}
    dc = dict(status.get("data_collection") or {})
    dc["symbols"] = {s: {k: v for k, v in info.items() if k != "lag_ms"} for s, info in (dc.get("symbols") or {}).items()}
    stable["data_collection"] = dc
    stable["alerts"] = [{k: v for k, v in a.items() if k != "time"} for a in status.get("alerts") or []]
    return hashlib.sha1(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def series_version(series: Mapping[str, list]) -> str:
    """A short digest of accuracy series: the chart is redrawn only when a point was added.

    >>> series_version({"hybrid": [(1, 0.5)]}) == series_version({"hybrid": [(1, 0.5)]})
    True
    """
    return hashlib.sha1(json.dumps({k: [len(v), v[-1] if v else None] for k, v in sorted(series.items())}).encode()
                        ).hexdigest()


def status_view(status: Mapping) -> tuple:
    """(source badge, alerts, status cards)."""
    return panels.source_badge(status), panels.alerts(status), panels.status_cards(status)


def stats_view(system, status: Mapping) -> tuple:
    """(online models table, data collection panel)."""
    return panels.online_stats(system.online.stats()), panels.collection_stats(status, system.data_collection())


def logs_view(system) -> tuple:
    """(prediction history, job log)."""
    return panels.prediction_history(system.hybrid.history(None, 12)), panels.job_log(system.jobs.history(None, 15))


def accuracy_view(system, shown: str | None = None) -> tuple:
    """(accuracy figure, its series version), or no_update twice when ``shown`` is that version already."""
    horizon = system.config.current()["label_horizon"]
    series = accuracy_series(system.online.performance_history(), system.hybrid.history(None, HISTORY_LIMIT), horizon)
    version = series_version(series)
    return (no_update, no_update) if version == shown else (accuracy_figure(series), version)


STATUS_PROPS = (("source-badge", "children"), ("alerts", "children"), ("status-cards", "children"))
STATS_PROPS = (("online-stats", "children"), ("collection-stats", "children"))
LOGS_PROPS = (("prediction-history", "children"), ("job-log", "children"))
ACCURACY_PROPS = (("accuracy-graph", "figure"), ("accuracy-version", "data"))


def initial_props(system) -> dict[tuple[str, str], object]:
    """Every panel as the page first shows it, {(component id, prop): value}: served inside the layout,
    so a page load needs no callback round trip (the panel callbacks only run when the state changes)."""
    status = system.status()
    views = ((STATUS_PROPS, status_view(status)), (STATS_PROPS, stats_view(system, status)),
             (LOGS_PROPS, logs_view(system)), (ACCURACY_PROPS, accuracy_view(system)))
    props = {key: value for keys, values in views for key, value in zip(keys, values)}
    props[("state-version", "data")] = fingerprint(status)
    return props


def _outputs(props) -> list[Output]:
    return [Output(cid, prop) for cid, prop in props]


def register(app, get_system: Callable) -> None:
    @app.callback(Output("state-version", "data"),
                  Input("refresh", "n_intervals"), *[Input(f"{job}-finished", "data") for job, _, _ in JOBS],
                  State("state-version", "data"), prevent_initial_call=True)
    def poll(_n, *args):
        version = fingerprint(get_system().status())
        return no_update if version == args[-1] else version

    # The page arrives with every panel filled (initial_props); each re-renders when the state changes.
    @app.callback(*_outputs(STATUS_PROPS), Input("state-version", "data"), prevent_initial_call=True)
    def render_status(_version):
        return status_view(get_system().status())

    @app.callback(*_outputs(STATS_PROPS), Input("state-version", "data"), prevent_initial_call=True)
    def render_stats(_version):
        system = get_system()
        return stats_view(system, system.status())

    @app.callback(*_outputs(LOGS_PROPS), Input("state-version", "data"), prevent_initial_call=True)
    def render_logs(_version):
        return logs_view(get_system())

    @app.callback(*_outputs(ACCURACY_PROPS), Input("state-version", "data"), State("accuracy-version", "data"),
                  prevent_initial_call=True)
    def render_accuracy(_version, shown):
        return accuracy_view(get_system(), shown)

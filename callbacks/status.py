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


def register(app, get_system: Callable) -> None:
    @app.callback(Output("state-version", "data"),
                  Input("refresh", "n_intervals"), *[Input(f"{job}-finished", "data") for job, _, _ in JOBS],
                  State("state-version", "data"), prevent_initial_call=True)  # panels render on load by themselves
    def poll(_n, *args):
        version = fingerprint(get_system().status())
        return no_update if version == args[-1] else version

    # Independent, small callbacks: each panel appears as soon as its own data is read.
    @app.callback(Output("source-badge", "children"), Output("alerts", "children"), Output("status-cards", "children"),
                  Input("state-version", "data"))
    def render_status(_version):
        status = get_system().status()
        return panels.source_badge(status), panels.alerts(status), panels.status_cards(status)

    @app.callback(Output("online-stats", "children"), Output("collection-stats", "children"),
                  Input("state-version", "data"))
    def render_stats(_version):
        system = get_system()
        status = system.status()
        return panels.online_stats(system.online.stats()), panels.collection_stats(status, system.data_collection())

    @app.callback(Output("prediction-history", "children"), Output("job-log", "children"),
                  Input("state-version", "data"))
    def render_logs(_version):
        system = get_system()
        return panels.prediction_history(system.hybrid.history(None, 12)), panels.job_log(system.jobs.history(None, 15))

    @app.callback(Output("accuracy-graph", "figure"), Output("accuracy-version", "data"),
                  Input("state-version", "data"), State("accuracy-version", "data"))
    def render_accuracy(_version, shown):
        system = get_system()
        horizon = system.config.current()["label_horizon"]
        series = accuracy_series(system.online.performance_history(), system.hybrid.history(None, HISTORY_LIMIT),
                                 horizon)
        version = series_version(series)
        return (no_update, no_update) if version == shown else (accuracy_figure(series), version)

"""Live refresh: a cheap poll turns system.status() into a fingerprint; panels re-render only when it changes
(or when the symbol picker, a pager or a filter asks). Views follow the navbar's symbol picker."""
from __future__ import annotations

import hashlib
import json
from typing import Callable, Mapping

from dash import Input, Output, State, ctx, no_update

from callbacks.model_figures import accuracy_figure, accuracy_series, weights_figure
from layouts import panels
from layouts.health import health_view
from layouts.hybrid_learning import JOBS
from layouts.joblog import ANY, PAGE_SIZE, job_log, pages
from layouts.shell import ALL_SYMBOLS

AGE_BUCKET_MS = 60_000  # ages and lags shown on the page are re-rendered at least once a minute
ACCURACY_BARS = 1000  # scored predictions per symbol the accuracy chart spans


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


def picked(symbols: list[str], choice: str | None) -> list[str]:
    """The symbols a view shows for the picker's ``choice``: one, or every one for "All symbols".

    >>> picked(["BTCUSDT", "ETHUSDT"], "ETHUSDT"), picked(["BTCUSDT", "ETHUSDT"], "ALL")
    (['ETHUSDT'], ['BTCUSDT', 'ETHUSDT'])
    """
    return [choice] if choice in symbols else list(symbols) if choice == ALL_SYMBOLS else symbols[:1]


def series_version(per_symbol: Mapping[str, Mapping]) -> str:
    """A short digest of the accuracy series: the chart is redrawn only when a point was added.

    >>> series_version({"BTCUSDT": {}}) == series_version({"BTCUSDT": {}})
    True
    """
    sizes = {s: {k: [len(v), int(v["open_time"].iloc[-1])] for k, v in sorted(series.items())}
             for s, series in per_symbol.items()}
    return hashlib.sha1(json.dumps(sizes, sort_keys=True).encode()).hexdigest()


def status_view(status: Mapping) -> tuple:
    """(source badge, alerts, status cards, what a manual online update would learn)."""
    minimum = (status.get("config") or {}).get("min_data_points_for_update")
    waiting = panels.waiting_note(status.get("buffer") or {}, minimum)
    return panels.source_badge(status), panels.alerts(status), panels.status_cards(status), waiting


def stats_view(system, status: Mapping) -> tuple:
    """(online models table, data collection panel)."""
    return panels.online_stats(system.online.stats()), panels.collection_stats(status)


def health_panel(system, status: Mapping, choice: str | None):
    symbols = picked(status["config"]["symbols"], choice)
    return health_view(status.get("model_health"), symbols)


def history_view(system, choice: str | None, page: int) -> tuple:
    """(one page of the prediction history, page count, that page) for the picked symbol, or every symbol."""
    symbol = choice if choice in system.config.current()["symbols"] else None
    total = system.hybrid.log.count(symbol)
    page = min(max(1, page or 1), pages(total))
    rows = system.hybrid.history(symbol, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return panels.prediction_history(rows, total, symbol), pages(total), page


def joblog_view(system, job: str | None, outcome: str | None, routine: bool, page: int) -> tuple:
    """(one page of the job log with these filters, page count, that page)."""
    filters = {"job": None if job in (None, ANY) else job, "outcome": None if outcome in (None, ANY) else outcome,
               "routine": bool(routine)}
    total = system.jobs.count(**filters)
    hidden = 0 if routine else system.jobs.count(job=filters["job"], outcome=filters["outcome"]) - total
    page = min(max(1, page or 1), pages(total))
    runs = system.jobs.history(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **filters)
    return job_log(runs, total, hidden), pages(total), page


def accuracy_view(system, choice: str | None, shown: str | None = None) -> tuple:
    """(accuracy figure, weights figure, their series version) for the picked symbol(s), or no_update three
    times when ``shown`` is that version already."""
    cfg = system.config.current()
    symbols = picked(cfg["symbols"], choice)
    per_symbol = {s: accuracy_series(system.hybrid.log.scored(s, cfg["interval"], ACCURACY_BARS), cfg["label_horizon"])
                  for s in symbols}
    weights = {s: system.hybrid.log.weights(s, cfg["interval"], ACCURACY_BARS) for s in symbols}
    version = series_version({**per_symbol, **{f"weights {s}": {"w": w} for s, w in weights.items() if len(w)}})
    if version == shown:
        return no_update, no_update, no_update
    return accuracy_figure(per_symbol), weights_figure(weights), version


STATUS_PROPS = (("source-badge", "children"), ("alerts", "children"), ("status-cards", "children"),
                ("online_update-waiting", "children"))
STATS_PROPS = (("online-stats", "children"), ("collection-stats", "children"))
HEALTH_PROPS = (("model-health", "children"),)
HISTORY_PROPS = (("prediction-history", "children"), ("history-pages", "max_value"), ("history-pages", "active_page"))
JOBLOG_PROPS = (("job-log", "children"), ("joblog-pages", "max_value"), ("joblog-pages", "active_page"))
ACCURACY_PROPS = (("accuracy-graph", "figure"), ("weights-graph", "figure"), ("accuracy-version", "data"))


def initial_props(system) -> dict[tuple[str, str], object]:
    """Every panel as the page first shows it (the first configured symbol, default filters),
    {(component id, prop): value}: served inside the layout, so a page load needs no callback round trip."""
    status = system.status()
    first = status["config"]["symbols"][0]
    views = ((STATUS_PROPS, status_view(status)), (STATS_PROPS, stats_view(system, status)),
             (HEALTH_PROPS, (health_panel(system, status, first),)), (HISTORY_PROPS, history_view(system, first, 1)),
             (JOBLOG_PROPS, joblog_view(system, None, None, False, 1)), (ACCURACY_PROPS, accuracy_view(system, first)))
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

    @app.callback(*_outputs(HEALTH_PROPS), Input("state-version", "data"), Input("symbol-picker", "value"),
                  prevent_initial_call=True)
    def render_health(_version, choice):
        system = get_system()
        return health_panel(system, system.status(), choice)

    @app.callback(*_outputs(HISTORY_PROPS), Input("state-version", "data"), Input("symbol-picker", "value"),
                  Input("history-pages", "active_page"), prevent_initial_call=True)
    def render_history(_version, choice, page):
        return history_view(get_system(), choice, 1 if ctx.triggered_id == "symbol-picker" else page)

    @app.callback(*_outputs(JOBLOG_PROPS), Input("state-version", "data"), Input("joblog-job", "value"),
                  Input("joblog-outcome", "value"), Input("joblog-routine", "value"),
                  Input("joblog-pages", "active_page"), prevent_initial_call=True)
    def render_joblog(_version, job, outcome, routine, page):
        page = page if ctx.triggered_id in ("state-version", "joblog-pages") else 1  # a new filter: first page
        return joblog_view(get_system(), job, outcome, routine, page)

    @app.callback(*_outputs(ACCURACY_PROPS), Input("state-version", "data"), Input("symbol-picker", "value"),
                  State("accuracy-version", "data"), prevent_initial_call=True)
    def render_accuracy(_version, choice, shown):
        return accuracy_view(get_system(), choice, shown)

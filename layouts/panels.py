"""Render engine data (status, stats, histories, predictions, job runs) into components; pure functions."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import html

from layouts.format import DASH, age, duration, number, percent, utc_time
from layouts.widgets import badge, stat, table

REPLAY_TEXT = "Replaying bundled candles (offline)"
OUTCOME_COLORS = {"ok": "success", "skipped": "secondary", "busy": "warning", "error": "danger",  # engine.jobs.OUTCOMES
                  "running": "info", "interrupted": "warning"}


def direction(pred: Any) -> str:
    """1 -> "UP", 0 -> "DOWN", anything else -> a dash."""
    return {1: "UP", 0: "DOWN"}.get(pred if isinstance(pred, int) else None, DASH) if pred is not None else DASH


def direction_badge(pred: Any) -> Any:
    text = direction(pred)
    return badge(f"▲ {text}" if text == "UP" else f"▼ {text}" if text == "DOWN" else text,
                 "success" if text == "UP" else "danger" if text == "DOWN" else "secondary")


def outcome_badge(outcome: str | None) -> Any:
    return badge(outcome or "never", OUTCOME_COLORS.get(outcome or "", "secondary"))


def source_badge(status: Mapping) -> list:
    """Navbar badges: running state and where the candles come from."""
    dc = status.get("data_collection") or {}
    running = badge("● running" if status.get("running") else "○ stopped",
                    "success" if status.get("running") else "danger")
    return [running, _source_badge(dc, "source-mode")]


def _source_badge(dc: Mapping, id: str) -> Any:
    """Where candles come from: replay (offline), live Binance, or not decided yet."""
    if dc.get("replaying") or dc.get("source") == "replay":
        return badge(REPLAY_TEXT, "info", id=id)
    if dc.get("source") == "live":
        return badge("Live · Binance", "success", id=id)
    return badge("Choosing data source…", "secondary", id=id)


def alerts(status: Mapping) -> list:
    """Drift, failing jobs and the like, as dismissable coloured banners (newest first)."""
    items = sorted(status.get("alerts") or [], key=lambda a: a.get("time") or 0, reverse=True)
    return [dbc.Alert([html.Strong(f"{str(a.get('kind', 'alert')).replace('_', ' ').capitalize()}: "),
                       a.get("message", ""),
                       html.Span(f" · {utc_time(a.get('time'))}", className="small text-muted")],
                      color="danger" if a.get("level") == "danger" else "warning", className="py-2 mb-2 hls-alert",
                      dismissable=True) for a in items]


def _symbols_summary(symbols: Mapping[str, Mapping]) -> tuple[int | None, float | None]:
    last = [s.get("last_open_time") for s in symbols.values() if s.get("last_open_time") is not None]
    lags = [s.get("lag_ms") for s in symbols.values() if s.get("lag_ms") is not None]
    return (max(last) if last else None), (max(lags) / 1000 if lags else None)


def status_cards(status: Mapping) -> dbc.Row:
    """The status panel: system, batch model, data collection, last retrain, next scheduled runs."""
    now = status.get("time")
    bm = status.get("batch_model") or {}
    dc = status.get("data_collection") or {}
    lr = status.get("last_retrain")
    last_candle, lag_s = _symbols_summary(dc.get("symbols") or {})
    buffer = status.get("buffer") or {}

    system = stat("System", badge("Running" if status.get("running") else "Stopped",
                                  "success" if status.get("running") else "danger", id="status-running"),
                  f"buffer {number(buffer.get('size'))} / {number(buffer.get('max'))} · "
                  f"{number(buffer.get('pending'))} pending")
    metrics = bm.get("metrics") or {}
    batch = stat("Batch model",
                 badge(f"Loaded · v{bm.get('version')}" if bm.get("loaded") else "Not trained yet",
                       "success" if bm.get("loaded") else "warning", id="status-batch"),
                 f"trained {age(bm.get('age_s'))} ago · accuracy {percent(metrics.get('accuracy'))}"
                 if bm.get("loaded") else "first retrain pending")
    dc_badge = (_source_badge(dc, "status-collection") if dc.get("enabled", True)
                else badge("Disabled", "secondary", id="status-collection"))
    collection = stat("Data collection", dc_badge,
                      html.Span([f"last candle {utc_time(last_candle)} · lag {age(lag_s)}",
                                 html.Br() if dc.get("reason") else None,
                                 html.Span(dc.get("reason"), className="text-muted") if dc.get("reason") else None]))
    if lr:
        retrain = stat("Last retrain", html.Span([outcome_badge(lr.get("outcome")), " ",
                                                  badge("promoted", "success") if lr.get("promoted") else None]),
                       f"{utc_time(lr.get('time'))} · v{lr.get('version')}" if lr.get("version") is not None
                       else utc_time(lr.get("time")))
    else:
        retrain = stat("Last retrain", badge("never", "secondary"), "runs on schedule or on demand")
    runs = status.get("next_runs") or {}
    upcoming = html.Ul([html.Li([html.Span(job.replace("_", " "), className="text-muted"), " ",
                                 f"in {age((t - now) / 1000)}" if t is not None and now is not None else "off"])
                        for job, t in sorted(runs.items(), key=lambda kv: (kv[1] is None, kv[1] or 0))],
                       className="list-unstyled mb-0 small")
    nxt = stat("Next runs", upcoming)
    cols = [system, batch, collection, retrain, nxt]
    widths = (2, 2, 3, 2, 3)
    return dbc.Row([dbc.Col(dbc.Card(dbc.CardBody(c), className="hls-card hls-status-card h-100"), md=6, xl=w)
                    for c, w in zip(cols, widths)], className="g-3")


def online_stats(stats: Mapping) -> html.Div:
    """Per online model: samples seen, version, accuracy, last update, drift; and the training buffer."""
    models = stats.get("models") or {}
    rows = [(name, number(m.get("samples_seen")), m.get("version", DASH), percent(m.get("accuracy")),
             utc_time(m.get("last_update"), seconds=True, date=False), badge("drift", "danger") if m.get("drift") else badge("stable", "success"))
            for name, m in models.items()]
    buffer = html.Div([stat("Buffer", number(stats.get("buffer_size")), f"of {number(stats.get('buffer_max'))}"),
                       stat("Pending", number(stats.get("pending")), "new samples"),
                       stat("Drift events", number(len(stats.get("drift_events") or [])))],
                      className="d-flex justify-content-between mb-3", id="buffer-stats")
    return html.Div([buffer, table(("model", "samples", "ver", "acc", "last update", ""), rows,
                                   empty="No online models yet.", id="online-models-table")])


def collection_stats(status: Mapping, collector: Mapping | None = None) -> html.Div:
    """Per symbol: stored rows, last candle and lag; plus request/error counters from the collector."""
    dc = status.get("data_collection") or {}
    rows = [(sym, number(s.get("rows")), utc_time(s.get("last_open_time")),
             age(s.get("lag_ms") / 1000 if s.get("lag_ms") is not None else None))
            for sym, s in (dc.get("symbols") or {}).items()]
    collector = collector or {}
    counters = html.Div([stat("Requests", number(collector.get("requests"))),
                         stat("Weight used", number(collector.get("weight_used"))),
                         stat("Errors", number(collector.get("errors")))],
                        className="d-flex justify-content-between mb-3")
    error = dc.get("last_error") or collector.get("last_error")
    return html.Div([counters, table(("symbol", "rows", "last candle", "lag"), rows, empty="No candles yet."),
                     dbc.Alert(f"Last error: {error}", color="warning", className="py-1 mt-2 small")
                     if error else None])


def prediction_history(history: Sequence[Mapping], limit: int = 12) -> html.Div:
    """Recent predictions (HybridEnsemble.history rows) with their outcome: right, wrong or pending."""
    def outcome(p: Mapping) -> Any:
        correct = (p.get("correct") or {}).get("ensemble")
        return badge("pending", "secondary") if correct is None else (
            badge("right", "success") if correct else badge("wrong", "danger"))

    def confidence(p: Mapping) -> str:
        prob = (p.get("probabilities") or {}).get("ensemble")
        return percent(None if prob is None else max(prob, 1 - prob))
    rows = [(utc_time(p.get("open_time")), p.get("symbol", DASH), direction_badge(p.get("ensemble_prediction")),
             confidence(p), direction(p.get("outcome")), outcome(p)) for p in list(history)[:limit]]
    return table(("bar (UTC)", "symbol", "predicted", "confidence", "actual", "outcome"), rows,
                 empty="No predictions yet.", id="prediction-history-table")


def run_summary(run: Mapping) -> str:
    """A job run's error, or the scalar fields of its result: "status=updated, samples=50".

    >>> run_summary({"result": {"samples": 50, "update_results": {"sgd": 0.5}}, "error": None})
    'samples=50'
    """
    if run.get("error"):
        return str(run["error"])
    result = run.get("result") or {}
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
                     if isinstance(v, (str, int, float, bool)) and v is not None)[:160]


def job_log(runs: Sequence[Mapping], limit: int = 15) -> html.Div:
    """Recent job runs (engine.jobs records): job, trigger, start, duration, outcome and detail."""
    rows = [(r.get("job", DASH), r.get("trigger", DASH), utc_time(r.get("start"), seconds=True),
             duration(r["duration_ms"] / 1000 if r.get("duration_ms") is not None and r.get("outcome") not in
                      ("running", "interrupted") else None),
             outcome_badge(r.get("outcome")), html.Span(run_summary(r), className="small text-muted"))
            for r in list(runs)[:limit]]
    return table(("job", "trigger", "started", "duration", "outcome", "detail"), rows,
                 empty="No job has run yet.", id="job-log-table")


def prediction_result(pred: Mapping) -> html.Div:
    """Ensemble prediction and confidence, the batch prediction and every online model's vote."""
    if pred.get("status") == "not_ready":
        return dbc.Alert(["Not ready yet: ", "; ".join(pred.get("notes") or []) or "models still warming up"],
                         color="secondary", className="py-2")
    probs = pred.get("probabilities") or {}
    votes = pred.get("individual_predictions") or {}
    versions = pred.get("model_versions") or {}
    rows = [("batch", direction_badge(pred.get("batch_prediction")), percent(probs.get("batch")),
             versions.get("batch", DASH))]
    rows += [(name, direction_badge(vote), percent(probs.get(name)), versions.get(name, DASH))
             for name, vote in votes.items() if name != "batch"]
    head = html.Div([
        html.Div([html.Div("Ensemble", className="hls-stat-label"),
                  html.Div(direction_badge(pred.get("ensemble_prediction")), className="hls-big", id="predict-ensemble")]),
        html.Div([html.Div("Confidence", className="hls-stat-label"),
                  html.Div(percent(pred.get("ensemble_confidence")), className="hls-big")]),
        html.Div([html.Div("Bar (UTC)", className="hls-stat-label"), html.Div(utc_time(pred.get("open_time")))]),
        html.Div([html.Div("Status", className="hls-stat-label"),
                  badge(pred.get("status", DASH), "success" if pred.get("status") == "ok" else "warning")]),
    ], className="d-flex justify-content-between align-items-center mb-3")
    notes = pred.get("notes") or []
    return html.Div([head, table(("model", "vote", "P(up)", "version"), rows, id="predict-votes"),
                     html.Div("; ".join(notes), className="small text-muted mt-2") if notes else None])


def job_result(record: Mapping | None, error: str | None = None) -> Any:
    """One line after a job finished from the page."""
    if error:
        return html.Span(error, className="text-danger")
    if not record:
        return ""
    return html.Span([outcome_badge(record.get("outcome")), " ", duration(record.get("duration_ms", 0) / 1000), " ",
                      html.Span(run_summary(record), className="text-muted")])

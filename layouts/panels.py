"""Render engine data (status, stats, histories, predictions, job runs) into components; pure functions."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import html

from layouts.format import DASH, age, number, percent, utc_time
from engine.batch.track import describe
from layouts.health import verdict, with_se
from layouts.joblog import is_network_error, outcome_badge, with_detail
from layouts.widgets import badge, stat, table

REPLAY_TEXT = "Replaying bundled candles (offline)"
UNREACHABLE_TEXT = "Binance unreachable — replaying bundled candles"


def direction(pred: Any) -> str:
    """1 -> "UP", 0 -> "DOWN", anything else -> a dash."""
    return {1: "UP", 0: "DOWN"}.get(pred if isinstance(pred, int) else None, DASH) if pred is not None else DASH


def direction_badge(pred: Any) -> Any:
    text = direction(pred)
    return badge(f"▲ {text}" if text == "UP" else f"▼ {text}" if text == "DOWN" else text,
                 "success" if text == "UP" else "danger" if text == "DOWN" else "secondary")


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


def batch_summary(bm: Mapping) -> html.Div:
    """The active batch version's serving window and evidence (its live record, or the hold-out of a first
    version) beside the majority-class baseline, and whether it serves (``serving``/``note``, when reported)."""
    metrics = bm.get("metrics") or {}
    base = metrics.get("baseline") or {}
    serving = bm.get("serving")
    evidence = bm.get("evidence") or "hold-out"
    window = f"{describe(bm['choice'])} · " if bm.get("choice") else ""
    return html.Div([
        f"trained {age(bm.get('age_s'))} ago",
        html.Div(f"{window}{evidence} log loss {with_se(metrics.get('log_loss'), metrics.get('log_loss_se'), pct=False)} "
                 f"vs baseline {with_se(base.get('log_loss'), None, pct=False)}"
                 + (f" over {number(metrics.get('n'))} rows" if metrics.get("n") else "")),
        html.Div(f"accuracy {with_se(metrics.get('accuracy'), metrics.get('accuracy_se'))} "
                 f"vs baseline {percent(base.get('accuracy'))}") if metrics.get("accuracy") is not None else None,
        badge("below baseline", "danger") if metrics.get("beats_baseline") is False else None,
        " " if serving is not None else None,
        badge("serving" if serving else "not serving", "success" if serving else "warning")
        if serving is not None else None,
        html.Div(bm["note"], className="text-muted") if bm.get("note") else None,
    ])


def source_line(dc: Mapping, id: str | None = None) -> Any:
    """Where candles come from, in words: a network failure reads "Binance unreachable — replaying bundled
    candles" with the raw reason behind a toggle."""
    reason = dc.get("reason")
    if dc.get("source") == "replay":
        if reason and "data_source is replay" in reason:
            return with_detail("Replay chosen in settings (data_source: replay)", None, id)
        return with_detail(UNREACHABLE_TEXT, reason, id)
    return with_detail(reason or "", None, id) if reason else None


def last_error(error: Any) -> Any:
    """The collector's last error ({"text", "time"} or text): a headline in words, the raw text behind a toggle."""
    if not error:
        return None
    text = error.get("text") if isinstance(error, Mapping) else str(error)
    when = f" ({utc_time(error.get('time'))})" if isinstance(error, Mapping) and error.get("time") else ""
    headline = ("Last error: Binance unreachable" if is_network_error(text) else "Last error: collection failed") + when
    return dbc.Alert(with_detail(headline, text), color="warning", className="py-1 mt-2 small mb-0",
                     id="collection-last-error")


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
    batch = stat("Batch model",
                 badge(f"Loaded · v{bm.get('version')}" if bm.get("loaded") else "Not trained yet",
                       "success" if bm.get("loaded") else "warning", id="status-batch"),
                 batch_summary(bm) if bm.get("loaded") else "first retrain pending")
    dc_badge = (_source_badge(dc, "status-collection") if dc.get("enabled", True)
                else badge("Disabled", "secondary", id="status-collection"))
    collection = stat("Data collection", dc_badge,
                      html.Div([html.Div(f"last candle {utc_time(last_candle)} · lag {age(lag_s)}"),
                                source_line(dc, "status-source-line")]))
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


def _accuracy_se(m: Mapping) -> str:
    acc, n = m.get("accuracy"), m.get("scored")
    return with_se(acc, (acc * (1 - acc) / n) ** 0.5 if acc is not None and n else None)


def _recent(m: Mapping) -> Any:
    """The recent window of training samples (accuracy vs the majority-class baseline) and its verdict."""
    r = m.get("recent")
    if not r or r.get("accuracy") is None:
        return DASH
    return html.Span([with_se(r["accuracy"], r.get("accuracy_se")),
                      html.Span(f" vs {percent(r.get('baseline_accuracy'))} ", className="text-muted"),
                      verdict(r.get("verdict"))])


def online_stats(stats: Mapping) -> html.Div:
    """Per online model: samples seen, version, accuracy ± SE since its last reset, the recent window against
    the baseline with its verdict, drift; and the training buffer."""
    models = stats.get("models") or {}
    recent = any("recent" in m for m in models.values())  # the learning side's window, once it reports one
    rows = [(name, number(m.get("samples_seen")), m.get("version", DASH), _accuracy_se(m),
             *([_recent(m)] if recent else []),
             badge("drift", "danger") if m.get("drift") else badge("stable", "success"))
            for name, m in models.items()]
    buffer = html.Div([stat("Buffer", number(stats.get("buffer_size")), f"of {number(stats.get('buffer_max'))}"),
                       stat("Pending", number(stats.get("pending")), "new samples"),
                       stat("Drift events", number(len(stats.get("drift_events") or [])))],
                      className="d-flex justify-content-between mb-3", id="buffer-stats")
    updated = max((m.get("last_update") or 0 for m in models.values()), default=0)
    columns = ("model", "samples", "ver", "accuracy", *(["recent vs base"] if recent else []), "")
    return html.Div([buffer, table(columns, rows,
                                   empty="No online models yet.", id="online-models-table"),
                     html.Div(f"accuracy: test-then-train since the model's last reset, ± one standard error; "
                              f"last update {utc_time(updated or None, seconds=True)}", className="small text-muted")])


def collection_stats(status: Mapping) -> html.Div:
    """Per symbol: stored rows, last candle and lag; plus the collector's request/error counters."""
    dc = status.get("data_collection") or {}
    rows = [(sym, number(s.get("rows")), utc_time(s.get("last_open_time")),
             age(s.get("lag_ms") / 1000 if s.get("lag_ms") is not None else None))
            for sym, s in (dc.get("symbols") or {}).items()]
    counters = html.Div([stat("Requests", number(dc.get("requests"))),
                         stat("Weight used", number(dc.get("weight_used"))),
                         stat("Errors", number(dc.get("errors")))],
                        className="d-flex justify-content-between mb-3")
    return html.Div([html.Div(source_line(dc, "collection-source"), className="small mb-2"), counters,
                     table(("symbol", "rows", "last candle", "lag"), rows, empty="No candles yet."),
                     last_error(dc.get("last_error"))])


def prediction_history(history: Sequence[Mapping], total: int, symbol: str | None) -> html.Div:
    """One page of predictions (HybridEnsemble.history rows, newest first) with their outcome."""
    def outcome(p: Mapping) -> Any:
        correct = (p.get("correct") or {}).get("ensemble")
        return badge("pending", "secondary") if correct is None else (
            badge("right", "success") if correct else badge("wrong", "danger"))

    def confidence(p: Mapping) -> str:
        prob = (p.get("probabilities") or {}).get("ensemble")
        return percent(None if prob is None else max(prob, 1 - prob))
    rows = [(utc_time(p.get("open_time")), p.get("symbol", DASH), direction_badge(p.get("ensemble_prediction")),
             confidence(p), direction(p.get("outcome")), outcome(p)) for p in history]
    order = "newest bar first" if symbol else "every symbol, most recently predicted first"
    return html.Div([table(("bar (UTC)", "symbol", "predicted", "confidence", "actual", "outcome"), rows,
                           empty="No predictions yet.", id="prediction-history-table"),
                     html.Div(f"{number(total)} predictions{' for ' + symbol if symbol else ''} · {order}",
                              className="small text-muted mt-1", id="prediction-history-note")])


def waiting_note(buffer: Mapping, min_samples: int | None) -> str:
    """What "Manual online update" will learn, said before the press.

    >>> waiting_note({"pending": 41}, 50)
    '41 new samples waiting: a manual update learns them now (scheduled updates wait for 50)'
    >>> waiting_note({"pending": 0}, 50)
    'no new samples waiting: nothing to learn yet'
    """
    pending = buffer.get("pending") or 0
    if not pending:
        return "no new samples waiting: nothing to learn yet"
    plural = "s" if pending != 1 else ""
    return (f"{number(pending)} new sample{plural} waiting: a manual update learns them now"
            + (f" (scheduled updates wait for {number(min_samples)})" if min_samples else ""))


def prediction_result(pred: Mapping) -> html.Div:
    """Ensemble prediction and confidence, the batch prediction and every online model's vote."""
    if pred.get("status") == "not_ready":
        return dbc.Alert(["Not ready yet: ", "; ".join(pred.get("notes") or []) or "models still warming up"],
                         color="secondary", className="py-2")
    probs = pred.get("probabilities") or {}
    votes = pred.get("individual_predictions") or {}
    versions = pred.get("model_versions") or {}
    weights = pred.get("weights") or {}
    excluded = pred.get("excluded") or {}  # the learning side's exclusions, when reported

    def share(name: str) -> Any:
        if name in excluded:
            return html.Span([badge("excluded", "warning"), html.Div(excluded[name], className="small text-muted")])
        return percent(weights.get(name)) if name in weights else DASH
    rows = [("batch", direction_badge(pred.get("batch_prediction")), percent(probs.get("batch")), share("batch"),
             versions.get("batch", DASH))]
    rows += [(name, direction_badge(vote), percent(probs.get(name)), share(name), versions.get(name, DASH))
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
    return html.Div([head, table(("model", "vote", "P(up)", "weight", "version"), rows, id="predict-votes"),
                     html.Div("; ".join(notes), className="small text-muted mt-2") if notes else None])

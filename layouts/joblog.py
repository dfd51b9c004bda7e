"""Job runs for people (pure renderers): one readable line per run, the job log table with its filters and
pager, the line a job button shows when it finishes, and the retrain result as a card."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import html

from engine.jobs import OUTCOMES
from layouts.format import DASH, duration, number, percent, utc_time
from layouts.health import with_se
from layouts.widgets import badge, table

OUTCOME_COLORS = {"ok": "success", "skipped": "secondary", "busy": "warning", "error": "danger",
                  "running": "info", "interrupted": "warning"}
PAGE_SIZE = 15
ANY = "any"  # the filters' "no filter" choice
NETWORK_HINTS = ("ConnectionError", "Name or service not known", "BinanceUnavailable", "timed out", "Timeout",
                 "Connection refused", "Max retries")


def outcome_badge(outcome: str | None) -> Any:
    return badge(outcome or "never", OUTCOME_COLORS.get(outcome or "", "secondary"))


def is_network_error(text: str | None) -> bool:
    """True for the errors that mean Binance could not be reached (DNS, refused, timeouts).

    >>> is_network_error("ConnectionError ([Errno -2] Name or service not known)"), is_network_error("bad symbol")
    (True, False)
    """
    return bool(text) and any(hint in text for hint in NETWORK_HINTS)


def with_detail(headline: str, detail: str | None, id: str | None = None) -> Any:
    """A plain headline with the raw text behind a "details" toggle (closed by default)."""
    kwargs = {"id": id} if id else {}
    if not detail:
        return html.Span(headline, **kwargs)
    return html.Details([html.Summary(headline), html.Div(detail, className="small text-muted hls-detail")],
                        className="hls-details", **kwargs)


def _candles(result: Mapping) -> str:
    new = {s: n for s, n in (result.get("new_candles") or {}).items() if n}
    source = f" ({result['source']})" if result.get("source") else ""
    line = (", ".join(f"{s} +{number(n)}" for s, n in new.items()) + f" candles{source}") if new else \
        f"no new candles{source}"
    failed = result.get("failed") or {}
    for symbol, error in failed.items():  # retried by the next collection
        line += f" · {symbol} failed: " + ("Binance unreachable" if is_network_error(error) else error)
    return line


def _online(result: Mapping) -> str:
    if result.get("status") == "skipped":
        return f"skipped: {result.get('reason') or 'nothing to learn'}"
    scores = ", ".join(f"{name} {percent(acc)}" for name, acc in (result.get("update_results") or {}).items()
                       if acc is not None)
    drift = f" · drift: {', '.join(result['drift'])} re-warmed" if result.get("drift") else ""
    return (f"learned {number(result.get('samples'))} samples" + (f" · scored before learning: {scores}" if scores
                                                                  else "") + drift)


def retrain_line(result: Mapping) -> str:
    """ "v2 promoted — hold-out log loss 0.6921 vs v1 0.6930 · baseline 0.6931" (or kept / skipped)."""
    if result.get("status") == "skipped":
        return f"skipped: {result.get('reason')}"
    metrics = result.get("metrics") or {}
    champion = result.get("champion_metrics") or {}
    base = (metrics.get("baseline") or {}).get("log_loss")
    parts = [f"hold-out log loss {metrics['log_loss']:.4f}" if metrics.get("log_loss") is not None else None,
             f"vs v{result['champion_version']} {champion['log_loss']:.4f}"
             if result.get("champion_version") is not None and champion.get("log_loss") is not None else None,
             f"· baseline {base:.4f}" if base is not None else None]
    verdict = "promoted" if result.get("promoted") else "not promoted"
    return f"v{result.get('version')} {verdict} — " + " ".join(p for p in parts if p)


def _cleanup(result: Mapping) -> str:
    done = [f"{number(n)} {what.replace('_', ' ')}" for what, n in result.items() if isinstance(n, int) and n]
    return "deleted " + ", ".join(done) if done else "nothing to delete"


DETAILS = {"collect": _candles, "backfill": _candles, "online_update": _online, "batch_retrain": retrain_line,
           "evaluate": lambda r: f"scored {number(r.get('scored'))} predictions", "cleanup": _cleanup}


def run_detail(run: Mapping) -> str:
    """One readable line for a job run: what it did, or why it did not.

    >>> run_detail({"job": "collect", "result": {"source": "replay", "new_candles": {"BTCUSDT": 1}}})
    'BTCUSDT +1 candles (replay)'
    >>> run_detail({"job": "online_update", "outcome": "error", "error": "ConnectionError (x)"})
    'failed: Binance unreachable'
    """
    if run.get("error"):
        if run.get("outcome") == "interrupted":
            return "stopped before finishing (cancelled or its process ended)"
        return "failed: Binance unreachable" if is_network_error(run["error"]) else f"failed: {run['error']}"
    result = run.get("result") or {}
    describe = DETAILS.get(run.get("job") or "")
    if result.get("status") == "skipped":
        return f"skipped: {result.get('reason') or 'nothing to do'}"
    return describe(result) if describe else ", ".join(f"{k}: {v}" for k, v in result.items()
                                                        if isinstance(v, (str, int, float)))


def job_filters(jobs: Sequence[str]) -> html.Div:
    """The job log's filters: a job, an outcome, and whether to show routine scheduled collects."""
    return html.Div([
        dbc.Select(id="joblog-job", size="sm", value=ANY, options=[{"label": "every job", "value": ANY}] +
                   [{"label": j.replace("_", " "), "value": j} for j in jobs], className="w-auto"),
        dbc.Select(id="joblog-outcome", size="sm", value=ANY, options=[{"label": "any outcome", "value": ANY}] +
                   [{"label": o, "value": o} for o in OUTCOMES], className="w-auto"),
        dbc.Switch(id="joblog-routine", label="show routine collects", value=False, className="mb-0 small"),
    ], className="d-flex gap-2 align-items-center")


def pages(total: int, size: int = PAGE_SIZE) -> int:
    """Pages needed for ``total`` rows (at least one).

    >>> pages(0), pages(15), pages(16)
    (1, 1, 2)
    """
    return max(1, -(-int(total) // size))


def job_log(runs: Sequence[Mapping], total: int, hidden: int = 0) -> html.Div:
    """One page of job runs: job, trigger, start, duration, outcome and a readable detail line."""
    rows = [(r.get("job", DASH).replace("_", " "), r.get("trigger", DASH), utc_time(r.get("start"), seconds=True),
             duration(r["duration_ms"] / 1000 if r.get("duration_ms") is not None and r.get("outcome") not in
                      ("running", "interrupted") else None),
             outcome_badge(r.get("outcome")), html.Span(run_detail(r), className="small"))
            for r in runs]
    note = (f"{number(total)} runs" + (f" · {number(hidden)} routine scheduled collects hidden" if hidden else ""))
    return html.Div([table(("job", "trigger", "started", "duration", "outcome", "detail"), rows,
                           empty="No job run matches these filters.", id="job-log-table"),
                     html.Div(note, className="small text-muted mt-1", id="job-log-note")])


def retrain_card(result: Mapping) -> html.Div:
    """A batch retrain's result: promoted or not and why, hold-out scores against the champion and the
    majority-class baseline, and what it was trained and judged on."""
    if result.get("status") == "skipped":
        return html.Div(f"Not retrained: {result.get('reason')}", className="text-muted")
    metrics = result.get("metrics") or {}
    base = metrics.get("baseline") or {}
    champion = result.get("champion_metrics") or {}
    promoted = result.get("promoted")
    champion_version = result.get("champion_version")
    head = (f"Version {result.get('version')} promoted — now serving" if promoted else
            f"Version {result.get('version')} not promoted — " + (f"v{champion_version} keeps serving"
                                                                    if champion_version is not None else
                                                                    "no batch model serves yet"))
    beats = metrics.get("beats_baseline")
    rows = [("hold-out log loss", with_se(metrics.get("log_loss"), metrics.get("log_loss_se"), pct=False),
             with_se(champion.get("log_loss"), champion.get("log_loss_se"), pct=False) if champion else DASH,
             with_se(base.get("log_loss"), base.get("log_loss_se"), pct=False)),
            ("hold-out accuracy", with_se(metrics.get("accuracy"), metrics.get("accuracy_se")),
             with_se(champion.get("accuracy"), champion.get("accuracy_se")) if champion else DASH,
             with_se(base.get("accuracy"), base.get("accuracy_se")))]
    window = result.get("holdout_window") or [None, None]
    return html.Div([
        html.Div([badge("promoted" if promoted else "kept aside", "success" if promoted else "warning"), " ",
                  html.Strong(head)]),
        html.Div(result.get("decision") or "", className="small text-muted"),
        table(("", "new version", f"v{result['champion_version']}" if result.get("champion_version") else "champion",
               "majority baseline"), rows, id="retrain-scores"),
        html.Div([badge("beats the baseline", "success") if beats else badge("does not beat the baseline", "danger")
                  if beats is False else None,
                  f" trained on {number(result.get('rows_train'))} bars, judged on the "
                  f"{number(result.get('rows_holdout'))}"
                  f" newest ({utc_time(window[0])} – {utc_time(window[1])})"], className="small mt-1"),
    ], className="hls-result-card", id="retrain-card")


def job_result(record: Mapping | None, error: str | None = None) -> Any:
    """What a job button shows when its run finished: outcome, duration and a readable line (a card for a
    retrain)."""
    if error:
        return html.Span(error, className="text-danger")
    if not record:
        return ""
    line = html.Span([outcome_badge(record.get("outcome")), " ", duration(record.get("duration_ms", 0) / 1000)])
    if record.get("job") == "batch_retrain" and record.get("outcome") == "ok":
        return html.Div([line, retrain_card(record.get("result") or {})])
    return html.Span([line, " ", html.Span(run_detail(record), className="text-muted")])

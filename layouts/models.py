"""The "Models" tab: batch versions side by side with rollback, the hybrid's calibration per symbol and the
batch model's feature importance. The layout is a static skeleton; :func:`versions_table` renders the
versions (engine.batch.BatchTrainer.versions records) for the callbacks in callbacks/models.py."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.format import DASH, number, utc_time
from layouts.health import with_se
from layouts.widgets import badge, card, table

VERSIONS_SHOWN = 10


def _span(window: Sequence[int] | None) -> str:
    """Open times [first, last] as days: "2017-08-19 – 2017-09-06"."""
    if not window:
        return DASH
    return f"{utc_time(window[0])[:10]} – {utc_time(window[1])[:10]}"


def _windows(v: Mapping) -> html.Div:
    """Training and hold-out spans per symbol (symbols may come from different eras), else pooled."""
    spans = v.get("by_symbol") or {"": v}
    return html.Div([html.Div([html.Strong(f"{symbol} ") if symbol else None,
                               f"train {_span(w.get('train_window'))} · hold-out {_span(w.get('holdout_window'))}"])
                     for symbol, w in spans.items()], className="small")


def _state(v: Mapping) -> Any:
    if v.get("active"):
        return badge("active", "success")
    promoted = v.get("promoted")
    return badge("promoted earlier" if promoted else "not promoted", "info" if promoted else "secondary")


def _rollback(v: Mapping) -> Any:
    if v.get("active"):
        return html.Span("serving", className="small text-muted")
    if not v.get("available"):
        return html.Span("file removed", className="small text-muted")
    return dbc.Button(f"Make v{v['version']} active", id={"type": "rollback", "version": v["version"]},
                      color="outline-warning", size="sm", className="text-nowrap")


def versions_table(versions: Sequence[Mapping], limit: int = VERSIONS_SHOWN) -> html.Div:
    """The newest versions, one row each: when and on what it was trained, hold-out scores ± SE beside the
    majority-class baseline and the champion it was judged against, the decision, and a rollback button."""
    rows = []
    for v in list(versions)[:limit]:
        m = v.get("metrics") or {}
        base = m.get("baseline") or {}
        champion = v.get("champion_metrics") or {}
        beats = m.get("beats_baseline")
        rows.append((
            html.Strong(f"v{v['version']}"), _state(v), utc_time(v.get("trained_at")), v.get("trigger", DASH),
            _windows(v),
            f"{number(v.get('rows_train'))} / {number(v.get('rows_holdout'))}",
            with_se(m.get("accuracy"), m.get("accuracy_se")),
            with_se(m.get("log_loss"), m.get("log_loss_se"), pct=False),
            with_se(base.get("log_loss"), None, pct=False),
            (f"v{v['champion_version']} {champion['log_loss']:.4f}" if v.get("champion_version") is not None
             and champion.get("log_loss") is not None else DASH),
            html.Div([badge("beats baseline", "success") if beats else badge("below baseline", "danger")
                      if beats is False else None,
                      html.Div(v.get("decision") or "", className="small text-muted")]),
            _rollback(v)))
    return table(("ver", "state", "trained", "by", "windows (UTC days)", "rows train / hold-out", "accuracy",
                  "log loss", "baseline log loss", "champion then", "decision", ""), rows,
                 empty="No batch model trained yet: retrain from the Hybrid Learning tab or wait for the schedule.",
                 id="versions-table")


def importance_options(versions: Sequence[Mapping]) -> list[dict]:
    """Versions with a recorded feature importance, for the picker (newest first)."""
    return [{"label": f"v{v['version']}" + (" (active)" if v.get("active") else ""), "value": v["version"]}
            for v in versions if v.get("feature_importance")]


def layout(config: dict) -> html.Div:
    graph = {"config": {"displaylogo": False}}
    return html.Div([
        card("Batch model versions (newest first): scores on each version's own hold-out", [
            html.Div(id="versions-content"), dcc.Store(id="versions-digest"),
            dcc.ConfirmDialog(id="rollback-confirm"), dcc.Store(id="rollback-pending"),
            html.Div(id="rollback-message", className="mt-2")]),
        dbc.Row([
            dbc.Col(card("Calibration: the hybrid's P(up) against what happened",
                         dcc.Graph(id="calibration-graph", **graph)), lg=6),
            dbc.Col(card("Feature importance: batch model (permutation, hold-out)",
                         dcc.Graph(id="importance-graph", **graph),
                         header_extra=dbc.Select(id="importance-version", options=[], size="sm",
                                                 className="w-auto")), lg=6),
        ], className="g-3 mt-1"),
    ])

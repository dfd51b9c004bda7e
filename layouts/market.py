"""The "Market" tab: candles with indicator overlays, the system's past predictions and its paper trades, and
the symbol's PnL and drawdown on the same (synchronised) time axis; pure render helpers for its summary."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from layouts.format import DASH, number, percent, utc_time
from layouts.widgets import badge, card, stat

REFRESH_MS = 15_000  # the chart redraws at this pace (not on every status change): zoom and CPU stay calm
RANGES = (("7 days", 7 * 24), ("30 days", 30 * 24), ("90 days", 90 * 24))  # label, hours of bars
GRAPH_CONFIG = {"displaylogo": False}


def range_control(id: str, options: Sequence[tuple[str, Any]], value: Any) -> html.Div:
    """A compact button group of exclusive choices (a radio in Bootstrap's clothes)."""
    return html.Div(dbc.RadioItems(id=id, options=[{"label": label, "value": v} for label, v in options],
                                   value=value, className="btn-group btn-group-sm", inputClassName="btn-check",
                                   labelClassName="btn btn-sm btn-outline-secondary",
                                   labelCheckedClassName="active"), className="hls-radio-group")


def layout(config: dict) -> html.Div:
    return html.Div([
        card("Market", [html.Div(id="market-summary", className="mb-2"),
                        dcc.Graph(id="market-graph", config=GRAPH_CONFIG, className="hls-graph"),
                        dcc.Interval(id="market-refresh", interval=REFRESH_MS)],
             header_extra=range_control("market-range", RANGES, RANGES[1][1])),
        card("Paper trading on the same time axis: PnL after fees, drawdown, buy & hold",
             dcc.Graph(id="market-equity-graph", config=GRAPH_CONFIG, className="hls-graph"), className="mt-3"),
        dcc.Store(id="market-zoom"),  # the zoom sync's output (nothing to keep)
    ])


def replay_note(collection: Mapping, symbol: str | None = None) -> str | None:
    """While replaying, which period each symbol plays (they differ: charts and stats are per symbol); for one
    symbol, its period and where its market clock stands. None when live."""
    replay = collection.get("replay") or {}
    if not collection.get("replaying"):
        return None
    if symbol is None:
        return replay.get("periods")
    info = (replay.get("symbols") or {}).get(symbol)
    return info and (f"Replay: {symbol} plays its own period, {utc_time(info['sample_start_ms'], suffix=False)} → "
                     f"{utc_time(info['sample_end_ms'])}; market time now {utc_time(info['position_ms'])}.")


def market_summary(candles: pd.DataFrame, marks: Sequence[Mapping], trades: Sequence[Mapping],
                   note: str | None = None) -> html.Div:
    """Last close, change over the range, predictions shown (right / wrong), the paper trades in view, and the
    replay ``note``."""
    note = html.Div(note, className="small text-muted hls-replay-note") if note else None
    if candles.empty:
        return html.Div(note)
    first, last = candles.iloc[0], candles.iloc[-1]
    right = sum(1 for m in marks if m["correct"] is True)
    wrong = sum(1 for m in marks if m["correct"] is False)
    closed = [t for t in trades if t["status"] == "closed"]
    return html.Div([html.Div([
        stat("Last close", f"{last['close']:,.2f}", utc_time(int(last["open_time"]))),
        stat("Change over range", percent(last["close"] / first["open"] - 1, 2)),
        stat("Predictions shown",
             html.Span([badge(f"{right} right", "success"), " ", badge(f"{wrong} wrong", "danger")]),
             f"hit rate {percent(right / (right + wrong)) if right + wrong else DASH}"),
        stat("Paper trades shown", f"{len(trades)}",
             f"{len(closed)} closed · PnL {number(sum(t['pnl'] for t in closed), 2)} USDT after fees"),
    ], className="d-flex flex-wrap gap-5"), note], id="market-stats")

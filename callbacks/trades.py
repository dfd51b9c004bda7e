"""The Trades tab: paper-trading statistics, equity against buy-and-hold, win rate over time, open
and closed trades with the learning event each close produced."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, html, no_update
from plotly.subplots import make_subplots

from callbacks.figures import _layout, empty_figure
from layouts.format import DASH, number, percent, utc_time
from layouts.shell import ALL_SYMBOLS
from layouts.widgets import badge, card, stat, table

EQUITY, BUY_AND_HOLD, WIN_RATE = "#6f42c1", "#6c757d", "#198754"
TARGETS = {1: "up", 0: "down"}


def _times(ms: Any) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True)


def _pnl_badge(pnl: float | None) -> Any:
    return DASH if pnl is None else badge(f"{pnl:+,.2f}", "success" if pnl > 0 else "danger")


def _side(side: str | None) -> Any:
    return badge(f"▲ {side}" if side == "LONG" else f"▼ {side}", "success" if side == "LONG" else "danger")


def trades_figure(equity: pd.DataFrame, buy_and_hold: pd.DataFrame, height: int = 460) -> go.Figure:
    """Realised PnL after each closed trade against buy-and-hold PnL (top), cumulative win rate (bottom).

    ``equity``/``buy_and_hold``: PaperTrader.curves() frames (time, pnl, equity, win_rate / open_time, pnl).
    """
    if equity.empty and buy_and_hold.empty:
        return empty_figure("No paper trades yet — they open when a prediction is confident enough.", height)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    if not buy_and_hold.empty:
        fig.add_trace(go.Scatter(x=_times(buy_and_hold["open_time"]), y=buy_and_hold["pnl"], name="buy & hold",
                                 line=dict(color=BUY_AND_HOLD, width=1.5, dash="dash")), row=1, col=1)
    if not equity.empty:
        realised = equity["pnl"].cumsum()
        fig.add_trace(go.Scatter(x=_times(equity["time"]), y=realised, name="paper trades (after fees)",
                                 mode="lines+markers" if len(equity) < 60 else "lines", line_shape="hv",
                                 line=dict(color=EQUITY, width=2.5)), row=1, col=1)
        fig.add_trace(go.Scatter(x=_times(equity["time"]), y=equity["win_rate"], name="win rate",
                                 line=dict(color=WIN_RATE, width=1.8)), row=2, col=1)
    fig.add_hline(y=0, line=dict(color="#adb5bd", width=1, dash="dot"), row=1, col=1)
    fig.add_hline(y=0.5, line=dict(color="#adb5bd", width=1, dash="dot"), row=2, col=1)
    fig.update_yaxes(title_text="PnL (USDT)", row=1, col=1)
    fig.update_yaxes(title_text="win rate", tickformat=".0%", range=[0, 1], row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    return _layout(fig, height)


def summary_view(stats: Mapping) -> html.Div:
    """Headline numbers: trades, win rate, PnL after fees against buy-and-hold, drawdown, exposure, learning."""
    bh = stats.get("buy_and_hold") or {}
    learning = stats.get("learning_events") or {}
    return html.Div([
        stat("Closed trades", number(stats.get("trades")), f"{number(stats.get('open_trades'))} open"),
        stat("Win rate", percent(stats.get("win_rate")),
             f"{number(stats.get('wins'))} won · {number(stats.get('losses'))} lost"),
        stat("PnL after fees (USDT)", number(stats.get("pnl_usdt"), 2),
             f"{number(stats.get('return_pct'), 2)}% · fees {number(stats.get('fees_usdt'), 2)}"),
        stat("Buy & hold (USDT)", number(bh.get("pnl_usdt"), 2), f"{number(bh.get('return_pct'), 2)}% same span"),
        stat("Max drawdown", f"{number(stats.get('max_drawdown_pct'), 2)}%",
             f"{number(stats.get('max_drawdown_usdt'), 2)} USDT"),
        stat("Exposure", percent(stats.get("exposure")), "of bars in a position"),
        stat("Learning events", number(learning.get("delivered")),
             f"{number(learning.get('pending'))} pending · {number(learning.get('failed'))} failed"),
    ], className="d-flex flex-wrap gap-5", id="trades-stats")


def _learned(event: Mapping | None) -> Any:
    if not event:
        return DASH
    color = {"delivered": "success", "pending": "warning", "failed": "danger"}[event["status"]]
    return badge(f"target {event['target']} ({TARGETS[event['target']]}) · {event['status']}", color)


def trades_view(stats: Mapping, trades: Sequence[Mapping], events: Sequence[Mapping] = ()) -> html.Div:
    """Statistics, then open trades, closed trades (with what each taught) and the latest learning events."""
    open_rows = [(t["symbol"], _side(t["side"]), utc_time(t["signal_time"]),
                  utc_time(t.get("entry_time")) if t.get("entry_time") else badge("awaiting next bar", "info"),
                  number(t.get("entry_price"), 2), number(t.get("take_profit_price"), 2),
                  number(t.get("stop_loss_price"), 2)) for t in trades if t["status"] == "open"]
    closed_rows = [(t["symbol"], _side(t["side"]), utc_time(t["entry_time"]), utc_time(t["exit_time"]),
                    t["exit_reason"].replace("_", " "), number(t.get("bars_held")), number(t["entry_price"], 2),
                    number(t["exit_price"], 2), _pnl_badge(t["pnl"]), _learned(t.get("learning_event")))
                   for t in trades if t["status"] == "closed"]
    event_rows = [(utc_time(e["created_at"]), e["symbol"], f"#{e['trade_id']}", _side(e["side"]), _pnl_badge(e["pnl"]),
                   f"{e['target']} ({TARGETS[e['target']]})", _learned(e), e.get("error") or "") for e in events]
    return html.Div([
        summary_view(stats),
        dbc.Row([
            dbc.Col(card("Open trades", table(("symbol", "side", "signal bar", "entry bar", "entry", "take profit",
                                                "stop loss"), open_rows, empty="No open trades.",
                                               id="open-trades-table")), xl=5),
            dbc.Col(card("Learning events (closed trades → online samples)",
                         table(("time", "symbol", "trade", "side", "PnL", "target", "status", "error"), event_rows,
                               empty="No learning events yet: each closed trade adds one.",
                               id="learning-events-table")), xl=7),
        ], className="g-3 mt-1"),
        card("Closed trades", table(("symbol", "side", "entry bar", "exit bar", "exit", "bars", "entry", "exit price",
                                     "PnL", "learned"), closed_rows,
                                    empty="No closed trades yet: they close on take-profit, stop-loss or max holding.",
                                    id="closed-trades-table"), className="mt-3"),
    ])


def trades_page(system, symbol: str | None, limit: int = 50) -> tuple[go.Figure, html.Div]:
    """(figure, content) for one symbol, or all symbols when ``symbol`` is None."""
    trader = system.trader
    report = trader.report(symbol or trader.symbols()[0])
    fig = trades_figure(report["equity"], report["buy_and_hold"])
    fig.update_layout(uirevision=symbol or ALL_SYMBOLS)
    stats = report["stats"] if symbol else trader.stats()["totals"]
    return fig, trades_view(stats, trader.trades(symbol, limit=limit, with_learning=True),
                            trader.learning_events(symbol, limit=15))


def register(app, get_system: Callable) -> None:
    @app.callback(Output("trades-graph", "figure"), Output("trades-content", "children"),
                  Input("symbol-picker", "value"), Input("state-version", "data"), Input("tabs", "active_tab"),
                  prevent_initial_call=True)  # drawn when its tab is opened
    def render(symbol, _version, tab):
        if tab != "trades":
            return no_update, no_update
        return trades_page(get_system(), None if symbol in (None, ALL_SYMBOLS) else symbol)

"""The Trades tab (paper trading): headline statistics and recent trades; extended by the trading work."""
from __future__ import annotations

from typing import Callable

from dash import Input, Output, html, no_update

from layouts.format import number, percent, utc_time
from layouts.panels import direction_badge
from layouts.widgets import badge, stat, table


def trades_view(stats: dict, trades: list[dict]) -> html.Div:
    """Win rate, PnL against buy-and-hold, and the latest trades."""
    bh = (stats.get("buy_and_hold") or {}).get("pnl_usdt")
    head = html.Div([
        stat("Closed trades", number(stats.get("trades")), f"{number(stats.get('open_trades'))} open"),
        stat("Win rate", percent(stats.get("win_rate"))),
        stat("PnL (USDT)", number(stats.get("pnl_usdt"), 2), f"{number(stats.get('return_pct'), 2)}% of capital"),
        stat("Buy & hold (USDT)", number(bh, 2)),
        stat("Max drawdown", f"{number(stats.get('max_drawdown_pct'), 2)}%"),
    ], className="d-flex gap-5 mb-3")
    rows = [(t.get("symbol"), direction_badge(1 if t.get("side") == "LONG" else 0), utc_time(t.get("entry_time")),
             utc_time(t.get("exit_time")), t.get("exit_reason") or "—",
             badge(f"{t['pnl']:+,.2f}", "success" if t["pnl"] > 0 else "danger") if t.get("pnl") is not None
             else badge(t.get("status", "open"), "info")) for t in trades]
    return html.Div([head, table(("symbol", "side", "entry (UTC)", "exit (UTC)", "exit reason", "PnL"), rows,
                                 empty="No paper trades yet: they open when a prediction is confident enough.")])


def register(app, get_system: Callable) -> None:
    @app.callback(Output("trades-content", "children"), Input("state-version", "data"), Input("tabs", "active_tab"))
    def render(_version, tab):
        if tab != "trades":
            return no_update
        trader = get_system().trader
        return trades_view(trader.stats(), trader.trades(limit=20))

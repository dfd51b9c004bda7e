"""The "Trades" tab (paper trading): statistics, equity against buy-and-hold, win rate over time,
open and closed trades and the learning events closed trades produced."""
from __future__ import annotations

from dash import dcc, html

from layouts.widgets import card


def layout(config: dict) -> html.Div:
    return html.Div([
        card("Paper trading: PnL after fees against buy-and-hold, win rate over time",
             dcc.Graph(id="trades-graph", config={"displaylogo": False}, style={"height": "460px"})),
        html.Div(id="trades-content", className="mt-3"),
    ])

"""The "Trades" tab (paper trading): statistics, equity against buy-and-hold, win rate over time,
open and closed trades and the learning events closed trades produced."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.widgets import card

ALL_SYMBOLS = "ALL"


def layout(config: dict) -> html.Div:
    options = [{"label": "All symbols", "value": ALL_SYMBOLS}] + [{"label": s, "value": s} for s in config["symbols"]]
    symbol = dbc.Select(id="trades-symbol", options=options, value=ALL_SYMBOLS, size="sm", style={"width": "10rem"})
    return html.Div([
        card("Paper trading: PnL after fees against buy-and-hold, win rate over time",
             dcc.Graph(id="trades-graph", config={"displaylogo": False}, style={"height": "460px"}),
             header_extra=symbol),
        html.Div(id="trades-content", className="mt-3"),
    ])

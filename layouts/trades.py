"""The "Trades" tab (paper trading): its content belongs to the trading work (engine/trading)."""
from __future__ import annotations

from dash import html

from layouts.widgets import card


def layout(config: dict) -> html.Div:
    return html.Div([card("Paper trades", html.Div(id="trades-content"))])

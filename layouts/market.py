"""The "Market" tab: candlestick chart with indicator overlays and the system's past predictions."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.widgets import card

REFRESH_MS = 15_000  # the chart redraws at this pace (not on every status change): zoom and CPU stay calm
RANGES = (("7 days", 7 * 24), ("30 days", 30 * 24), ("90 days", 90 * 24))  # label, hours of bars


def layout(config: dict) -> html.Div:
    controls = html.Div([
        dbc.RadioItems(id="market-range", options=[{"label": label, "value": bars} for label, bars in RANGES],
                       value=RANGES[1][1], inline=True, className="btn-group btn-group-sm",
                       inputClassName="btn-check", labelClassName="btn btn-sm btn-outline-secondary",
                       labelCheckedClassName="active"),
    ], className="d-flex gap-3 align-items-center")
    return html.Div([
        card("Market", [html.Div(id="market-summary", className="mb-2"),
                        dcc.Graph(id="market-graph", config={"displaylogo": False}, style={"height": "640px"}),
                        dcc.Interval(id="market-refresh", interval=REFRESH_MS)],
             header_extra=controls),
    ])

"""The page frame: navbar (symbol picker, theme toggle, source), the tab list (one place: TABS), the refresh
timer and the state-version store."""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import hybrid_learning, market, models, trades

REFRESH_MS = 2000
ALL_SYMBOLS = "ALL"  # the symbol picker's "every symbol" choice: views aggregate per symbol, never across eras


def chosen_symbol(value: str | None, symbols: list[str]) -> str | None:
    """The picker's symbol, or None for "All symbols" (also for a remembered symbol no longer configured).

    >>> chosen_symbol("ETHUSDT", ["BTCUSDT", "ETHUSDT"]), chosen_symbol(ALL_SYMBOLS, ["BTCUSDT"])
    ('ETHUSDT', None)
    """
    return value if value in symbols else None


def symbol_picker(config: dict) -> dbc.Select:
    """The one symbol choice every tab follows (kept in the browser across reloads); the first
    configured symbol by default, or "All symbols"."""
    options = [{"label": s, "value": s} for s in config["symbols"]] + [{"label": "All symbols", "value": ALL_SYMBOLS}]
    return dbc.Select(id="symbol-picker", options=options, value=config["symbols"][0], size="sm",
                      persistence=True, persistence_type="local", className="hls-symbol-picker")


def theme_toggle() -> html.Button:
    """Light / dark page and charts (Bootstrap's data-bs-theme, remembered in the browser: assets/dashboard.js);
    the label names the theme a click switches to (CSS shows the one that fits)."""
    return html.Button([html.Span("☾ Dark", className="hls-to-dark"),
                        html.Span("☀ Light", className="hls-to-light")],
                       id="theme-toggle", className="btn btn-sm btn-outline-light hls-theme-toggle",
                       title="Switch between the light and the dark theme")


def logout_button(path: str) -> html.Form:
    """"Log out" (a POST to ``path``), shown when the server asks for a login (bound off loopback)."""
    return html.Form(html.Button("Log out", id="logout", type="submit", className="btn btn-sm btn-outline-light"),
                     method="post", action=path, className="mb-0")


class Tab(NamedTuple):
    id: str
    label: str
    layout: Callable[[dict], object]  # config -> component tree


TABS: tuple[Tab, ...] = (
    Tab("hybrid", "Hybrid Learning", hybrid_learning.layout),
    Tab("market", "Market", market.layout),
    Tab("trades", "Trades", trades.layout),
    Tab("models", "Models", models.layout),
)


def build_layout(config: dict, props: Mapping[tuple[str, str], Any] | None = None,
                 logout_path: str | None = None) -> html.Div:
    """The whole page for the current ``config``; every tab is rendered once (switching tabs is instant).

    ``props`` ({(component id, prop): value}) fills components in, e.g. the panels as they are now;
    ``logout_path``: a "Log out" button in the navbar posts there (servers that ask for a login).
    """
    navbar = dbc.Navbar(dbc.Container([
        html.Div([html.Span("◆", className="hls-logo"), html.Span("Hybrid Learning", className="hls-brand"),
                  html.Span("crypto signals", className="hls-brand-sub")], className="d-flex align-items-center"),
        html.Div([symbol_picker(config), theme_toggle(),
                  html.Div(id="source-badge", className="d-flex align-items-center gap-2"),
                  logout_button(logout_path) if logout_path else None],
                 className="d-flex align-items-center gap-3"),
    ], fluid=True, className="d-flex justify-content-between"), dark=True, className="hls-navbar mb-3")
    tabs = dbc.Tabs([dbc.Tab(tab.layout(config), label=tab.label, tab_id=tab.id, id=f"tab-{tab.id}",
                             className="pt-3") for tab in TABS], id="tabs", active_tab=TABS[0].id)
    page = html.Div([
        navbar,
        dbc.Container([tabs], fluid=True, className="pb-4"),
        dcc.Interval(id="refresh", interval=REFRESH_MS),
        dcc.Store(id="state-version"),
        dcc.Store(id="theme"),  # the theme toggle's output (the theme itself lives in the browser)
    ])
    by_id = {c.id: c for c in page._traverse_ids() if isinstance(c.id, str)} if props else {}
    for (cid, prop), value in (props or {}).items():
        setattr(by_id[cid], prop, value)
    return page

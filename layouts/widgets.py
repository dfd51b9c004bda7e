"""Small building blocks shared by the tabs: cards, labelled values, badges, tables (as components, or as
markup for big tables refreshed often)."""
from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence

import dash_bootstrap_components as dbc
from dash import html


def card(title: str, body: Any, id: str | None = None, header_extra: Any = None, className: str = "") -> dbc.Card:
    """A titled card; ``body`` is any component (or list of them)."""
    header = html.Div([html.Span(title, className="card-title-text"), header_extra],
                      className="d-flex justify-content-between align-items-center")
    kwargs = {"id": id} if id else {}
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className=f"hls-card {className}".strip(), **kwargs)


def badge(text: str, color: str, id: str | None = None) -> dbc.Badge:
    """A coloured state pill (color: success, warning, danger, secondary, info, primary)."""
    kwargs = {"id": id} if id else {}
    return dbc.Badge(text, color=color, pill=True, className="hls-badge", **kwargs)


def stat(label: str, value: Any, sub: Any = None) -> html.Div:
    """A label above a prominent value, with an optional muted line below."""
    return html.Div([html.Div(label, className="hls-stat-label"),
                     html.Div(value, className="hls-stat-value"),
                     html.Div(sub, className="hls-stat-sub") if sub is not None else None],
                    className="hls-stat")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "Nothing yet.",
          id: str | None = None) -> html.Div:
    """A compact striped table; ``rows`` are sequences of cell contents in column order."""
    rows = list(rows)
    kwargs = {"id": id} if id else {}
    if not rows:
        return html.Div(empty, className="text-muted small hls-empty", **kwargs)
    head = html.Thead(html.Tr([html.Th(c) for c in columns]))
    body = html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows])
    return html.Div(dbc.Table([head, body], size="sm", striped=True, hover=True, className="mb-0 hls-table"),
                    className="table-responsive", **kwargs)


class Markup(str):
    """HTML safe as it is (made by the helpers below); any other text put into markup is escaped."""


def markup(value: Any) -> Markup:
    """``value`` as HTML: Markup as is, anything else escaped text.

    >>> markup("<b>"), markup(Markup("<b>x</b>"))
    ('&lt;b&gt;', '<b>x</b>')
    """
    return value if isinstance(value, Markup) else Markup(escape(str(value)))


def badge_markup(text: str, color: str) -> Markup:
    """:func:`badge` as markup."""
    return Markup(f'<span class="hls-badge badge rounded-pill bg-{color}">{escape(text)}</span>')


def table_markup(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "Nothing yet.",
                 id: str | None = None) -> Markup:
    """:func:`table` as markup, for tables of many rows refreshed often: the page shows it in one element
    (assets/dashboard.js), where components would cost the Dash renderer work per cell and badge on every
    update anywhere on the page."""
    rows = list(rows)
    ident = f' id="{escape(id)}"' if id else ""
    if not rows:
        return Markup(f'<div{ident} class="text-muted small hls-empty">{escape(empty)}</div>')
    head = "".join(f"<th>{markup(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{markup(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return Markup(f'<div{ident} class="table-responsive"><table class="mb-0 hls-table table table-sm table-striped '
                  f'table-hover"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')

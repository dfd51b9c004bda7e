"""The Trades tab: the pause switch, performance per symbol, equity and drawdown and PnL per trade (zoomed
together), open trades with a force exit each, closed trades and learning events, paged and filtered.
Thin: one engine call each, then the pure renderers of layouts/trades.py and callbacks/trading_figures.py."""
from __future__ import annotations

import time
from typing import Callable

from dash import ClientsideFunction, Input, Output, State, ctx, html, no_update

from callbacks.trading_figures import equity_figure, trade_pnl_figure
from engine.errors import ValidationError
from engine.trading.stats import totals
from layouts.market import replay_note
from layouts.shell import chosen_symbol
from layouts.trades import (ANY, CLOSED_PAGE, EVENTS_PAGE, MARKUP_TABLES, SIGNALS_PAGE, closed_trades_table,
                            force_exit_result, learning_events_table, open_trades_table, pager_text, pages,
                            performance_table, signals_summary, signals_table, trading_notice)


def overview(system, symbol: str | None) -> tuple:
    """(performance table with the replay note, equity figure, PnL-per-trade figure, open trades table,
    trading switch value) for one symbol, or every symbol (with totals) when ``symbol`` is None; tables as
    markup."""
    reports = {s: system.trader.report(s) for s in ([symbol] if symbol else system.trader.symbols())}
    stats = {s: r["stats"] for s, r in reports.items()}
    performance = performance_table(stats, None if symbol else totals(stats), replay_note(system.data_collection(),
                                                                                         symbol))
    figures = [equity_figure(reports), trade_pnl_figure(reports)]
    for fig in figures:
        fig.update_layout(uirevision=symbol)  # keep the user's zoom across refreshes
    return (performance, *figures, open_trades_table(system.trader.open_positions(symbol)),
            system.config.current()["trading_enabled"])


def closed_page(system, symbol: str | None, side: str, exit_reason: str, page: int) -> tuple:
    """(closed trades table, page count, page shown, "21–40 of 312 closed trades")."""
    filters = {"symbol": symbol, "status": "closed", "side": _chosen(side), "exit_reason": _chosen(exit_reason)}
    total = system.trader.count_trades(**filters)
    page = min(page, pages(total, CLOSED_PAGE))
    rows = system.trader.trades(**filters, limit=CLOSED_PAGE, offset=(page - 1) * CLOSED_PAGE, with_learning=True)
    return closed_trades_table(rows), pages(total, CLOSED_PAGE), page, pager_text(total, page, CLOSED_PAGE,
                                                                                 "closed trades")


def events_page(system, symbol: str | None, status: str, page: int) -> tuple:
    """(learning events table, page count, page shown, "1–15 of 40 learning events")."""
    counts = system.trader.event_counts(symbol)
    status = _chosen(status)
    total = counts[status] if status else sum(counts.values())
    page = min(page, pages(total, EVENTS_PAGE))
    rows = system.trader.learning_events(symbol, limit=EVENTS_PAGE, offset=(page - 1) * EVENTS_PAGE, status=status)
    return learning_events_table(rows), pages(total, EVENTS_PAGE), page, pager_text(total, page, EVENTS_PAGE,
                                                                                    "learning events")


def signals_page(system, symbol: str | None, page: int) -> tuple:
    """(signals table, page count, page shown, "1–15 of 312 signals", summary: counts and the outcome model)."""
    counts = system.trader.signal_counts(symbol)
    total = counts["traded"] + counts["held"]
    page = min(page, pages(total, SIGNALS_PAGE))
    rows = system.trader.signals(symbol, limit=SIGNALS_PAGE, offset=(page - 1) * SIGNALS_PAGE)
    return (signals_table(rows), pages(total, SIGNALS_PAGE), page, pager_text(total, page, SIGNALS_PAGE, "signals"),
            signals_summary(counts, system.outcome.stats()))


def force_exit(system, trade_id: int):
    """Force-exit one trade; the result (or why not) as an alert."""
    try:
        return force_exit_result(system.trader.force_exit(trade_id))
    except ValidationError as exc:
        return force_exit_result(error=exc.message[:1].upper() + exc.message[1:] + ".")


def set_trading(store, enabled: bool) -> tuple:
    """Switch trading on or off (validated like every setting); (notice, message)."""
    try:
        config, message = store.update({"trading_enabled": bool(enabled)}), None
    except ValidationError as exc:  # e.g. set by the server's environment
        config, message = store.current(), html.Div(str(exc), className="small text-danger", id="trading-error")
    return trading_notice(config["trading_enabled"]), message


def _chosen(value: str | None) -> str | None:
    return None if value in (None, "", ANY) else value


def _page(trigger, page: int | None) -> int:
    """Page 1 after anything but the pager changed (new symbol, filter or data)."""
    return page or 1 if isinstance(trigger, str) and trigger.endswith("-pager") else 1


def register(app, get_system: Callable) -> None:
    common = [Input("symbol-picker", "value"), Input("state-version", "data"), Input("tabs", "active_tab"),
              Input("trades-action", "data")]

    def symbol_of(system, value):
        return chosen_symbol(value, system.config.current()["symbols"])

    @app.callback(Output("trades-performance-html", "data"), Output("trades-equity-graph", "figure"),
                  Output("trades-pnl-graph", "figure"), Output("open-trades-html", "data"),
                  Output("trading-enabled", "value"), Output("trading-known", "data"), *common,
                  State("trading-known", "data"), prevent_initial_call=True)  # drawn when opened
    def render(symbol, _version, tab, _action, known):
        if tab != "trades":
            return (no_update,) * 6
        system = get_system()
        *view, enabled = overview(system, symbol_of(system, symbol))
        # the switch follows a change made elsewhere (API, another page), never undoes a click this refresh
        # raced with: the config it read is compared with what the page knew when it asked
        follow = no_update if enabled == known else enabled
        return (*view, follow, follow)

    @app.callback(Output("closed-trades-html", "data"), Output("closed-pager", "max_value"),
                  Output("closed-pager", "active_page"), Output("closed-pager-text", "children"),
                  Input("closed-side", "value"), Input("closed-exit", "value"), Input("closed-pager", "active_page"),
                  *common, prevent_initial_call=True)
    def closed(side, exit_reason, page, symbol, _version, tab, _action):
        if tab != "trades":
            return (no_update,) * 4
        system = get_system()
        return closed_page(system, symbol_of(system, symbol), side, exit_reason, _page(ctx.triggered_id, page))

    @app.callback(Output("learning-events-html", "data"), Output("events-pager", "max_value"),
                  Output("events-pager", "active_page"), Output("events-pager-text", "children"),
                  Input("events-status", "value"), Input("events-pager", "active_page"),
                  *common, prevent_initial_call=True)
    def events(status, page, symbol, _version, tab, _action):
        if tab != "trades":
            return (no_update,) * 4
        system = get_system()
        return events_page(system, symbol_of(system, symbol), status, _page(ctx.triggered_id, page))

    @app.callback(Output("signals-html", "data"), Output("signals-pager", "max_value"),
                  Output("signals-pager", "active_page"), Output("signals-pager-text", "children"),
                  Output("signals-summary", "children"), Input("signals-pager", "active_page"),
                  *common, prevent_initial_call=True)
    def signals(page, symbol, _version, tab, _action):
        if tab != "trades":
            return (no_update,) * 5
        system = get_system()
        return signals_page(system, symbol_of(system, symbol), _page(ctx.triggered_id, page))

    @app.callback(Output("trades-message", "children"), Output("trades-action", "data"),
                  Input("force-exit-request", "data"), prevent_initial_call=True)
    def exit_trade(request):
        return force_exit(get_system(), int(request["trade"])), time.time()

    @app.callback(Output("trading-notice", "children"), Output("trading-message", "children"),
                  Output("trading-known", "data", allow_duplicate=True), Input("trading-enabled", "value"),
                  prevent_initial_call=True)
    def pause(enabled):
        store = get_system().config
        notice, message = set_trading(store, enabled)
        return notice, message, store.current()["trading_enabled"]

    app.clientside_callback(ClientsideFunction("hls", "showMarkup"), Output("trades-tables-drawn", "data"),
                            *[Input(f"{table}-html", "data") for table in MARKUP_TABLES], prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("hls", "syncZoom"), Output("trades-zoom", "data"),
                            Input("trades-equity-graph", "relayoutData"), Input("trades-pnl-graph", "relayoutData"),
                            prevent_initial_call=True)

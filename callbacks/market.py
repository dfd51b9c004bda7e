"""The Market tab: stored candles with indicator overlays, predictions and paper trades marked, and the
symbol's PnL and drawdown on the same time axis; "All symbols" draws one small chart per symbol."""
from __future__ import annotations

from typing import Callable

from dash import ClientsideFunction, Input, Output, html, no_update

from callbacks.market_figures import indicator_overlays, market_figure, overview_figure, trades_in_view
from callbacks.trading_figures import equity_figure
from engine.features import WARMUP_BARS, compute_features
from layouts.market import market_summary, replay_note
from layouts.shell import chosen_symbol


def market_view(system, symbol: str | None, bars: int) -> tuple:
    """(market figure, PnL figure, summary) for the last ``bars`` candles of ``symbol``, or of every symbol."""
    interval = system.config.current()["interval"]
    collection = system.data_collection()
    if symbol is None:
        symbols = system.config.current()["symbols"]
        shown = {s: system.store.tail(s, interval, bars) for s in symbols}
        reports = {s: system.trader.report(s) for s in symbols}
        note = replay_note(collection)
        return (overview_figure({s: (shown[s], reports[s]["trades"]) for s in symbols}), equity_figure(reports),
                html.Div(note, className="small text-muted hls-replay-note") if note else None)
    candles = system.store.tail(symbol, interval, bars + WARMUP_BARS)
    shown = candles.tail(bars).reset_index(drop=True)
    marks = [{"open_time": p["open_time"], "prediction": p["ensemble_prediction"], "correct": p["correct"]["ensemble"]}
             for p in system.hybrid.history(symbol, bars)]
    overlays = indicator_overlays(candles, compute_features(candles)) if len(candles) else None
    report = system.trader.report(symbol)
    return (market_figure(shown, overlays, marks, symbol, report["trades"]), equity_figure({symbol: report}),
            market_summary(shown, marks, trades_in_view(shown, report["trades"]), replay_note(collection, symbol)))


def register(app, get_system: Callable) -> None:
    @app.callback(Output("market-graph", "figure"), Output("market-equity-graph", "figure"),
                  Output("market-summary", "children"),
                  Input("symbol-picker", "value"), Input("market-range", "value"),
                  Input("market-refresh", "n_intervals"), Input("tabs", "active_tab"),
                  prevent_initial_call=True)  # drawn when its tab is opened
    def market(symbol, bars, _version, tab):
        if tab != "market":
            return no_update, no_update, no_update  # drawn when the tab is opened, then kept fresh
        system = get_system()
        view = market_view(system, chosen_symbol(symbol, system.config.current()["symbols"]), int(bars))
        for fig in view[:2]:
            fig.update_layout(uirevision=f"{symbol}-{bars}")  # keep the user's zoom across refreshes
        return view

    app.clientside_callback(ClientsideFunction("hls", "syncZoom"), Output("market-zoom", "data"),
                            Input("market-graph", "relayoutData"), Input("market-equity-graph", "relayoutData"),
                            prevent_initial_call=True)

"""The Market tab: stored candles, indicator overlays recovered from the features, predictions marked."""
from __future__ import annotations

from typing import Callable

from dash import Input, Output, html, no_update

from callbacks.figures import indicator_overlays, market_figure
from engine.features import WARMUP_BARS, compute_features
from layouts.format import percent, utc_time
from layouts.widgets import badge, stat


def market_view(system, symbol: str, bars: int):
    """(figure, summary) for the last ``bars`` candles of ``symbol``."""
    interval = system.config.current()["interval"]
    candles = system.store.tail(symbol, interval, bars + WARMUP_BARS)
    shown = candles.tail(bars).reset_index(drop=True)
    history = system.hybrid.history(symbol, bars)
    marks = [{"open_time": p["open_time"], "prediction": p["ensemble_prediction"], "correct": p["correct"]["ensemble"]}
             for p in history]
    overlays = indicator_overlays(candles, compute_features(candles)) if len(candles) else None
    fig = market_figure(shown, overlays, marks, symbol)
    fig.update_layout(uirevision=f"{symbol}-{bars}")  # keep the user's zoom across refreshes
    if shown.empty:
        return fig, ""
    first, last = shown.iloc[0], shown.iloc[-1]
    right = sum(1 for m in marks if m["correct"] is True)
    wrong = sum(1 for m in marks if m["correct"] is False)
    summary = html.Div([
        stat("Last close", f"{last['close']:,.2f}", utc_time(int(last["open_time"]))),
        stat("Change over range", percent(last["close"] / first["open"] - 1, 2)),
        stat("Predictions shown", html.Span([badge(f"{right} right", "success"), " ", badge(f"{wrong} wrong", "danger")]),
             f"hit rate {percent(right / (right + wrong)) if right + wrong else '—'}"),
    ], className="d-flex gap-5")
    return fig, summary


def register(app, get_system: Callable) -> None:
    @app.callback(Output("market-graph", "figure"), Output("market-summary", "children"),
                  Input("symbol-picker", "value"), Input("market-range", "value"), Input("market-refresh", "n_intervals"),
                  Input("tabs", "active_tab"),
                  prevent_initial_call=True)  # drawn when its tab is opened
    def market(symbol, bars, _version, tab):
        if tab != "market":
            return no_update, no_update  # drawn when the tab is opened, then kept fresh
        system = get_system()
        if symbol not in system.config.current()["symbols"]:  # "All symbols": one chart per symbol is too tall
            symbol = system.config.current()["symbols"][0]
        return market_view(system, symbol, int(bars))

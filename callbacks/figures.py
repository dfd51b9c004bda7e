"""Pure figure builders (the model-quality ones are in callbacks.model_figures): plain data in (lists, dicts, DataFrames shaped as the engine returns them), plotly figures out."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


COLORS = {"hybrid": "#6f42c1", "batch": "#0d6efd", "baseline": "#6c757d", "sgd": "#20c997",
          "passive_aggressive": "#fd7e14", "mlp_online": "#d63384"}
RIGHT, WRONG = "#198754", "#dc3545"
TRACE_TYPES = {"scatter", "bar", "candlestick"}  # every trace type these figures draw: the page's plotly.js needs them
OVERLAY_COLUMNS = ("sma_20", "ema_20", "bb_high", "bb_low", "rsi", "macd", "macd_signal", "macd_hist")


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=50, r=20, t=30, b=30),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), hovermode="x unified",
                      font=dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12))
    return fig


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank chart carrying a centred note (e.g. "No predictions scored yet")."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#6c757d"),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height)


def indicator_overlays(candles: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Raw indicator lines recovered from the engine's scale-free features (index: open_time).

    SMA20 = close / (1 + dist_sma_20), bands likewise; MACD lines = feature * close; RSI as is.
    """
    close = candles.set_index("open_time")["close"].reindex(features.index)
    out = pd.DataFrame(index=features.index)
    for name, column in (("sma_20", "dist_sma_20"), ("ema_20", "dist_ema_20"),
                         ("bb_high", "dist_bb_high"), ("bb_low", "dist_bb_low")):
        out[name] = close / (1.0 + features[column])
    out["rsi"] = features["rsi"]
    for name in ("macd", "macd_signal", "macd_hist"):
        out[name] = features[name] * close
    return out[list(OVERLAY_COLUMNS)]


def market_figure(candles: pd.DataFrame, overlays: pd.DataFrame, predictions: Sequence[Mapping],
                  symbol: str, height: int = 640) -> go.Figure:
    """Candles with Bollinger bands, SMA20, EMA20, RSI and MACD panels, and scored predictions marked.

    ``predictions``: dicts with open_time, prediction (1 up / 0 down) and correct (bool or None).
    """
    if candles.empty:
        return empty_figure(f"No candles stored for {symbol} yet.", height)
    t = pd.to_datetime(candles["open_time"].to_numpy(), unit="ms", utc=True)
    ov = overlays.reindex(candles["open_time"].to_numpy())
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.6, 0.18, 0.22])
    fig.add_trace(go.Scatter(x=t, y=ov["bb_high"], name="Bollinger (20, 2)", legendgroup="bb",
                             line=dict(color="rgba(108,117,125,0.6)", width=1)), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=ov["bb_low"], name="BB low", legendgroup="bb", showlegend=False,
                             fill="tonexty", fillcolor="rgba(108,117,125,0.08)",
                             line=dict(color="rgba(108,117,125,0.6)", width=1)), 1, 1)
    fig.add_trace(go.Candlestick(x=t, open=candles["open"], high=candles["high"], low=candles["low"],
                                 close=candles["close"], name=symbol,
                                 increasing_line_color=RIGHT, decreasing_line_color=WRONG), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=ov["sma_20"], name="SMA 20", line=dict(color="#0d6efd", width=1.3)), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=ov["ema_20"], name="EMA 20", line=dict(color="#fd7e14", width=1.3)), 1, 1)
    _add_prediction_marks(fig, candles, predictions)
    fig.add_trace(go.Scatter(x=t, y=ov["rsi"], name="RSI 14", line=dict(color="#6f42c1", width=1.3)), 2, 1)
    for level in (30, 70):
        fig.add_hline(y=level, line=dict(color="#adb5bd", width=1, dash="dot"), row=2, col=1)
    hist = ov["macd_hist"].to_numpy()
    fig.add_trace(go.Bar(x=t, y=hist, name="MACD hist", marker_color=np.where(hist >= 0, RIGHT, WRONG),
                         opacity=0.5), 3, 1)
    fig.add_trace(go.Scatter(x=t, y=ov["macd"], name="MACD", line=dict(color="#0d6efd", width=1.2)), 3, 1)
    fig.add_trace(go.Scatter(x=t, y=ov["macd_signal"], name="Signal", line=dict(color="#fd7e14", width=1.2)), 3, 1)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="RSI", range=[0, 100], row=2, col=1)
    fig.update_yaxes(title_text="MACD", row=3, col=1)
    fig.update_xaxes(rangeslider_visible=False)
    return _layout(fig, height)


def _add_prediction_marks(fig: go.Figure, candles: pd.DataFrame, predictions: Sequence[Mapping]) -> None:
    """Triangles above/below the bar a prediction was made on: green right, red wrong, grey pending."""
    if not predictions:
        return
    bars = candles.set_index("open_time")
    rows = [p for p in predictions if p.get("open_time") in bars.index]
    groups = {"right": (RIGHT, True), "wrong": (WRONG, False), "pending": ("#adb5bd", None)}
    for label, (color, flag) in groups.items():
        pts = [p for p in rows if p.get("correct") is flag]
        if not pts:
            continue
        times = np.asarray([p["open_time"] for p in pts], dtype=np.int64)
        up = np.asarray([p.get("prediction") == 1 for p in pts])
        y = np.where(up, bars.loc[times, "low"].to_numpy() * 0.995, bars.loc[times, "high"].to_numpy() * 1.005)
        fig.add_trace(go.Scatter(
            x=pd.to_datetime(times, unit="ms", utc=True), y=y, mode="markers", name=f"prediction {label}",
            marker=dict(symbol=np.where(up, "triangle-up", "triangle-down"), size=9, color=color,
                        line=dict(width=0.5, color="white"))), 1, 1)

"""Market charts (pure builders): one symbol's candles with indicator overlays, the system's scored
predictions and its paper trades marked (entry, exit, the path between); for "All symbols" one small
candle chart per symbol, each on its own time axis (symbols replay different eras)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from callbacks.figures import empty_figure
from callbacks.trading_figures import GAIN, LOSS, Row, axis, figure, grid, split, times
from layouts.format import utc_time

RIGHT, WRONG = GAIN, LOSS  # a prediction that came true / did not
ENTRY = "#0d6efd"
OVERLAY_COLUMNS = ("sma_20", "ema_20", "bb_high", "bb_low", "rsi", "macd", "macd_signal", "macd_hist")
OVERVIEW_PANEL_HEIGHT = 300  # px per symbol


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
                  symbol: str, trades: Sequence[Mapping] = (), height: int = 640) -> go.Figure:
    """Candles with Bollinger bands, SMA20, EMA20, RSI and MACD panels, scored predictions and paper trades.

    ``predictions``: dicts with open_time, prediction (1 up / 0 down) and correct (bool or None);
    ``trades``: ledger rows (id, side, status, entry_time, entry_price, exit_time, exit_price, exit_reason, pnl).
    """
    if candles.empty:
        return empty_figure(f"No candles stored for {symbol} yet.", height)
    t = times(candles["open_time"])
    ov = overlays.reindex(candles["open_time"].to_numpy())
    layout, [[price, rsi, macd]] = grid([symbol], [symbol], (0.6, 0.18, 0.22), height)
    band = dict(color="rgba(108,117,125,0.6)", width=1)
    hist = ov["macd_hist"].to_numpy()
    traces = [
        _line(t, ov["bb_high"], "Bollinger (20, 2)", price, band, legendgroup="bb"),
        _line(t, ov["bb_low"], "BB low", price, band, legendgroup="bb", showlegend=False, fill="tonexty",
              fillcolor="rgba(108,117,125,0.08)"),
        _candles(candles, symbol, price),
        _line(t, ov["sma_20"], "SMA 20", price, dict(color="#0d6efd", width=1.3)),
        _line(t, ov["ema_20"], "EMA 20", price, dict(color="#fd7e14", width=1.3)),
        *_prediction_marks(candles, predictions, price),
        *_trade_marks(candles, trades, price),
        _line(t, ov["rsi"], "RSI 14", rsi, dict(color="#6f42c1", width=1.3)),
        *[dict(type="bar", x=bar_x, y=bar_y, name="MACD hist", legendgroup="hist", showlegend=color == RIGHT,
               marker=dict(color=color), opacity=0.5, xaxis=macd.x, yaxis=macd.y)
          for (bar_x, bar_y), color in zip(split(hist >= 0, t, hist), (RIGHT, WRONG))],
        _line(t, ov["macd"], "MACD", macd, dict(color="#0d6efd", width=1.2)),
        _line(t, ov["macd_signal"], "Signal", macd, dict(color="#fd7e14", width=1.2)),
    ]
    layout["shapes"] = [dict(type="line", xref=f"{rsi.x} domain", x0=0, x1=1, yref=rsi.y, y0=level, y1=level,
                             line=dict(color="#adb5bd", width=1, dash="dot")) for level in (30, 70)]
    for row, title in ((price, "price"), (rsi, "RSI"), (macd, "MACD")):
        layout[axis(row.y)]["title"] = {"text": title}
        layout[axis(row.x)]["rangeslider"] = {"visible": False}
    layout[axis(rsi.y)]["range"] = [0, 100]
    return figure(traces, layout, height)


def overview_figure(charts: Mapping[str, tuple[pd.DataFrame, Sequence[Mapping]]]) -> go.Figure:
    """"All symbols": one small candle chart per symbol ({symbol: (candles, trades)}) with its trades
    marked, each on its own time axis titled with the period it shows."""
    shown = {s: c for s, (c, _) in charts.items() if not c.empty}
    if not shown:
        return empty_figure(f"No candles stored for {', '.join(charts)} yet.", OVERVIEW_PANEL_HEIGHT)
    titles = [f"{s} · {utc_time(int(c['open_time'].iloc[0]), suffix=False)} → "
              f"{utc_time(int(c['open_time'].iloc[-1]))}" for s, c in shown.items()]
    height = OVERVIEW_PANEL_HEIGHT * len(shown)
    layout, blocks = grid(titles, list(shown), (1.0,), height)
    traces: list[dict] = []
    for (symbol, candles), (row,) in zip(shown.items(), blocks):
        traces += [_candles(candles, symbol, row), *_trade_marks(candles, charts[symbol][1], row, legend=not traces)]
        layout[axis(row.y)]["title"] = {"text": "price"}
        layout[axis(row.x)]["rangeslider"] = {"visible": False}
    return figure(traces, layout, height)


def _line(x: np.ndarray, y: pd.Series, name: str, row: Row, line: dict, **extra) -> dict:
    return dict(type="scatter", x=x, y=y.to_numpy(), name=name, line=line, xaxis=row.x, yaxis=row.y, **extra)


def _candles(candles: pd.DataFrame, symbol: str, row: Row) -> dict:
    return dict(type="candlestick", x=times(candles["open_time"]), open=candles["open"].to_numpy(),
                high=candles["high"].to_numpy(), low=candles["low"].to_numpy(), close=candles["close"].to_numpy(),
                name=symbol, increasing=dict(line=dict(color=RIGHT)), decreasing=dict(line=dict(color=WRONG)),
                xaxis=row.x, yaxis=row.y)


def _prediction_marks(candles: pd.DataFrame, predictions: Sequence[Mapping], row: Row) -> list[dict]:
    """Small triangles above (up) / below (down) the bar a prediction was made on: green right, red wrong,
    grey pending. One trace per group and direction: plotly checks a per-point marker symbol list point by
    point against its hundreds of symbols (~50 ms for a month of bars)."""
    bars = candles.set_index("open_time")
    shown = [p for p in predictions if p.get("open_time") in bars.index]
    traces = []
    for label, (color, flag) in {"right": (RIGHT, True), "wrong": (WRONG, False), "pending": ("#adb5bd", None)}.items():
        first = True
        for up, symbol, price, offset in ((True, "triangle-up", "low", 0.995), (False, "triangle-down", "high", 1.005)):
            t = np.array([p["open_time"] for p in shown
                          if p.get("correct") is flag and (p.get("prediction") == 1) == up], dtype=np.int64)
            if len(t):
                traces.append(dict(type="scatter", x=times(t), y=bars.loc[t, price].to_numpy() * offset,
                                   mode="markers", name=f"prediction {label}", legendgroup=f"prediction {label}",
                                   showlegend=first, opacity=0.7, xaxis=row.x, yaxis=row.y,
                                   marker=dict(symbol=symbol, size=7, color=color,
                                               line=dict(width=0.5, color="white"))))
                first = False
    return traces


def trades_in_view(candles: pd.DataFrame, trades: Sequence[Mapping]) -> list[Mapping]:
    """The filled trades whose holding overlaps the candles shown (open ones run to the last bar)."""
    if candles.empty:
        return []
    first, last = int(candles["open_time"].iloc[0]), int(candles["open_time"].iloc[-1])
    return [t for t in trades if t.get("entry_time") is not None and t["entry_time"] <= last
            and (t["status"] == "open" or t["exit_time"] >= first)]


def _trade_marks(candles: pd.DataFrame, trades: Sequence[Mapping], row: Row, legend: bool = True) -> list[dict]:
    """Each paper trade: its entry (blue ▲ LONG / ▼ SHORT at the fill price), its exit (a dot at the exit
    price: green won, red lost) and a dotted line between them. Numpy arrays and one marker symbol per
    trace throughout: plotly checks Python lists and per-point symbols element by element."""
    shown = trades_in_view(candles, trades)
    if not shown:
        return []
    closed = [t for t in shown if t["status"] == "closed"]
    traces = []
    for side, symbol in (("LONG", "triangle-up"), ("SHORT", "triangle-down")):
        entries = [t for t in shown if t["side"] == side]
        if entries:
            traces.append(dict(
                type="scatter", x=times([t["entry_time"] for t in entries]),
                y=np.array([t["entry_price"] for t in entries]), mode="markers", name=f"{side} entry",
                legendgroup=f"{side} entry", showlegend=legend, xaxis=row.x, yaxis=row.y,
                text=np.array([f"#{t['id']} {side} entry {t['entry_price']:,.2f}"
                               + (" (open)" if t["status"] == "open" else "") for t in entries]),
                hovertemplate="%{text}<extra></extra>",
                marker=dict(symbol=symbol, size=13, color=ENTRY, line=dict(width=1, color="white"))))
    if closed:
        entry_exit = np.array([(t["entry_time"], t["exit_time"], t["exit_time"]) for t in closed], dtype=np.int64)
        prices = np.array([(t["entry_price"], t["exit_price"], np.nan) for t in closed])
        traces.insert(0, dict(  # entry -> exit, then a gap (NaN), per trade; drawn under the markers
            type="scatter", x=times(entry_exit.ravel()), y=prices.ravel(), mode="lines", name="trade path",
            showlegend=False, hoverinfo="skip", line=dict(color="#6c757d", width=1, dash="dot"),
            xaxis=row.x, yaxis=row.y))
        text = np.array([f"#{t['id']} exit {t['exit_reason'].replace('_', ' ')} {t['exit_price']:,.2f} · "
                         f"PnL {t['pnl']:+,.2f} USDT" for t in closed])
        won = np.array([t["pnl"] > 0 for t in closed])
        exits = split(won, times([t["exit_time"] for t in closed]), prices[:, 1], text)
        for (x, y, hover), name, color in zip(exits, ("exit, won", "exit, lost"), (GAIN, LOSS)):
            if len(x):
                traces.append(dict(type="scatter", x=x, y=y, mode="markers", name=name, legendgroup=name,
                                   showlegend=legend, xaxis=row.x, yaxis=row.y, text=hover,
                                   hovertemplate="%{text}<extra></extra>",
                                   marker=dict(symbol="circle", size=10, color=color,
                                               line=dict(width=1, color="white"))))
    return traces

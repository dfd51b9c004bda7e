"""Paper-trading charts (pure builders), per symbol on a market-time axis: realised PnL after fees against
buy-and-hold with the drawdown below it, and the PnL of each closed trade with the running win rate.

Input: PaperTrader.report(symbol) dicts ({"stats", "equity", "buy_and_hold", "trades"}) by symbol. One
symbol gives one block of rows; several give one block each, with its own time axis (symbols replay
different eras: never one axis across them). Each figure names the symbol of every x axis in
``layout.meta["xsync"]``: the page zooms the axes of one symbol together across the charts of a tab
(assets/dashboard.js). Figures are assembled as plain traces and one layout (:func:`grid`), then made a
plotly Figure once: plotly's incremental make_subplots / add_trace(row=) / update_*axes path is ~5x slower.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go

from callbacks.figures import LAYOUT, _layout, empty_figure
from layouts.format import utc_time

EQUITY, BUY_AND_HOLD, DRAWDOWN, WIN_RATE = "#6f42c1", "#6c757d", "rgba(220,53,69,0.25)", "#fd7e14"
GAIN, LOSS = "#198754", "#dc3545"
MAX_POINTS = 1500  # per line: more than a chart's width shows (a year of hourly bars is 8,760)
PANEL_HEIGHT = 300  # px per symbol in an "All symbols" figure
BLOCK_GAP, ROW_GAP = 75, 10  # px between symbols' blocks (tick labels above, a title below) / rows of a block
MARGIN_TOP, MARGIN_BOTTOM = {False: 30, True: 75}, 30  # px; the top keeps room for the legend (and a title)


class Row(NamedTuple):
    """Axis ids of one row of a :func:`grid` (y2: its right-hand axis, if asked for)."""
    x: str
    y: str
    y2: str | None


def times(ms: Any) -> np.ndarray:
    """Epoch milliseconds as float64 for a date axis (plotly.js reads numbers there as UTC epoch ms): they go
    to the page as one binary array, where timestamps are checked and written out one date string each."""
    return np.asarray(ms, dtype=np.int64).astype(np.float64)


def split(flags: np.ndarray, *columns: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """``columns`` where ``flags`` holds, and where it does not: one trace each, one colour each (plotly.js
    mis-reads a typed array of numbers on a colour scale as a colour, and checks colour lists point by point).

    >>> split(np.array([True, False]), np.array([1, 2]))
    ((array([1]),), (array([2]),))
    """
    return tuple(c[flags] for c in columns), tuple(c[~flags] for c in columns)


def _id(letter: str, k: int) -> str:
    return letter if k == 1 else f"{letter}{k}"


def axis(id: str) -> str:
    """A trace's axis id -> its layout key: "x" -> "xaxis", "y3" -> "yaxis3"."""
    return f"{id[0]}axis{id[1:]}"


def grid(titles: Sequence[str], symbols: Sequence[str], shares: Sequence[float], height: int,
         secondary: bool = False) -> tuple[dict, list[list[Row]]]:
    """Layout for one block of rows (``shares`` of its height) per symbol, stacked top-down, each block titled
    when there are several; x axes are dates (UTC). The rows of a block share their time axis (the lower ones
    match the first, tick labels on the last only); blocks never do. Returns (layout dict, rows per block)."""
    several = len(titles) > 1
    n = len(titles) * len(shares)
    plot_px = height - MARGIN_TOP[several] - MARGIN_BOTTOM
    block_gap, row_gap = BLOCK_GAP / plot_px, ROW_GAP / plot_px
    block = (1 - (len(titles) - 1) * block_gap - len(titles) * (len(shares) - 1) * row_gap) / len(titles)
    layout: dict[str, Any] = {"annotations": [], "meta": {"xsync": {}},
                              "margin": {"t": MARGIN_TOP[several], "b": MARGIN_BOTTOM}}
    blocks, top, k = [], 1.0, 0
    for title, symbol in zip(titles, symbols):
        if several:
            layout["annotations"].append(dict(text=title, x=0.5, y=top, xref="paper", yref="paper",
                                              yanchor="bottom", showarrow=False, font=dict(size=13)))
        rows = []
        for r, share in enumerate(shares):
            k += 1
            row = Row(_id("x", k), _id("y", k), _id("y", n + k) if secondary else None)
            bottom = max(0.0, top - block * share)
            layout[axis(row.x)] = {"type": "date", "anchor": row.y, "showticklabels": r == len(shares) - 1,
                                   **({"matches": rows[0].x} if rows else {})}
            layout[axis(row.y)] = {"anchor": row.x, "domain": [bottom, top]}
            if secondary:
                layout[axis(row.y2)] = {"anchor": row.x, "overlaying": row.y, "side": "right", "showgrid": False}
            layout["meta"]["xsync"][axis(row.x)] = symbol
            rows.append(row)
            top = bottom - (row_gap if r < len(shares) - 1 else block_gap)
        blocks.append(rows)
    return layout, blocks


def figure(traces: list[dict], layout: dict, height: int) -> go.Figure:
    """The plotly Figure of plain ``traces`` and ``layout``, laid out (and themed) by the shared _layout; the
    grid's margins win over _layout's defaults."""
    fig = _layout(go.Figure(data=traces, layout=layout), height)
    fig.layout.margin = LAYOUT["margin"] | layout["margin"]
    return fig


def _title(symbol: str, report: Mapping) -> str:
    stats = report["stats"]
    if not stats.get("span"):
        return f"{symbol} · no trades yet"
    first, last = (utc_time(t, suffix=False)[:10] for t in stats["span"])
    return f"{symbol} · {first} → {last} · {stats['trades']} closed"


def equity_figure(reports: Mapping[str, Mapping], height: int = 360) -> go.Figure:
    """Per symbol: realised PnL after fees (step line from 0 at the first entry) against buy-and-hold of one
    stake over the same span, in USDT, and below it the drawdown (% below the peak so far). No range is set:
    the axes fit the data and keep the user's zoom across redraws (a set range would reset it per candle)."""
    symbols = list(reports)
    if not any(r["stats"].get("span") for r in reports.values()):
        return empty_figure(f"No paper trades yet for {', '.join(symbols)}.<br>A signal trades when it is confident "
                            "and passes the gates: see Signals below.", height)
    height = height if len(symbols) == 1 else PANEL_HEIGHT * len(symbols)
    layout, blocks = grid([_title(s, r) for s, r in reports.items()], symbols, (0.68, 0.32), height)
    traces: list[dict] = []
    for report, (top, low) in zip(reports.values(), blocks):
        equity, bh, first = report["equity"], report["buy_and_hold"], not traces
        if not bh.empty:
            x = times(np.concatenate((bh["open_time"].to_numpy()[:1], equity["time"].to_numpy())))
            pnl_x, pnl_y = thin(x, np.concatenate(([0.0], equity["pnl"].cumsum().to_numpy())))
            dd_x, dd_y = thin(x, np.concatenate(([0.0], -equity["drawdown_pct"].to_numpy())))
            bh_x, bh_y = thin(times(bh["open_time"]), bh["pnl"].to_numpy())
            traces += [
                dict(type="scatter", x=bh_x, y=bh_y, name="buy & hold (same span)", legendgroup="bh",
                     showlegend=first, xaxis=top.x, yaxis=top.y, line=dict(color=BUY_AND_HOLD, width=1.3, dash="dash")),
                dict(type="scatter", x=pnl_x, y=pnl_y, name="paper trades (PnL after fees)", legendgroup="pnl",
                     showlegend=first, line_shape="hv", xaxis=top.x, yaxis=top.y, line=dict(color=EQUITY, width=2.2)),
                dict(type="scatter", x=dd_x, y=dd_y, name="drawdown", legendgroup="dd", showlegend=first,
                     line_shape="hv", fill="tozeroy", fillcolor=DRAWDOWN, xaxis=low.x, yaxis=low.y,
                     line=dict(color=LOSS, width=0.8))]
        layout[axis(top.y)]["title"] = {"text": "PnL (USDT)"}
        layout[axis(low.y)] |= {"title": {"text": "drawdown"}, "ticksuffix": "%", "rangemode": "tozero"}
    return figure(traces, layout, height)


def thin(x: np.ndarray, y: np.ndarray, points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A line of at most ~``points`` points for a chart a thousand pixels wide: per run of consecutive points
    its lowest and highest, in order (peaks and troughs, the deepest drawdown among them, stay), and the
    first and last; shorter lines as they are.

    >>> thin(np.arange(8.0), np.array([0, 5, 1, 2, 9, 3, 4, 6.0]), points=4)
    (array([0., 1., 4., 5., 7.]), array([0., 5., 9., 3., 6.]))
    """
    n = len(x)
    if n <= points:
        return x, y
    size = -(-n // (points // 2))  # points per run
    runs = np.concatenate((y, np.full(-n % size, y[-1]))).reshape(-1, size)  # the last run padded with its end
    starts = np.arange(0, n, size)
    keep = np.concatenate(([0, n - 1], starts + runs.argmin(axis=1), starts + runs.argmax(axis=1)))
    index = np.unique(np.minimum(keep, n - 1))
    return x[index], y[index]


def _bar_width(exit_times: np.ndarray) -> float | None:
    """Bars 80% as wide as the median gap between exits (ms), so sparse trades do not draw as hairlines."""
    gaps = np.diff(np.sort(exit_times))
    gaps = gaps[gaps > 0]
    return float(0.8 * np.median(gaps)) if len(gaps) else None


def trade_pnl_figure(reports: Mapping[str, Mapping], height: int = 360) -> go.Figure:
    """Per symbol: the PnL after fees of each closed trade (bar at its exit bar: green won, red lost) and the
    running win rate (right axis)."""
    symbols = list(reports)
    if not any(len(r["equity"]) for r in reports.values()):
        return empty_figure("No closed trades yet.<br>Each closes on take-profit, stop-loss, max holding<br>"
                            "or a force exit.", height)
    height = height if len(symbols) == 1 else PANEL_HEIGHT * len(symbols)
    layout, blocks = grid([_title(s, r) for s, r in reports.items()], symbols, (1.0,), height, secondary=True)
    traces: list[dict] = []
    for report, (row,) in zip(reports.values(), blocks):
        equity, first = report["equity"], not traces
        x, pnl = times(equity["time"]), equity["pnl"].to_numpy()
        width = _bar_width(equity["time"].to_numpy())
        for (won_x, won_pnl), name, color in zip(split(pnl > 0, x, pnl), ("trade won", "trade lost"), (GAIN, LOSS)):
            traces.append(dict(type="bar", x=won_x, y=won_pnl, name=name, legendgroup=name, showlegend=first,
                               width=width, marker=dict(color=color), xaxis=row.x, yaxis=row.y))
        traces += [dict(type="scatter", x=x, y=equity["win_rate"].to_numpy(), name="win rate (running)",
                        legendgroup="wr", showlegend=first, xaxis=row.x, yaxis=row.y2,
                        line=dict(color=WIN_RATE, width=1.6))]
        layout[axis(row.y)]["title"] = {"text": "PnL (USDT)"}
        layout[axis(row.y2)] |= {"tickformat": ".0%", "range": [0, 1], "tickmode": "linear", "dtick": 0.25}
    return figure(traces, layout, height)

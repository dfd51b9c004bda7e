"""The cost gate's yardstick: how far a trade opened on a signal moves, over the bars it is actually held.

A next-bar probability says little about a trade that is held up to ``max_holding_bars`` bars and
leaves on take-profit or stop-loss: on a market whose drift persists, an edge of 0.1 on the next
bar is worth a move of several percent over the trade; on one that mean-reverts within the hour,
nothing. So the move is measured, not assumed: over the recent closed trades of the signals (the
trades they opened, or would have opened, engine.outcome), the gross return before costs in the
signal's direction is regressed on the signal's edge e = side x (2p - 1), through the origin:
``beta`` = sum(e x move) / sum(e^2), percent of move per unit of edge, with its standard error. A new
signal's expected move is (beta - ``MARGIN_SE`` x se) x its edge -- one standard error of doubt, so
that a market with nothing to learn (beta ~ 0) does not trade on the luck of its recent trades --
and must exceed the round-trip cost. With fewer than ``MIN_TRADES`` closed trades to measure on,
the gate stays closed and says so (the trades it blocks are still settled and measured).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TRADES = 30
MARGIN_SE = 1.0


@dataclass(frozen=True)
class TradeMove:
    """``beta`` and ``se`` (percent per unit of edge) measured on ``n`` closed trades (None below MIN_TRADES)."""

    beta: float | None
    se: float | None
    n: int

    def expected_pct(self, edge: float) -> float | None:
        """The cautious expected move in percent, (beta - MARGIN_SE x se) x edge; None without a measure."""
        if self.beta is None:
            return None
        return (self.beta - MARGIN_SE * self.se) * abs(edge)

    def describe(self) -> str:
        if self.beta is None:
            return f"{self.n} closed signal trades to measure a trade's move on, {MIN_TRADES} needed"
        return (f"over the last {self.n} closed signal trades each unit of edge moved the price {self.beta:+.2f} % "
                f"± {self.se:.2f} in the signal's direction")


def measure(edges: np.ndarray, moves_pct: np.ndarray) -> TradeMove:
    """The regression of the trades' gross moves (percent, in the signal's direction) on their edges.

    >>> m = measure(np.full(40, 0.1), np.r_[np.full(20, 1.5), np.full(20, 0.5)])
    >>> round(m.beta, 2), round(m.expected_pct(0.1), 2)
    (10.0, 0.92)
    """
    edges, moves = np.asarray(edges, dtype=float), np.asarray(moves_pct, dtype=float)
    keep = np.isfinite(edges) & np.isfinite(moves) & (edges > 0)
    edges, moves = edges[keep], moves[keep]
    n = len(edges)
    if n < MIN_TRADES:
        return TradeMove(None, None, n)
    sxx = float(edges @ edges)
    beta = float(edges @ moves) / sxx
    residual = moves - beta * edges
    se = float(np.sqrt(residual @ residual / (n - 1) / sxx))
    return TradeMove(beta, se, n)


def rolling(signal_bar: np.ndarray, exit_bar: np.ndarray, edges: np.ndarray, moves_pct: np.ndarray,
            window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beta, se, n) in force at each signal (ascending ``signal_bar``), measured on the signals of the last
    ``window`` bars whose trades closed before it (``exit_bar`` < its bar; -1: still open). The walk-forward's
    :func:`measure` for every signal at once, from prefix sums (a trade closes within its holding time, so
    one that opened before the window closed before it, and leaves the sums in order)."""
    closed = (exit_bar >= 0) & np.isfinite(moves_pct) & (edges > 0)
    e = np.where(closed, edges, 0.0)
    m = np.where(closed, moves_pct, 0.0)
    parts = np.column_stack([closed.astype(float), e * e, e * m, m * m])
    by_exit = np.argsort(np.where(closed, exit_bar, np.iinfo(np.int64).max), kind="stable")
    exits = np.where(closed, exit_bar, np.iinfo(np.int64).max)[by_exit]
    added = np.vstack([np.zeros(4), np.cumsum(parts[by_exit], axis=0)])
    dropped = np.vstack([np.zeros(4), np.cumsum(parts, axis=0)])  # signals are in bar order
    sums = (added[np.searchsorted(exits, signal_bar, side="left")]
            - dropped[np.searchsorted(signal_bar, signal_bar - window, side="left")])
    n, sxx, sxy, syy = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = sxy / sxx
        rss = np.maximum(syy - beta * sxy, 0.0)
        se = np.sqrt(rss / np.maximum(n - 1, 1) / sxx)
    enough = n >= MIN_TRADES
    return np.where(enough, beta, np.nan), np.where(enough, se, np.nan), np.round(n).astype(np.int64)

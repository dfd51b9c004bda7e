"""What the direction models learn to predict, and the size of the move a label stands for.

Two kinds (``LABEL_KINDS``), each giving per bar t a 0/1 label ``y`` (NaN while unknown), the
return ``move`` it looked at, and ``lag``: the label of bar t is known at bar t + lag.

- ``direction`` (the default, what the live system learns): close[t + h] > close[t] with
  h = ``label_horizon`` (:func:`engine.features.make_labels`); move = close[t + h] / close[t] - 1.
- ``triple_barrier`` (López de Prado): the trader's own exit rules (engine.trading.simulator)
  for a LONG entered at the next bar's open: 1 if it ends above its entry (take-profit first, or
  a higher close at the time limit), 0 if below (stop-loss first, or a lower close at the limit);
  move = exit / entry - 1; lag = max_holding_bars. Fees and slippage are left out: the label is
  about the price path; the trade's cost is the cost gate's and the outcome model's business.

:func:`mean_abs_move` gives, causally, the recent typical size of that move: the cost gate's
yardstick for the expected move |2p - 1| x mean |move| (engine.trading.signals).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.errors import ValidationError
from engine.features import make_labels
from engine.trading.simulator import TradeRules, bar_windows, find_exits

LABEL_KINDS = ("direction", "triple_barrier")


@dataclass(frozen=True)
class Labels:
    """Per bar: ``y`` (1.0/0.0, NaN while unknown) and ``move`` (the return behind it); ``lag`` bars
    until a bar's label is known."""

    kind: str
    y: np.ndarray
    move: np.ndarray
    lag: int


def make(candles: pd.DataFrame, kind: str, horizon: int, rules: TradeRules) -> Labels:
    """The labels of ``kind`` for ``candles`` (ascending); ``horizon`` is the direction label's.

    >>> from engine.trading.simulator import TradeRules
    >>> bars = pd.DataFrame({"open": [100., 100, 103, 101], "high": [100., 103, 104, 102],
    ...                      "low": [100., 99.5, 102, 100], "close": [100., 102, 103, 101]})
    >>> rules = TradeRules(stake=1, fee_pct=0.1, slippage_pct=0.1, take_profit_pct=2, stop_loss_pct=1,
    ...                    max_holding_bars=2)
    >>> make(bars, "triple_barrier", 1, rules).y.tolist()  # bar 0: the LONG from 100 reaches 102 first
    [1.0, 0.0, nan, nan]
    """
    close = candles["close"].to_numpy(float)
    if kind == "direction":
        y = make_labels(candles["close"], horizon).to_numpy(float)
        move = np.full(len(close), np.nan)
        move[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
        return Labels(kind, y, move, horizon)
    if kind != "triple_barrier":
        raise ValidationError("label", f"must be one of {', '.join(LABEL_KINDS)}, got {kind!r}")
    price_only = replace(rules, slippage_pct=0.0)
    y, move = np.full(len(close), np.nan), np.full(len(close), np.nan)
    if len(close) > 1:
        entry = candles["open"].to_numpy(float)[1:]
        windows = (bar_windows(candles[c].to_numpy(float), rules.max_holding_bars)[1:]
                   for c in ("open", "high", "low", "close"))
        found = find_exits(1, entry, *windows, price_only)
        known = found.offset >= 0
        move[:-1] = np.where(known, found.price / entry - 1.0, np.nan)
        y[:-1] = np.where(known, (move[:-1] > 0).astype(float), np.nan)
    return Labels(kind, y, move, rules.max_holding_bars)


def mean_abs_move(labels: Labels, window: int) -> np.ndarray:
    """Per bar t: the mean |move| of the newest ``window`` labels known at t (bars <= t - lag),
    NaN before any is known.

    >>> mean_abs_move(Labels("direction", np.zeros(5), np.array([0.01, -0.03, 0.02, np.nan, np.nan]), 2), 2)
    array([  nan,   nan, 0.01 , 0.02 , 0.025])
    """
    known = pd.Series(np.abs(labels.move)).shift(labels.lag)
    return known.rolling(window, min_periods=1).mean().to_numpy()

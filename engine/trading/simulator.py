"""The exit-rule engine: one paper trade over the candles that follow its signal. Pure functions.

A trade enters at the open of the bar after its signal, paying slippage against it
(LONG fills higher, SHORT lower). Take-profit and stop-loss are set from that fill price.
From the entry bar on, each bar is checked in the order its prices could have happened:

1. the open already beyond a level (a gap through it, or a huge slippage): fill at the open;
2. the bar touches the stop-loss: fill at the stop (also when it touches both levels, as
   the order inside a bar is unknown, the stop is assumed first: the conservative choice);
3. the bar touches the take-profit: fill at it;
4. after ``max_holding_bars`` bars (entry bar included): fill at that bar's close.

Exits pay slippage against the trade too; fees are a percentage of the notional on each side.
Bars are rows (a gap in the data is not a bar).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from engine.errors import ValidationError

TAKE_PROFIT, STOP_LOSS, MAX_HOLDING = "take_profit", "stop_loss", "max_holding"


@dataclass(frozen=True)
class TradeRules:
    """Sizing, costs and exits of a paper trade (percentages as in the config, e.g. 0.1 = 0.1 %).

    >>> r = TradeRules(stake=1000, fee_pct=0.1, slippage_pct=0.0, take_profit_pct=2, stop_loss_pct=1,
    ...                max_holding_bars=24)
    >>> round(settle(1, 100.0, 102.0, r)["pnl"], 2)  # +20 gross, 1.00 + 1.02 fees
    17.98
    """

    stake: float
    fee_pct: float
    slippage_pct: float
    take_profit_pct: float
    stop_loss_pct: float
    max_holding_bars: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TradeRules":
        return cls(stake=float(config["trade_stake_usdt"]), fee_pct=float(config["trade_fee_pct"]),
                   slippage_pct=float(config["trade_slippage_pct"]),
                   take_profit_pct=float(config["take_profit_pct"]),
                   stop_loss_pct=float(config["stop_loss_pct"]),
                   max_holding_bars=int(config["max_holding_bars"]))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Exit:
    """Where a trade ends: ``offset`` bars after its entry bar (0 = the entry bar itself)."""

    offset: int
    price: float  # the level or open/close that triggered, before slippage
    reason: str


def entry_fill(direction: int, open_price: float, rules: TradeRules) -> float:
    """The entry price after slippage (+1 LONG pays more, -1 SHORT receives less)."""
    return open_price * (1.0 + direction * rules.slippage_pct / 100.0)


def levels(direction: int, entry_price: float, rules: TradeRules) -> tuple[float, float]:
    """(take_profit, stop_loss) prices around the entry fill."""
    tp = entry_price * (1.0 + direction * rules.take_profit_pct / 100.0)
    sl = entry_price * (1.0 - direction * rules.stop_loss_pct / 100.0)
    return tp, sl


@dataclass(frozen=True)
class Exits:
    """Exits of many trades at once (arrays, one entry per trade): ``offset`` from the entry bar
    (-1 while still open), trigger ``price`` (NaN while open) and ``reason`` ("" while open)."""

    offset: np.ndarray
    price: np.ndarray
    reason: np.ndarray


def bar_windows(values: np.ndarray, width: int) -> np.ndarray:
    """Row i = values[i : i + width] (NaN past the end): the bars a trade entering at bar i can see.

    >>> bar_windows(np.array([1.0, 2.0, 3.0]), 2).tolist()
    [[1.0, 2.0], [2.0, 3.0], [3.0, nan]]
    """
    padded = np.concatenate([np.asarray(values, dtype=float), np.full(width - 1, np.nan)])
    return np.lib.stride_tricks.sliding_window_view(padded, width)


def find_exits(direction, entry_price, opens: np.ndarray, highs: np.ndarray, lows: np.ndarray,
               closes: np.ndarray, rules: TradeRules) -> Exits:
    """The exit rules for many trades: row k of the (n, w) price arrays holds trade k's bars from
    its entry bar on (NaN where the data ends); ``direction`` and ``entry_price`` are per trade
    (or one for all). Only the first ``max_holding_bars`` columns are used."""
    d = np.broadcast_to(np.asarray(direction), (len(opens),))
    if not np.isin(d, (1, -1)).all():
        raise ValidationError("direction", "must be 1 (LONG) or -1 (SHORT)")
    n = rules.max_holding_bars
    o, h, l, c = (np.asarray(a, dtype=float)[:, :n] for a in (opens, highs, lows, closes))
    tp, sl = (level[:, None] for level in levels(d, np.asarray(entry_price, dtype=float), rules))
    long = (d > 0)[:, None]
    with np.errstate(invalid="ignore"):
        sl_hit, tp_hit = np.where(long, l <= sl, h >= sl), np.where(long, h >= tp, l <= tp)
        gap_sl, gap_tp = np.where(long, o <= sl, o >= sl), np.where(long, o >= tp, o <= tp)
    hit = sl_hit | tp_hit  # a gap through a level also touches it
    rows, first = np.arange(len(o)), hit.argmax(axis=1)
    stop = gap_sl[rows, first] | (sl_hit[rows, first] & ~gap_tp[rows, first])
    price = np.where(gap_sl[rows, first] | gap_tp[rows, first], o[rows, first],
                     np.where(stop, sl[:, 0], tp[:, 0]))
    reason = np.where(stop, STOP_LOSS, TAKE_PROFIT).astype(object)
    hit_any = hit.any(axis=1)
    timed_out = ~hit_any & (o.shape[1] == n) & np.isfinite(c[:, -1] if o.shape[1] else np.zeros(len(o)))
    offset = np.where(hit_any, first, np.where(timed_out, n - 1, -1))
    price = np.where(hit_any, price, np.where(timed_out, c[:, -1] if o.shape[1] else np.nan, np.nan))
    reason[~hit_any] = np.where(timed_out[~hit_any], MAX_HOLDING, "")
    return Exits(offset, price, reason)


def find_exit(direction: int, entry_price: float, opens: np.ndarray, highs: np.ndarray,
              lows: np.ndarray, closes: np.ndarray, rules: TradeRules) -> Exit | None:
    """The exit over bars starting at the entry bar; None while it is still open (too few bars)."""
    n = rules.max_holding_bars
    window = [np.full((1, n), np.nan) for _ in range(4)]
    for row, values in zip(window, (opens, highs, lows, closes)):
        values = np.asarray(values, dtype=float)[:n]
        row[0, :len(values)] = values
    found = find_exits(direction, entry_price, *window, rules)
    if found.offset[0] < 0:
        return None
    return Exit(int(found.offset[0]), float(found.price[0]), str(found.reason[0]))


def settle(direction: int, entry_price: float, exit_trigger: float, rules: TradeRules) -> dict[str, float]:
    """Fills, quantity, fees and PnL (USDT, after fees) of a round trip; works on arrays of exits too."""
    exit_price = exit_trigger * (1.0 - direction * rules.slippage_pct / 100.0)
    quantity = rules.stake / entry_price
    gross = direction * quantity * (exit_price - entry_price)
    fees = (rules.stake + quantity * exit_price) * rules.fee_pct / 100.0
    return {"exit_price": exit_price, "quantity": quantity, "gross_pnl": gross, "fees": fees,
            "pnl": gross - fees, "return_pct": (gross - fees) / rules.stake * 100.0}

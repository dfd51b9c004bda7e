"""The paper-trading rules over history: walk-forward predictions in, trades and their scores out.

Same signal rule, same exit engine and same statistics as the live PaperTrader: a prediction
made on bar t (P(up) over ``signal_confidence_threshold`` -> LONG, P(down) over it -> SHORT)
enters at bar t+1's open when fewer than ``max_open_trades_per_symbol`` trades are open.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.errors import ValidationError
from engine.trading.signals import SIDES, directions
from engine.trading.simulator import TradeRules, bar_windows, entry_fill, find_exits, settle
from engine.trading.stats import summarize


def signal_trades(candles: pd.DataFrame, bars: np.ndarray, sides: np.ndarray, rules: TradeRules) -> dict[str, np.ndarray]:
    """The trade each signal would make, all at once (arrays, one entry per signal): a signal on bar
    ``bars[k]`` with side ``sides[k]`` (+1/-1) enters at the next bar's open. Keys: ``entry_bar``,
    ``entry_price``, ``exit_bar`` (-1 while still open when the data ends), ``reason``, ``side`` and
    :func:`settle`'s fields (NaN while open). The signal bars must have a next bar."""
    opens, highs, lows, closes = (candles[c].to_numpy(float) for c in ("open", "high", "low", "close"))
    entry_bar = np.asarray(bars, dtype=np.int64) + 1
    sides = np.asarray(sides, dtype=np.int64)
    entry = entry_fill(sides, opens[entry_bar], rules)
    width = rules.max_holding_bars
    found = find_exits(sides, entry, *(bar_windows(a, width)[entry_bar] for a in (opens, highs, lows, closes)), rules)
    closed = found.offset >= 0
    return {"entry_bar": entry_bar, "entry_price": entry, "exit_bar": np.where(closed, entry_bar + found.offset, -1),
            "reason": found.reason, "side": sides, **settle(sides, entry, found.price, rules)}


def select(signal_bars: np.ndarray, exit_bars: np.ndarray, max_open: int = 1) -> np.ndarray:
    """Which signals (bars ascending, with the exit bar of the trade each would open; -1: still open
    when the data ends) become trades when at most ``max_open`` are open: a signal on bar t is taken
    unless ``max_open`` trades taken before are still open at t (their exit bar is after t).

    >>> select(np.array([0, 1, 3, 5]), np.array([3, 4, 6, -1])).tolist()  # bar 1: the trade of bar 0 is open
    [0, 2]
    """
    exits = np.where(np.asarray(exit_bars) < 0, np.iinfo(np.int64).max, exit_bars)
    if max_open == 1:  # follow the chain: after a trade, the next signal on or after its exit bar
        following = np.searchsorted(signal_bars, exits, side="left")
        taken, k = [], 0
        while k < len(signal_bars):
            taken.append(k)
            k = following[k]
        return np.array(taken, dtype=np.int64)
    taken, open_exits = [], []
    for k, t in enumerate(np.asarray(signal_bars).tolist()):
        open_exits = [x for x in open_exits if x > t]
        if len(open_exits) < max_open:
            taken.append(k)
            open_exits.append(exits[k])
    return np.array(taken, dtype=np.int64)


def simulate(candles: pd.DataFrame, direction: np.ndarray, rules: TradeRules, max_open: int = 1,
             symbol: str = "", size: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Trades for per-bar directions (+1/-1/0, aligned with ``candles`` rows, signal on bar t ->
    entry at t+1), at most ``max_open`` at a time (:func:`select`). ``size`` (per bar, default 1)
    multiplies the stake of the trade a bar's signal opens. Trades still open when the data ends
    are returned with status 'open'."""
    times = candles["open_time"].to_numpy(np.int64)
    bars = np.flatnonzero(direction[:-1])
    found = signal_trades(candles, bars, direction[bars], rules)
    scale = np.ones(len(bars)) if size is None else np.asarray(size, dtype=float)[bars]
    trades: list[dict[str, Any]] = []
    for k in select(bars, found["exit_bar"], max_open).tolist():
        t, e, x = int(bars[k]), int(found["entry_bar"][k]), int(found["exit_bar"][k])
        trade = {"id": len(trades) + 1, "symbol": symbol, "side": SIDES[int(direction[t])], "signal_time": int(times[t]),
                 "entry_time": int(times[e]), "entry_price": float(found["entry_price"][k])}
        if x < 0:
            trades.append(trade | {"status": "open"})
            continue
        money = {key: float(found[key][k] * scale[k]) for key in ("quantity", "gross_pnl", "fees", "pnl")}
        trades.append(trade | money | {
            "exit_price": float(found["exit_price"][k]), "return_pct": float(found["return_pct"][k]),
            "status": "closed", "exit_time": int(times[x]), "exit_reason": str(found["reason"][k]),
            "bars_held": x - e + 1})
    return trades


def backtest(candles: pd.DataFrame, predictions: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, Any]:
    """Simulate the trading rules over ``predictions`` (columns open_time, prob_up; bars without
    one get no signal) and score them against buy-and-hold over the same bars, after fees.

    The result is ``summarize``'s dict plus ``signals`` (bars with a signal), ``bars``, and
    ``trade_list`` (the trades, oldest first).
    """
    missing = {"open_time", "prob_up"} - set(predictions.columns)
    if missing:
        raise ValidationError("predictions", f"missing column(s): {', '.join(sorted(missing))}")
    candles = candles.sort_values("open_time", ignore_index=True)
    prob = (predictions.drop_duplicates("open_time", keep="last").set_index("open_time")["prob_up"]
            .reindex(candles["open_time"]).to_numpy(float))
    if not np.isfinite(prob).any():
        raise ValidationError("predictions", "no prediction matches a candle's open_time")
    direction = directions(prob, float(config["signal_confidence_threshold"]))
    rules = TradeRules.from_config(config)
    trades = simulate(candles, direction, rules, int(config["max_open_trades_per_symbol"]))
    first = int(np.flatnonzero(np.isfinite(prob))[0])
    span = candles.iloc[first + 1:] if first + 1 < len(candles) else candles.iloc[first:]
    return summarize(trades, {"": span}, rules) | {
        "signals": int(np.count_nonzero(direction)), "bars": len(span), "trade_list": trades}

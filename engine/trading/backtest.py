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
from engine.trading.simulator import TradeRules, entry_fill, find_exit, settle
from engine.trading.stats import summarize


def simulate(candles: pd.DataFrame, direction: np.ndarray, rules: TradeRules, max_open: int = 1,
             symbol: str = "") -> list[dict[str, Any]]:
    """Trades for per-bar directions (+1/-1/0, aligned with ``candles`` rows, signal on bar t ->
    entry at t+1). Trades still open when the data ends are returned with status 'open'."""
    times = candles["open_time"].to_numpy(np.int64)
    opens, highs, lows, closes = (candles[c].to_numpy(float) for c in ("open", "high", "low", "close"))
    trades: list[dict[str, Any]] = []
    exits: list[int] = []  # exit bar of each trade still open at the current signal bar
    for t in np.flatnonzero(direction[:-1]).tolist():
        exits = [x for x in exits if x > t]
        if len(exits) >= max_open:
            continue
        d, e = int(direction[t]), t + 1
        entry = entry_fill(d, opens[e], rules)
        trade = {"id": len(trades) + 1, "symbol": symbol, "side": SIDES[d], "signal_time": int(times[t]),
                 "entry_time": int(times[e]), "entry_price": entry}
        found = find_exit(d, entry, opens[e:], highs[e:], lows[e:], closes[e:], rules)
        if found is None:
            trades.append(trade | {"status": "open"})
            exits.append(len(times))
            continue
        x = e + found.offset
        exits.append(x)
        trades.append(trade | settle(d, entry, found.price, rules) | {
            "status": "closed", "exit_time": int(times[x]), "exit_reason": found.reason,
            "bars_held": found.offset + 1})
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

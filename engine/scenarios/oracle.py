"""What the best possible forecaster and trader make of a scenario market, on the evaluated bars.

- **Oracle accuracy** (Bayes): the calls of the oracle's P(up) -- it knows the laws and their
  schedule and filters any hidden state from the bars so far, so no model seeing the same
  candles can do better on average; the clairvoyant (hidden state known) is an upper bound.
- **Oracle trader**: today's trading rules (signal threshold, take-profit / stop-loss / time
  exit, fees and slippage) fed with the oracle's P(up), no gates: what the edge is worth under
  these rules. Its PnL interval above 0 means the edge clearly pays the costs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.labels import make as make_labels
from engine.metrics import summarize
from engine.outcome.walk import signal_outcomes
from engine.scenarios.market import ScenarioMarket
from engine.trade_evaluation import strategy_moments, summarize_strategies
from engine.trading.simulator import TradeRules


def oracle_report(market: ScenarioMarket, config: dict, first_ms: int | None = None, last_ms: int | None = None,
                  interval: str = "1h", seeds: int = 50) -> dict:
    """``{"accuracy": summarize(oracle), "clairvoyant": summarize(clairvoyant), "trader": strategy summary}``
    over the bars opened in [first_ms, last_ms] (default: all but the warm-up the models need, so the
    figures are on the same bars as a walk-forward from ``first_ms``)."""
    candles = market.candles
    times = candles["open_time"].to_numpy(np.int64)
    span = np.ones(len(times), bool)
    if first_ms is not None:
        span &= times >= first_ms
    if last_ms is not None:
        span &= times <= last_ms
    first, stop = int(np.argmax(span)), int(len(span) - np.argmax(span[::-1]))
    labels = make_labels(candles, "direction", 1, TradeRules.from_config(config))
    y = labels.y[span]
    out = {"accuracy": summarize(y, market.p_oracle[span]), "clairvoyant": summarize(y, market.p_clairvoyant[span])}
    p_up = np.where(np.arange(len(times)) < stop, market.p_oracle, np.nan)
    signals = pd.DataFrame(signal_outcomes(candles.iloc[:stop], p_up[:stop], config, first))
    signals = signals.assign(cost_ok=True, outcome_ok=True, size=1.0)
    moment_sets = strategy_moments(candles.iloc[:stop], signals, config, first, seeds=seeds)
    out["trader"] = summarize_strategies({"rules": moment_sets["rules"], "buy_and_hold": moment_sets["buy_and_hold"]},
                                         interval)["rules"]
    return out

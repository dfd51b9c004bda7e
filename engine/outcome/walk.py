"""The outcome model over history: every signal's simulated trade, learned when it closes.

:func:`signal_outcomes` turns the hybrid's walk-forward P(up) into the signals the live trader
would see (confidence over ``signal_confidence_threshold``) and settles the trade each would open
under the trading rules (engine.trading.backtest.signal_trades: fees and slippage included),
whether or not a trade is taken: the outcome model must also learn from the signals it blocks,
or a gate that closed once would never learn to open again (live it learns the same outcomes:
closed trades, and the simulated trades of skipped signals).

:func:`outcome_walk` replays them in time: before judging the signal of bar t, the learner
scores-then-learns every outcome whose trade closed by bar t, one exit bar at a time, oldest
first (as the live pipeline does after each candle), and the threshold is re-chosen from the outcomes scored so far
(engine.outcome.threshold). A signal is judged only once MIN_SAMPLES outcomes were learned, and
passes only while the learner beats its base-rate baseline over its last ``online_health_window``
scored outcomes (``excluded`` otherwise).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.outcome.learner import OutcomeLearner, outcome_inputs
from engine.outcome.threshold import choose_threshold
from engine.trading.backtest import signal_trades
from engine.trading.signals import directions
from engine.trading.simulator import TradeRules


def signal_outcomes(candles: pd.DataFrame, prob_up: np.ndarray, config: dict, first: int = 0) -> dict[str, np.ndarray]:
    """The signals on bars >= ``first`` (and before the last bar) and the trades they would open:
    ``bar``, ``side``, ``p_up`` and :func:`signal_trades`' fields (``exit_bar`` -1 while still open)."""
    side = directions(prob_up, float(config["signal_confidence_threshold"]))
    side[:first] = 0
    bars = np.flatnonzero(side[:-1])
    trades = signal_trades(candles, bars, side[bars], TradeRules.from_config(config))
    return {"bar": bars, "side": side[bars].astype(np.int64), "p_up": np.asarray(prob_up, dtype=float)[bars], **trades}


def outcome_walk(signals: dict[str, np.ndarray], features: np.ndarray, config: dict,
                 learner: OutcomeLearner | None = None) -> dict:
    """P(win), the base-rate baseline's P(win), the threshold in force and whether the learner was
    ``excluded`` for each signal (NaN / False while the learner is not ready), and each outcome's P(win)
    when it was scored before being learned (``scored_p``; NaN if never or untrained). ``features`` holds
    the 23 features of every bar. Returns those arrays and the ``learner``."""
    learner = learner or OutcomeLearner()
    n = len(signals["bar"])
    inputs = outcome_inputs(features[signals["bar"]], signals["p_up"], signals["side"])
    target = (signals["pnl"] > 0).astype(int)
    closed = np.flatnonzero(signals["exit_bar"] >= 0)
    order = closed[np.lexsort((signals["bar"][closed], signals["exit_bar"][closed]))]  # by exit, then signal
    exit_sorted = signals["exit_bar"][order]
    p_win, base_p, threshold, scored_p = (np.full(n, np.nan) for _ in range(4))
    excluded = np.zeros(n, dtype=bool)
    learned, current = 0, choose_threshold(scored_p[:0], scored_p[:0], config["outcome_threshold"],
                                           config["outcome_threshold_auto"])[0]
    for k, bar in enumerate(signals["bar"].tolist()):
        known = int(np.searchsorted(exit_sorted, bar, side="right"))  # outcomes closed by this bar
        if known > learned:
            batch = order[learned:known]
            for group in np.split(batch, np.flatnonzero(np.diff(exit_sorted[learned:known])) + 1):
                p = learner.score_then_learn(inputs[group], target[group])  # one update per candle, as live
                if p is not None:
                    scored_p[group] = p
            learned = known
            done = order[:learned]
            current = choose_threshold(scored_p[done], signals["return_pct"][done], config["outcome_threshold"],
                                       config["outcome_threshold_auto"])[0]
        if learner.ready:
            p_win[k], base_p[k], threshold[k] = learner.predict_proba(inputs[k:k + 1])[0], learner.base_rate(), current
            excluded[k] = learner.health(config["online_health_window"])[1] is not None
    return {"p_win": p_win, "base_p": base_p, "threshold": threshold, "excluded": excluded, "scored_p": scored_p,
            "learner": learner}

"""The trading half of the walk-forward: the hybrid's calls become signals, pass the gates the live
trader applies, and the strategies are compared honestly (engine.trading.comparison).

Strategies, all over the same reported bars and the same trading rules (fees and slippage):
- ``rules``: today's rule, a signal whenever the hybrid's confidence exceeds
  ``signal_confidence_threshold``;
- ``rules_cost``: + the cost gate (expected move over the round-trip cost);
- ``rules_outcome``: + the outcome gate (outcome model P(win) over its threshold, stake scaled);
- ``rules_cost_outcome``: both gates; ``live`` names the one the config runs
  (``cost_gate_enabled``, ``outcome_gate_enabled``);
- ``always_flat`` (no trade, 0 PnL) and ``buy_and_hold``; each learned strategy is also set
  against random entry with its own trade count.

The outcome model starts warm: the hybrid already predicts over the ``outcome_warmup_days``
before the reported span, and the simulated trades of those signals are its first lessons
(engine.outcome.walk). Its thresholds are re-chosen only from outcomes closed before each signal,
so nothing about the reported span is tuned on the reported span.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.candles import INTERVAL_MS
from engine.metrics import summarize as score_summary
from engine.outcome import OutcomeLearner
from engine.outcome.walk import outcome_walk, signal_outcomes
from engine.trading.backtest import select
from engine.trading.comparison import (RANDOM_SEEDS, bar_series, bars_per_year, bootstrap_moments,
                                       buy_and_hold_series, moments, random_entry_moments, summarize)
from engine.trading.signals import round_trip_cost_pct, size_multiplier
from engine.trading.trade_move import MARGIN_SE, rolling
from engine.trading.simulator import TradeRules

STRATEGIES = ("rules", "rules_cost", "rules_outcome", "rules_cost_outcome")


def live_strategy(config: dict) -> str:
    """The strategy the config runs live."""
    return "rules" + "_cost" * config["cost_gate_enabled"] + "_outcome" * config["outcome_gate_enabled"]


def gated_signals(candles: pd.DataFrame, prob_up: np.ndarray, features: np.ndarray, config: dict, first: int,
                  learner: OutcomeLearner | None = None) -> pd.DataFrame:
    """Every signal from bar ``first`` on (see engine.outcome.walk), one row each: ``bar``, ``open_time``,
    ``side``, ``p_up``, ``expected_move_pct`` (over the trade, engine.trading.trade_move: measured on the
    signals whose trades closed before it), ``cost_ok``, ``p_win``, ``base_p``, ``threshold``,
    ``outcome_excluded``, ``outcome_ok``, ``size``, its trade (``exit_bar``, ``pnl``, ``return_pct``, ...) and
    ``scored_p``."""
    signals = signal_outcomes(candles, prob_up, config, first)
    walk = outcome_walk(signals, features, config, learner)
    cost = round_trip_cost_pct(config)
    edge = signals["side"] * (2.0 * signals["p_up"] - 1.0)
    window = max(config["expected_move_window_bars"], config["max_holding_bars"] + 1)
    beta, se, _ = rolling(signals["bar"], signals["exit_bar"], edge, signals["return_pct"] + cost, window)
    expected = (beta - MARGIN_SE * se) * edge
    with np.errstate(invalid="ignore"):
        cost_ok = expected > cost
        outcome_ok = (walk["p_win"] >= walk["threshold"]) & ~walk["excluded"]
    size = np.ones(len(expected))
    size[outcome_ok] = size_multiplier(walk["p_win"][outcome_ok], walk["threshold"][outcome_ok],
                                       config["outcome_size_max"])
    frame = pd.DataFrame({key: value for key, value in signals.items()})
    return frame.assign(open_time=candles["open_time"].to_numpy(np.int64)[signals["bar"]], expected_move_pct=expected,
                        cost_ok=cost_ok, p_win=walk["p_win"], base_p=walk["base_p"], threshold=walk["threshold"],
                        outcome_excluded=walk["excluded"], outcome_ok=outcome_ok, size=size, scored_p=walk["scored_p"])


def strategy_moments(candles: pd.DataFrame, signals: pd.DataFrame, config: dict, first: int,
                     seeds: int = RANDOM_SEEDS, stream: int = 0) -> dict:
    """Moments (engine.trading.comparison) per strategy over the bars after ``first`` (the first reported
    bar): ``point``, ``boot`` (block bootstrap, the same resamples for every strategy) and, for the learned
    strategies, ``random`` entry; ``stream`` seeds the draws (one per symbol pooled later)."""
    rules = TradeRules.from_config(config)
    max_open, capital = int(config["max_open_trades_per_symbol"]), rules.stake
    block = 2 * rules.max_holding_bars
    reported = signals[signals["bar"] >= first]
    masks = {"rules": np.ones(len(reported), bool), "rules_cost": reported["cost_ok"].to_numpy(),
             "rules_outcome": reported["outcome_ok"].to_numpy(),
             "rules_cost_outcome": (reported["cost_ok"] & reported["outcome_ok"]).to_numpy()}
    trades = {key: reported[key].to_numpy() for key in ("entry_bar", "exit_bar", "entry_price", "exit_price",
                                                         "quantity", "fees", "pnl", "side")}
    series = {}
    for name, mask in masks.items():
        rows = np.flatnonzero(mask)
        rows = rows[select(reported["bar"].to_numpy()[rows], trades["exit_bar"][rows], max_open)]
        scale = reported["size"].to_numpy()[rows] if "outcome" in name else None
        series[name] = bar_series(candles, {k: v[rows] for k, v in trades.items()}, rules, first + 1, scale)
    series["always_flat"] = np.zeros((3, len(candles) - first - 1))
    series["buy_and_hold"] = buy_and_hold_series(candles, rules, first + 1)
    boot = dict(zip(series, bootstrap_moments(list(series.values()), capital, block, stream)))
    out = {name: {"point": moments(s, capital), "boot": boot[name]} for name, s in series.items()}
    counts = [int(out[name]["point"]["trades"][0]) for name in masks]
    for name, random in zip(masks, random_entry_moments(candles, rules, first, counts, max_open, capital, seeds,
                                                         stream)):
        out[name]["random"] = random
    return out


def summarize_strategies(moment_sets: dict, interval: str) -> dict:
    """Each strategy's statistics, bootstrap intervals and random-entry comparison (comparison.summarize).
    Buy-and-hold is one position, not a sample of trades: its trade count and win rate get no interval."""
    per_year = bars_per_year(INTERVAL_MS[interval])
    out = {name: summarize(m["point"], m["boot"], per_year, m.get("random")) for name, m in moment_sets.items()}
    out["buy_and_hold"].update(trades_ci=[None, None], win_rate_ci=[None, None])
    return out


def verdict(strategies: dict, name: str, label: str) -> str:
    """Whether ``name`` beats always-flat and random entry, and by how much, in words."""
    s = strategies[name]
    if not s["trades"]:
        return f"{label} made no trade: the same as always-flat (0 USDT), and nothing to set against random entry."
    low, high = s["pnl_usdt_ci"]
    flat = ("beats always-flat" if low is not None and low > 0 else
            "loses to always-flat" if high is not None and high < 0 else "does not differ measurably from always-flat")
    text = (f"{label} ({s['trades']:.0f} trades) made {s['pnl_usdt']:+,.2f} USDT after fees (95 % block-bootstrap "
            f"interval {_usdt(low)} to {_usdt(high)}): it {flat} (0 USDT)")
    random = s.get("random")
    if random is None or random["pnl_usdt"]["mean"] is None:
        return text + "."
    r = random["pnl_usdt"]
    edge = s["pnl_usdt"] - r["mean"]
    against = ("beats random entry" if s["pnl_usdt"] > r["p95"] else
               "loses to random entry" if s["pnl_usdt"] < r["p05"] else "is within the spread of random entry")
    return (text + f"; against random entry with the same {s['trades']:.0f} trades ({r['mean']:+,.2f} ± {r['sd']:,.2f} "
                   f"USDT over {random['seeds']} seeds) it {against}: {edge:+,.2f} USDT, better than "
                   f"{100 * random['share_beaten']:.0f} % of the seeds.")


def _usdt(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


def trading_report(signals: pd.DataFrame, first: int, config: dict) -> dict:
    """What the gates did over the reported signals: counts, the cost yardstick, the outcome model's
    scores beside its base-rate baseline, and the thresholds in force."""
    reported = signals[signals["bar"] >= first]
    judged = reported[np.isfinite(reported["p_win"])]
    closed = judged[judged["exit_bar"] >= 0]
    target = (closed["pnl"] > 0).astype(float).to_numpy()
    thresholds = judged["threshold"].to_numpy()
    earlier = signals[(signals["bar"] < first) & np.isfinite(signals["scored_p"])]
    return {
        "signals": len(reported), "cost_ok": int(reported["cost_ok"].sum()),
        "outcome_judged": len(judged), "outcome_excluded": int(reported["outcome_excluded"].sum()),
        "outcome_ok": int(reported["outcome_ok"].sum()),
        "round_trip_cost_pct": round_trip_cost_pct(config),
        "expected_move_pct_median": float(np.nanmedian(reported["expected_move_pct"]))
        if np.isfinite(reported["expected_move_pct"]).any() else None,
        "outcome_model": {"model": score_summary(target, closed["p_win"].to_numpy()),
                          "baseline": score_summary(target, closed["base_p"].to_numpy()),
                          "learned_before_span": int(len(earlier))},
        "thresholds": {"first": float(thresholds[0]) if len(thresholds) else None,
                       "min": float(thresholds.min()) if len(thresholds) else None,
                       "max": float(thresholds.max()) if len(thresholds) else None,
                       "auto": config["outcome_threshold_auto"]},
    }

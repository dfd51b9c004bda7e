"""Walk-forward replay of one year of BTCUSDT 1h (2022), online updates every 6 bars and a daily
batch retrain: today's path beside the path with the outcome model, in the same run.

- today's path: the walk-forward without the trading half (``trading=False``: models, exclusions,
  champion rule, hybrid) plus the paper-trading backtest of the hybrid's calls, as ``evaluate``
  reported it before the outcome model;
- with the outcome model (``trading=True``, what ``evaluate`` runs now): the hybrid also predicts
  over the ``outcome_warmup_days`` before the year, every signal's trade is settled and learned by
  the outcome model when it closes, the gates are applied, and the strategies are compared (block
  bootstrap, random entry over 50 seeds per strategy).
Goal: with the outcome model <= 1.3 x today's time. Also printed as references: the feature
computation, the online track alone and the batch track alone (the replay runs the two tracks
concurrently, so it should take about the longer of the two), the outcome walk and the comparison.
Usage: python bench/walk_forward.py [online_every] [retrain_every]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.candles import INTERVAL_MS, load_sample  # noqa: E402
from engine.config import DEFAULTS  # noqa: E402
from engine.evaluation import DAY_MS, _batch_track, _online_track, walk_forward  # noqa: E402
from engine.features import WARMUP_BARS, compute_features, make_labels  # noqa: E402
from engine.labels import make as make_label_kind  # noqa: E402
from engine.trade_evaluation import gated_signals, strategy_moments  # noqa: E402
from engine.trading import TradeRules, backtest  # noqa: E402

START_MS = 1_640_995_200_000  # 2022-01-01 00:00 UTC


def _cpu_with_children() -> float:
    """CPU seconds of this process plus its finished children (the batch track's worker process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn):
    t, cpu = time.perf_counter(), _cpu_with_children()
    out = fn()
    return out, time.perf_counter() - t, _cpu_with_children() - cpu


def main(online_every: int = 6, retrain_every: int = 24) -> None:
    config = DEFAULTS
    burn_in = (config["batch_window_days"] + config["outcome_warmup_days"]) * DAY_MS + WARMUP_BARS * INTERVAL_MS["1h"]
    candles = load_sample("BTCUSDT")
    candles = candles[candles.open_time >= START_MS - burn_in].reset_index(drop=True)
    year = int((candles.open_time >= START_MS).sum())
    print(f"walk-forward BTCUSDT 1h 2022: {year} bars evaluated, {len(candles)} loaded (incl. the "
          f"{config['batch_window_days']}-day batch window and {config['outcome_warmup_days']} outcome warm-up days "
          f"before it); online every {online_every}, retrain every {retrain_every}")

    def today():
        result = walk_forward(candles, config, online_every, retrain_every, start_ms=START_MS, trading=False)
        calls = result.predictions[["open_time", "p_ensemble"]].rename(columns={"p_ensemble": "prob_up"})
        return result, backtest(candles[candles.open_time >= START_MS], calls, config)

    (base, trades), base_s, base_cpu = _timed(today)
    full, full_s, full_cpu = _timed(lambda: walk_forward(candles, config, online_every, retrain_every,
                                                         start_ms=START_MS))
    print(f"today's path:           {base_s:6.2f} s wall ({base_cpu:6.2f} s CPU) -> {year / base_s:5.0f} bars/s "
          f"({trades['trades']} trades of today's rules)")
    print(f"with the outcome model: {full_s:6.2f} s wall ({full_cpu:6.2f} s CPU) -> {year / full_s:5.0f} bars/s "
          f"({full.report['trading']['signals']} signals judged)")
    print(f"ratio: {full_s / base_s:.2f}x wall, {full_cpu / base_cpu:.2f}x CPU "
          f"(goal <= 1.3x: {'met' if full_s / base_s <= 1.3 else 'NOT met'})")

    X = compute_features(candles).to_numpy(dtype=np.float64)
    y = make_labels(candles["close"], 1).to_numpy(dtype=np.float64)
    valid = np.isfinite(X).all(axis=1)
    first, n = int(np.argmax(valid & (candles.open_time.to_numpy() >= START_MS))), len(candles)
    _, online_s, online_cpu = _timed(lambda: _online_track(X, y, valid, range(first, n, online_every), 1,
                                                           config["buffer_size"], config["online_health_window"]))
    _, batch_s, batch_cpu = _timed(lambda: _batch_track(X, y, valid, candles.open_time.to_numpy(),
                                                        range(first, n, retrain_every), 1,
                                                        config["batch_window_days"] * DAY_MS))
    labels = make_label_kind(candles, "direction", 1, TradeRules.from_config(config))
    begin = int(full.signals["bar"].iloc[0])  # the first signal of the warm-up window
    prob_up = np.full(n, np.nan)
    prob_up[full.signals["bar"].to_numpy()] = full.signals["p_up"].to_numpy()
    signals, walk_s, _ = _timed(lambda: gated_signals(candles, prob_up, X[:, :23], config, begin))
    _, compare_s, _ = _timed(lambda: strategy_moments(candles, signals, config, first))
    print(f"reference: online track alone {online_s:.2f} s wall, {online_cpu:.2f} s CPU; batch track alone "
          f"{batch_s:.2f} s wall, {batch_cpu:.2f} s CPU; today's replay / max(tracks) = "
          f"{base_s / max(online_s, batch_s):.2f}; signals + outcome walk {walk_s:.2f} s "
          f"({len(signals)} signals); strategies compared {compare_s:.2f} s")


if __name__ == "__main__":
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
    main(*(int(a) for a in sys.argv[1:3]))

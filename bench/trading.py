"""Benchmark: the trading simulation over all bundled BTCUSDT candles, in bars per second.

Signals come from a fixed random P(up) per bar (seeded), at a low and a high confidence
threshold (many and few trades). As a reference measured in the same run: one pass of a
plain-Python loop over the same bars reading o/h/l/c (the floor any per-bar loop pays).

    python -m bench.trading [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from engine.candles import load_sample
from engine.config import DEFAULTS
from engine.trading import backtest


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    candles = load_sample("BTCUSDT")
    n = len(candles)
    rng = np.random.default_rng(7)
    preds = candles[["open_time"]].assign(prob_up=rng.uniform(0.0, 1.0, n))
    o, h, l, c = (candles[k].to_numpy(float).tolist() for k in ("open", "high", "low", "close"))

    def plain_loop() -> int:
        hits = 0
        for i in range(n):
            hits += (l[i] < o[i] < h[i]) and c[i] > 0
        return hits

    ref_s, _ = best_of(args.repeat, plain_loop)
    print(f"bars: {n}")
    print(f"reference plain-Python loop over o/h/l/c: {ref_s * 1e3:.1f} ms ({n / ref_s:,.0f} bars/s)")
    for threshold in (0.5, 0.9):
        config = dict(DEFAULTS, signal_confidence_threshold=threshold)
        secs, res = best_of(args.repeat, lambda: backtest(candles, preds, config))
        print(f"backtest threshold={threshold}: {secs * 1e3:.1f} ms, {n / secs:,.0f} bars/s, "
              f"{res['trades']} trades, {secs / max(res['trades'], 1) * 1e6:.1f} µs/trade, "
              f"ratio vs reference loop: {secs / ref_s:.2f}x")


if __name__ == "__main__":
    main()

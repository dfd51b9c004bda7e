"""Benchmark: the trading simulation over all bundled BTCUSDT candles, in bars per second.

Signals come from a fixed random P(up) per bar (seeded), at a low and a high confidence
threshold (many and few trades). As a reference measured in the same run: one pass of a
plain-Python loop over the same bars reading o/h/l/c (the floor any per-bar loop pays).
Then the live path: a PaperTrader on a CandleStore (SQLite, temp dir) fed ``--live-bars`` bars
one at a time (upsert, on_candles, on_prediction), against the upserts alone.

    python bench/trading.py [--repeat 3] [--live-bars 1000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.candles import load_sample
from engine.config import DEFAULTS, validate
from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.store import CandleStore
from engine.trading import PaperTrader, backtest


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
    parser.add_argument("--live-bars", type=int, default=1000)
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
    live(candles.iloc[:args.live_bars], preds["prob_up"].to_numpy()[:args.live_bars])


def live(candles, probs) -> None:
    """Candle by candle through SQLite, as the pipeline runs it."""
    n, features = len(candles), {name: 0.0 for name in FEATURE_COLUMNS}
    config = validate({"signal_confidence_threshold": 0.5})
    with tempfile.TemporaryDirectory() as tmp:
        store_only = CandleStore(Database(Path(tmp) / "ref.db"))
        start = time.perf_counter()
        for i in range(n):
            store_only.upsert("BTCUSDT", "1h", candles.iloc[i:i + 1])
        ref_s = time.perf_counter() - start
        db = Database(Path(tmp) / "market.db")
        store = CandleStore(db)
        trader = PaperTrader(db, store, lambda: config, learn=lambda f, t, s: None)
        start = time.perf_counter()
        for i, t in enumerate(candles["open_time"].tolist()):
            store.upsert("BTCUSDT", "1h", candles.iloc[i:i + 1])
            trader.on_candles("BTCUSDT")
            p = float(probs[i])
            trader.on_prediction({"symbol": "BTCUSDT", "open_time": t, "ensemble_prediction": int(p > 0.5),
                                  "ensemble_confidence": max(p, 1 - p), "status": "ok", "features": features})
        secs = time.perf_counter() - start
    closed = len(trader.trades(status="closed"))
    print(f"live PaperTrader, {n} bars one at a time: {secs:.2f} s, {n / secs:,.0f} bars/s, {closed} trades closed, "
          f"{secs / n * 1e3:.2f} ms/bar; upserts alone {ref_s / n * 1e3:.2f} ms/bar "
          f"(ratio {secs / ref_s:.1f}x)")


if __name__ == "__main__":
    main()

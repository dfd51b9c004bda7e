"""Online learning speed on real BTCUSDT features: the persisted update and the in-memory learners.

Prints figures (not a test): update_models_incremental(50) with its SQLite + model-file I/O
(goal: median <= 10 ms), OnlineLearners.score_then_learn on 6 rows and predict_proba on 1 row,
each also as a ratio to one bare sklearn SGDClassifier.partial_fit on 6 rows measured in this run.
Run: python bench/online_update.py [updates]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.linear_model import SGDClassifier

from engine.candles import load_sample
from engine.config import validate
from engine.db import Database
from engine.features import build_dataset
from engine.online import OnlineLearners, OnlineLearningManager


def median_us(func, calls: int, batch: int = 1) -> float:
    """Median µs per call of ``func()`` over ``calls`` calls, timed in batches of ``batch``."""
    times = []
    for _ in range(calls // batch):
        start = time.perf_counter()
        for _ in range(batch):
            func()
        times.append((time.perf_counter() - start) / batch)
    return float(np.median(times)) * 1e6


def main(updates: int = 60) -> None:
    X, y = build_dataset(load_sample("BTCUSDT"), 1)
    X, y = X.iloc[-(1000 + 50 * updates):], y.iloc[-(1000 + 50 * updates):].to_numpy()

    reference = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.003)
    reference.partial_fit(X.to_numpy()[:50], y[:50], classes=[0, 1])
    ref_us = median_us(lambda: reference.partial_fit(X.to_numpy()[:6], y[:6], classes=[0, 1]), 300)
    print(f"reference: sklearn SGDClassifier.partial_fit on 6 rows {ref_us:.0f} us")

    with tempfile.TemporaryDirectory() as tmp:
        manager = OnlineLearningManager(Database(Path(tmp) / "market.db"), Path(tmp) / "models",
                                        Path(tmp) / "locks", lambda: validate({}))
        manager.add_samples(X.iloc[:1000], y[:1000], "BTCUSDT", "candle", X.index[:1000])
        manager.update_models_incremental(50)  # warm: full buffer, trained models
        times = []
        for i in range(updates):
            rows = slice(1000 + 50 * i, 1050 + 50 * i)
            manager.add_samples(X.iloc[rows], y[rows], "BTCUSDT", "candle", X.index[rows])
            start = time.perf_counter()
            result = manager.update_models_incremental(50)
            times.append(time.perf_counter() - start)
            assert result["samples"] == 50, result
        ms = np.array(times) * 1e3  # used again below, against the learning part alone
        print(f"update_models_incremental(50), buffer full, {updates} runs: median {np.median(ms):.1f} ms, "
              f"p90 {np.percentile(ms, 90):.1f} ms (goal median <= 10 ms)")
        row = X.iloc[-1:]
        manager_us = median_us(lambda: manager.predict_proba(row), 1000, 100)
        print(f"OnlineLearningManager.predict_proba on 1 row (DataFrame): {manager_us:.0f} us")

    learners = OnlineLearners()
    Xn = X.to_numpy()
    learners.score_then_learn(Xn[:1000], y[:1000])
    state = iter(range(1000, len(Xn) - 6, 6))

    def six_rows():
        i = next(state)
        learners.score_then_learn(Xn[i:i + 6], y[i:i + 6])

    stl_us = median_us(six_rows, min(300, (len(Xn) - 1006) // 6))
    fifty = iter(range(1000, len(Xn) - 50, 50))

    def fifty_rows():
        i = next(fifty)
        learners.score_then_learn(Xn[i:i + 50], y[i:i + 50])

    learn_ms = median_us(fifty_rows, min(updates, (len(Xn) - 1050) // 50)) / 1e3
    print(f"OnlineLearners.score_then_learn on 50 rows (the learning inside an update): {learn_ms:.1f} ms; "
          f"the rest of the update (SQLite, model file) ~ {np.median(ms) - learn_ms:.1f} ms")
    one_row = Xn[-1:]
    pp_us = median_us(lambda: learners.predict_proba(one_row), 2000, 100)
    print(f"OnlineLearners.score_then_learn on 6 rows: {stl_us:.0f} us ({stl_us / ref_us:.1f}x the reference)")
    print(f"OnlineLearners.predict_proba on 1 row: {pp_us:.0f} us ({pp_us / ref_us:.2f}x the reference)")
    print(f"walk-forward estimate, 8,760 bars (predict each bar, update every 6): "
          f"{(8760 * pp_us + 1460 * stl_us) / 1e6:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)

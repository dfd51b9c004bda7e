"""Hybrid predict for one symbol, in-process: median and p99 latency (goal: median <= 1 ms).

Sets up a throw-away data dir with real BTC candles, trains the real online and batch models,
then times HybridEnsemble.predict (logging each prediction) and, as references measured in the
same run, its parts: the store's newest-candle check, the models' one-row predict_proba calls,
the version lookup and one prediction-log insert. Usage: python bench/predict.py [calls]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch import BatchTrainer  # noqa: E402
from engine.candles import load_sample  # noqa: E402
from engine.config import validate  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.features import build_dataset  # noqa: E402
from engine.hybrid import HybridEnsemble  # noqa: E402
from engine.online import OnlineLearningManager  # noqa: E402
from engine.store import CandleStore  # noqa: E402


def timed(fn, calls: int) -> np.ndarray:
    """Per-call wall times in microseconds."""
    out = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1e6
    return out


def main(calls: int = 2000) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        run(Path(tmp), calls)


def run(root: Path, calls: int) -> None:
    config = validate({"symbols": ["BTCUSDT"], "batch_window_days": 30})
    db = Database(root / "market.db")
    store = CandleStore(db)
    candles = load_sample("BTCUSDT").iloc[-2000:]
    store.upsert("BTCUSDT", "1h", candles)
    online = OnlineLearningManager(db, root / "models", root / "locks", lambda: config)
    X, y = build_dataset(candles.iloc[:-1], 1)
    online.add_samples(X, y, "BTCUSDT", open_times=X.index.to_numpy())
    online.update_models_incremental()
    batch = BatchTrainer(db, store, root / "models", root / "locks", lambda: config)
    batch.retrain()
    hybrid = HybridEnsemble(db, store, online, batch, lambda: config)
    first = hybrid.predict("BTCUSDT")
    assert first["status"] == "ok", first["notes"]
    _, _, frame, values, _ = hybrid._feature_row("BTCUSDT", "1h")

    figures = {
        "predict (logged)": timed(lambda: hybrid.predict("BTCUSDT"), calls),
        "predict (not logged)": timed(lambda: hybrid.predict("BTCUSDT", store_prediction=False), calls),
        "  store.bounds (new candle?)": timed(lambda: store.bounds("BTCUSDT", "1h"), calls),
        "  online.predict_proba (3 models)": timed(lambda: online.predict_proba(frame), calls),
        "  batch.predict_proba": timed(lambda: batch.predict_proba(values), calls),
        "  model versions": timed(hybrid._versions, calls),
        "  log insert": timed(lambda: hybrid.log.record("BTCUSDT", "1h", first["open_time"], 1,
                                                       first["probabilities"], "ok"), calls),
    }
    print(f"hybrid predict, {calls} calls each (µs)")
    for name, t in figures.items():
        print(f"{name:<36} median {np.median(t):8.1f}   p99 {np.percentile(t, 99):8.1f}")
    median = np.median(figures["predict (logged)"]) / 1000
    print(f"median predict {median:.3f} ms (goal <= 1 ms): {'met' if median <= 1 else 'NOT met'}; "
          f"ratio to one online predict_proba call: "
          f"{np.median(figures['predict (logged)']) / np.median(figures['  online.predict_proba (3 models)']):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

"""Benchmark: the batch model's fit / predict speed, its out-of-sample quality, and a full retrain.

Prints (all on the bundled real candles, measured in this run):
- fit_batch_model on 2,160 rows (90 days of 1h bars; goal <= 40 ms: the walk-forward replay
  retrains daily, 365 times a year) and on 8,760 rows, next to LogisticRegression as reference;
- predict_proba on one row: the flat-array BatchModel vs sklearn's own HistGradientBoosting;
- walk-forward quality: rolling 90-day fits scored on the following ``--step`` bars they never
  saw, per symbol, for the batch model, LogisticRegression and the majority-class baseline
  (log loss is what the champion/challenger rule decides on; calibration error over 10 bins);
- BatchTrainer.retrain() wall time on 90 days of both symbols in a temporary CandleStore.

    python bench/batch_retrain.py [--step 168] [--repeat 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from engine.batch import BatchTrainer, fit_batch_model  # noqa: E402
from engine.batch.model import HGB_PARAMS, BatchModel  # noqa: E402
from engine.candles import load_sample  # noqa: E402
from engine.config import validate  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.features import build_dataset  # noqa: E402
from engine.metrics import summarize  # noqa: E402
from engine.store import CandleStore  # noqa: E402

WINDOW = 2160
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=300))


def timed(func, repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fit_speed(x: np.ndarray, y: np.ndarray, repeat: int) -> None:
    print("fit time (median ms)")
    for rows in (WINDOW, 8760):
        ours = timed(lambda: fit_batch_model(x[:rows], y[:rows]), repeat)
        ref = timed(lambda: logistic().fit(x[:rows], y[:rows]), repeat)
        print(f"  {rows:>5} rows: batch model {ours:7.1f}  logistic regression {ref:6.1f}  ratio {ours / ref:4.1f}x")


def predict_speed(x: np.ndarray, y: np.ndarray) -> None:
    est = HistGradientBoostingClassifier(**HGB_PARAMS).fit(x[:WINDOW], y[:WINDOW])
    model = BatchModel.from_estimator(est)
    row = x[WINDOW:WINDOW + 1]
    ours = timed(lambda: model.predict_proba(row), 2000) * 1e3
    ref = timed(lambda: est.predict_proba(row), 500) * 1e3
    print(f"predict_proba, 1 row (median µs): flat trees {ours:6.1f}  sklearn HGB {ref:6.1f}  "
          f"speed-up {ref / ours:4.1f}x")
    block = x[WINDOW:WINDOW + 8760]
    ours, ref = timed(lambda: model.predict_proba(block), 20), timed(lambda: est.predict_proba(block), 20)
    print(f"predict_proba, {len(block)} rows (median ms): flat trees {ours:6.1f}  sklearn HGB {ref:6.1f}")


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean P(up) - up-rate| over equal-count bins of P(up), weighted by size."""
    order = np.argsort(p, kind="stable")
    return float(sum(len(idx) * abs(p[idx].mean() - y[idx].mean()) for idx in np.array_split(order, bins)) / len(p))


def quality(symbol: str, x: np.ndarray, y: np.ndarray, step: int) -> None:
    probs: dict[str, list] = {"batch model": [], "logistic regression": [], "majority baseline": []}
    truth = []
    for start in range(0, len(y) - WINDOW - step + 1, step):
        train, test = slice(start, start + WINDOW - 1), slice(start + WINDOW, start + WINDOW + step)  # 1-bar purge
        probs["batch model"].append(fit_batch_model(x[train], y[train]).predict_proba(x[test])[:, 1])
        probs["logistic regression"].append(logistic().fit(x[train], y[train]).predict_proba(x[test])[:, 1])
        probs["majority baseline"].append(np.full(step, y[train].mean()))
        truth.append(y[test])
    t = np.concatenate(truth)
    print(f"walk-forward {symbol}: {len(truth)} fits, {len(t)} unseen bars, up-rate {t.mean():.4f}")
    for name, p in probs.items():
        p = np.concatenate(p)
        s = summarize(t, p)
        print(f"  {name:20s} log loss {s['log_loss']:.5f} ±{s['log_loss_se']:.5f}  brier {s['brier']:.5f}  "
              f"accuracy {s['accuracy']:.4f} ±{s['accuracy_se']:.4f}  balanced {s['balanced_accuracy']:.4f}  "
              f"calibration error {calibration_error(t, p):.4f}")


def retrain_speed(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = Database(root / "market.db")
        store = CandleStore(db)
        for symbol in SYMBOLS:
            store.upsert(symbol, "1h", load_sample(symbol).iloc[-(WINDOW + 400):])
        config = validate({"symbols": list(SYMBOLS), "batch_window_days": 90})
        trainer = BatchTrainer(db, store, root / "models", root / "locks", lambda: config)
        durations = [trainer.retrain(trigger="bench")["duration_s"] for _ in range(repeat)]
        wall = timed(trainer.retrain, repeat)
        active = trainer.active()
        print(f"BatchTrainer.retrain(), 90 days x {len(SYMBOLS)} symbols ({active['rows']} rows): "
              f"median {wall:.0f} ms wall (recorded duration_s median {statistics.median(durations):.3f} s); "
              f"hold-out log loss {active['metrics']['log_loss']:.5f} vs baseline "
              f"{active['metrics']['baseline']['log_loss']:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=168, help="bars between refits in the walk-forward")
    parser.add_argument("--repeat", type=int, default=15, help="timing repetitions")
    args = parser.parse_args()
    data = {}
    for symbol in SYMBOLS:
        X, y = build_dataset(load_sample(symbol), 1)
        data[symbol] = (X.to_numpy(), y.to_numpy())
    x, y = data["BTCUSDT"]
    fit_speed(x, y, args.repeat)
    predict_speed(x, y)
    retrain_speed(max(3, args.repeat // 5))
    for symbol, (x, y) in data.items():
        quality(symbol, x, y, args.step)


if __name__ == "__main__":
    main()

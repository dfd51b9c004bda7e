"""Walk-forward replay of one year of BTCUSDT 1h (2022) with online updates every 6 bars and a
daily batch retrain (goal: <= 20 s on 2 cores). Prints seconds and bars per second, and as
references measured in the same run: the feature computation, the online track alone and the
batch track alone (the replay runs the two tracks concurrently, so it should take about the
longer of the two). Usage: python bench/walk_forward.py [online_every] [retrain_every]
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

START_MS = 1_640_995_200_000  # 2022-01-01 00:00 UTC


def _cpu_with_children() -> float:
    """CPU seconds of this process plus its finished children (the batch track's worker process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(online_every: int = 6, retrain_every: int = 24) -> None:
    config = DEFAULTS
    burn_in = config["batch_window_days"] * DAY_MS + WARMUP_BARS * INTERVAL_MS["1h"]
    candles = load_sample("BTCUSDT")
    candles = candles[candles.open_time >= START_MS - burn_in].reset_index(drop=True)
    year = int((candles.open_time >= START_MS).sum())

    t, cpu = time.perf_counter(), _cpu_with_children()
    result = walk_forward(candles, config, online_every, retrain_every, start_ms=START_MS)
    total, total_cpu = time.perf_counter() - t, _cpu_with_children() - cpu
    r = result.report
    print(f"walk-forward BTCUSDT 1h 2022: {year} bars evaluated, {len(candles)} loaded (incl. "
          f"the {config['batch_window_days']}-day window before it); online every {online_every}, retrain every {retrain_every}")
    print(f"total {total:.2f} s wall ({total_cpu:.2f} s CPU, this process and its batch worker)  ->  {year / total:.0f} bars/s "
          f"(goal: one year <= 20 s: {'met' if total <= 20 else 'NOT met'})")
    print(f"hybrid accuracy {r['hybrid']['accuracy']:.4f} ± {r['hybrid']['accuracy_se']:.4f}, "
          f"majority baseline {r['baselines']['majority_class']['accuracy']:.4f}")

    t = time.perf_counter()
    X = compute_features(candles).to_numpy(dtype=np.float64)
    features_s = time.perf_counter() - t
    y = make_labels(candles["close"], 1).to_numpy(dtype=np.float64)
    valid = np.isfinite(X).all(axis=1)
    first, n = int(np.argmax(valid & (candles.open_time.to_numpy() >= START_MS))), len(candles)
    t, cpu = time.perf_counter(), time.process_time()
    _online_track(X, y, valid, range(first, n, online_every), 1, config["buffer_size"])
    online_s, online_cpu = time.perf_counter() - t, time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    _batch_track(X, y, valid, candles.open_time.to_numpy(), range(first, n, retrain_every), 1,
                 config["batch_window_days"] * DAY_MS)
    batch_s, batch_cpu = time.perf_counter() - t, time.process_time() - cpu
    updates = len(range(first, n, online_every))
    fits = len(range(first, n, retrain_every))
    print(f"reference: features {features_s:.2f} s; online track alone {online_s:.2f} s wall, {online_cpu:.2f} s CPU "
          f"({1000 * online_s / updates:.1f} ms per update, {updates} updates); batch track alone {batch_s:.2f} s "
          f"wall, {batch_cpu:.2f} s CPU ({1000 * batch_s / fits:.1f} ms per fit, {fits} fits); replay / max(tracks) = "
          f"{total / max(online_s, batch_s):.2f}, replay / sum(tracks) = {total / (online_s + batch_s):.2f}")


if __name__ == "__main__":
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
    main(*(int(a) for a in sys.argv[1:3]))

"""Walk-forward time of one year of BTCUSDT 1h (2022), online updates every 6 bars and a daily batch
retrain, with everything the evaluation does now (input groups, the batch window ladder with its live
record, the adaptive weights, the rolling reference, the trading half), beside the same year run by
the release before the learning changes (``REFERENCE_COMMIT``, extracted with ``git archive`` into a
temporary folder and run in a subprocess of this run) -- A B A B, so both see the same machine load.

Goal: <= 1.3 x the reference's time. Also printed: the tracks alone (the replay runs the online and
the batch tracks concurrently, so it should take about the longer of the two).
Usage: python bench/walk_forward.py [repeats] [reference_commit]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFERENCE_COMMIT = "3679bfa"  # the last commit before "Learning that adapts"
START_MS = 1_640_995_200_000  # 2022-01-01 00:00 UTC
RUN = """
import sys, time
sys.path.insert(0, {root!r})
from engine.candles import INTERVAL_MS, load_sample
from engine.config import DEFAULTS
from engine.evaluation import DAY_MS, walk_forward
config = DEFAULTS
burn_in = (config["batch_window_days"] + config["outcome_warmup_days"]) * DAY_MS + 72 * INTERVAL_MS["1h"]
candles = load_sample("BTCUSDT")
candles = candles[candles.open_time >= {start} - burn_in].reset_index(drop=True)
if __name__ == "__main__":
    t = time.perf_counter()
    result = walk_forward(candles, config, 6, 24, start_ms={start})
    print(time.perf_counter() - t, result.report["hybrid"]["accuracy"], result.report["bars_evaluated"])
"""


def extract(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "engine", "data/sample"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def timed(root: Path) -> tuple[float, float, int]:
    script = root / "bench_run.py"
    script.write_text(RUN.format(root=str(root), start=START_MS))
    out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def tracks() -> None:
    """The two tracks of today's replay, alone."""
    from engine.candles import load_sample
    from engine.config import DEFAULTS
    from engine.evaluation import _batch_track, _online_track
    from engine.features.inputs import compute_inputs, spec, usable
    from engine.labels import make
    from engine.trading.simulator import TradeRules

    candles = load_sample("BTCUSDT")
    candles = candles[candles.open_time >= START_MS - 125 * 86_400_000].reset_index(drop=True)
    inputs = spec(DEFAULTS)
    frame = compute_inputs(candles, inputs)
    X, valid = frame.to_numpy(), usable(frame)
    y = make(candles, "direction", 1, TradeRules.from_config(DEFAULTS)).y
    first = int(np.argmax(valid & (candles.open_time.to_numpy() >= START_MS)))
    t = time.perf_counter()
    _online_track(X, y, valid, range(first, len(y), 6), 1, DEFAULTS["buffer_size"], inputs.names)
    online = time.perf_counter() - t
    t = time.perf_counter()
    _batch_track(X, y, valid, candles.open_time.to_numpy(), range(first, len(y), 24), 1, DEFAULTS["batch_window_days"],
                 "1h", inputs.names)
    print(f"today's tracks alone: online {online:.2f} s, batch {time.perf_counter() - t:.2f} s")


def main(repeats: int = 2, commit: str = REFERENCE_COMMIT) -> None:
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
    with tempfile.TemporaryDirectory() as tmp:
        reference = extract(commit, Path(tmp))
        ours, theirs = [], []
        for _ in range(repeats):
            theirs.append(timed(reference))
            ours.append(timed(ROOT))
    for name, runs in (("reference " + commit, theirs), ("today", ours)):
        times = [r[0] for r in runs]
        print(f"{name:18s} {runs[0][2]} bars of 2022: {min(times):.2f} / {np.median(times):.2f} / {max(times):.2f} s "
              f"(min / median / max of {repeats}), hybrid accuracy {runs[0][1]:.4f}")
    ratio = np.median([o[0] for o in ours]) / np.median([t[0] for t in theirs])
    print(f"ratio today / reference: {ratio:.2f}x (goal <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}); "
          f"per pair: {', '.join(f'{o[0] / t[0]:.2f}' for o, t in zip(ours, theirs))}")
    tracks()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(*(int(a) if i == 0 else a for i, a in enumerate(sys.argv[1:3])))

"""Feature pipeline speed: numpy fallback vs TA-Lib on 1,000,000 candles, and latest_features.

Prints figures (not a test). The 1M candles are the bundled BTCUSDT hours repeated: each bar's
return and its open/high/low/volume relative to the close are tiled, so prices stay realistic.
Run: python bench/features.py [n_candles]  (or python -m bench.features)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.candles import load_sample
from engine.features import HISTORY_BARS, compute_features, latest_features


def synthetic_candles(n: int) -> pd.DataFrame:
    """``n`` hourly candles built by tiling the BTC sample's returns and candle shapes."""
    real = load_sample("BTCUSDT")
    close = real["close"].to_numpy()
    reps = -(-n // len(close))
    log_return = np.tile(np.diff(np.log(close), prepend=np.log(close[0])), reps)[:n]
    new_close = close[0] * np.exp(np.cumsum(log_return))
    shape = {c: np.tile(real[c].to_numpy() / close, reps)[:n] for c in ("open", "high", "low")}
    return pd.DataFrame({
        "open_time": 1_500_000_000_000 + 3_600_000 * np.arange(n, dtype=np.int64),
        **{c: shape[c] * new_close for c in shape},
        "close": new_close,
        "volume": np.tile(real["volume"].to_numpy(), reps)[:n],
    })


def best_times(repeat: int, funcs: dict) -> dict[str, float]:
    """Fastest of ``repeat`` runs of each function (seconds), runs interleaved so load hits all alike."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def per_call_us(candles: pd.DataFrame, backend: str, calls: int = 2000) -> float:
    """Median µs of latest_features over ``calls`` calls (in batches of 100)."""
    batches = []
    for _ in range(calls // 100):
        start = time.perf_counter()
        for _ in range(100):
            latest_features(candles, backend)
        batches.append((time.perf_counter() - start) / 100)
    return float(np.median(batches)) * 1e6


def main(n: int = 1_000_000) -> None:
    candles = synthetic_candles(n)
    compute_features(candles.head(1000), "numpy")  # warm imports
    best = best_times(5, {b: (lambda b=b: compute_features(candles, b)) for b in ("talib", "numpy")})
    talib_s, numpy_s = best["talib"], best["numpy"]
    print(f"compute_features on {n:,} candles: talib {talib_s * 1e3:.1f} ms, numpy {numpy_s * 1e3:.1f} ms, "
          f"numpy/talib = {numpy_s / talib_s:.2f}x (goal <= 2.0x)")
    for bars in (200, HISTORY_BARS):
        tail = candles.tail(bars).reset_index(drop=True)
        figures = ", ".join(f"{b} {per_call_us(tail, b):.0f} us" for b in ("talib", "numpy"))
        print(f"latest_features on {bars} bars: {figures}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

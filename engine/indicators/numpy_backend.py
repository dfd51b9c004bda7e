"""TA-Lib's indicator definitions re-implemented with vectorized numpy/scipy (no Python loops).

Recursive smoothers (EMA, Wilder) run through ``scipy.signal.lfilter`` with the initial state
set to TA-Lib's SMA seed. Window sums, maxima and minima are built by doubling: windows of
1, 2, 4, 8 … values are combined pairwise and a window of any width is the combination of the
power-of-two blocks of its binary digits — O(n log width), no cumulative-sum drift on long series.
Results are written in place where possible: on long series, fresh memory (page faults) costs
more than the arithmetic.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def _output(n: int, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """A length-``n`` result whose first ``lookback`` values are NaN, and a view of the rest."""
    out = np.empty(n)
    out[:lookback] = np.nan
    return out, out[lookback:]


def _windows(x: np.ndarray, width: int, op: np.ufunc, out: np.ndarray | None = None) -> np.ndarray:
    """``op`` reduced over every run of ``width`` values: out[i] = op(x[i : i + width])."""
    n_out = len(x) - width + 1
    if out is None:
        out = np.empty(max(n_out, 0))
    if n_out <= 0:
        return out
    buffers = [np.empty(len(x) - 1), np.empty(len(x) - 1)] if width > 1 else []
    block, size, offset, bits, filled = x, 1, 0, width, False
    while True:
        if bits & 1:
            part = block[offset:offset + n_out]
            if filled:
                op(out, part, out=out)
            else:
                out[...] = part
                filled = True
            offset += size
        bits >>= 1
        if not bits:
            return out
        m = len(block) - size
        block = op(block[:m], block[size:], out=buffers[0][:m])
        buffers.reverse()
        size *= 2


def _smooth(x: np.ndarray, period: int, alpha: float, seed_at: int) -> np.ndarray:
    """y = y_prev + alpha * (x - y_prev) along the last axis, seeded at ``seed_at`` by the mean of the
    ``period`` values ending there (TA-Lib's seeding); returns the values for indices ``seed_at`` … end."""
    seed = x[..., seed_at - period + 1:seed_at + 1].sum(axis=-1, keepdims=True) / period
    first = x[..., seed_at:seed_at + 1]
    # choose the filter's initial state so that its first output is the seed itself
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x[..., seed_at:], axis=-1, zi=seed - alpha * first)
    return y


def window_sum(x: np.ndarray, period: int) -> np.ndarray:
    """Sum of the last ``period`` values."""
    out, tail = _output(len(x), period - 1)
    _windows(x, period, np.add, tail)
    return out


def sma(x: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average."""
    out = window_sum(x, period)
    out /= period
    return out


def ema(x: np.ndarray, period: int) -> np.ndarray:
    """EMA with k = 2 / (period + 1), seeded by the SMA of the first ``period`` values."""
    out, tail = _output(len(x), period - 1)
    if len(tail):
        tail[:] = _smooth(x, period, 2.0 / (period + 1), period - 1)
    return out


def _std_into(x: np.ndarray, period: int, mean: np.ndarray, std: np.ndarray) -> None:
    """Windowed mean and population std into ``mean`` and ``std`` (E[x²] - E[x]², as TA-Lib, clipped at 0)."""
    if not len(mean):
        return
    _windows(x, period, np.add, mean)
    mean /= period
    _windows(x * x, period, np.add, std)
    std /= period
    std -= mean * mean
    np.maximum(std, 0.0, out=std)
    np.sqrt(std, out=std)


def stddev(x: np.ndarray, period: int) -> np.ndarray:
    """Population standard deviation of the last ``period`` values."""
    out, tail = _output(len(x), period - 1)
    _std_into(x, period, np.empty(len(tail)), tail)
    return out


def bbands(close: np.ndarray, period: int, nbdev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger Bands (upper, middle, lower): SMA ± nbdev population std."""
    n = len(close)
    (upper, up), (middle, mid), (lower, low) = (_output(n, period - 1) for _ in range(3))
    _std_into(close, period, mid, low)  # low holds the std for now
    low *= nbdev
    np.add(mid, low, out=up)
    np.subtract(mid, low, out=low)
    return upper, middle, lower


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI; 0 where average gain and loss are both 0 (TA-Lib's convention)."""
    out, tail = _output(len(close), period)
    if not len(tail):
        return out
    moves = np.empty((2, len(close) - 1))
    np.subtract(close[1:], close[:-1], out=moves[0])
    np.negative(moves[0], out=moves[1])
    np.maximum(moves, 0.0, out=moves)
    gain, loss = _smooth(moves, period, 1.0 / period, period - 1)
    total = gain + loss
    tail[:] = 0.0
    np.multiply(gain, 100.0, out=gain)
    np.divide(gain, total, out=tail, where=total != 0)
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range (true range from the second bar on)."""
    out, tail = _output(len(close), period)
    if not len(tail):
        return out
    prev = close[:-1]
    true_range = high[1:] - low[1:]
    np.maximum(true_range, np.abs(high[1:] - prev), out=true_range)
    np.maximum(true_range, np.abs(low[1:] - prev), out=true_range)
    tail[:] = _smooth(true_range, period, 1.0 / period, period - 1)
    return out


def macd(close: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal line and histogram, seeded like TA-Lib.

    Both EMAs start at bar ``slow - 1``: the slow one seeded by the SMA of all bars so far, the
    fast one by the SMA of its last ``fast`` bars; the signal EMA is seeded by the SMA of the
    first ``signal`` MACD values, and all three outputs start where the signal does.
    """
    n = len(close)
    start = slow - 1
    (line, line_tail), (sig, sig_tail), (hist, hist_tail) = (_output(n, start + signal - 1) for _ in range(3))
    if not len(line_tail):
        return line, sig, hist
    full_line = _smooth(close, fast, 2.0 / (fast + 1), start)
    full_line -= _smooth(close, slow, 2.0 / (slow + 1), start)
    sig_tail[:] = _smooth(full_line, signal, 2.0 / (signal + 1), signal - 1)
    line_tail[:] = full_line[signal - 1:]
    np.subtract(line_tail, sig_tail, out=hist_tail)
    return line, sig, hist


def _extremes(high: np.ndarray, low: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Highest high and lowest low of the last ``period`` bars (unpadded, from bar ``period - 1``)."""
    return _windows(high, period, np.maximum), _windows(low, period, np.minimum)


def _position(numerator: np.ndarray, spread: np.ndarray, scale: float, out: np.ndarray) -> None:
    """out = numerator / spread * scale (TA-Lib's rounding), 0 where the spread is 0 (TA-Lib's
    flat-range value); ``out`` may be ``numerator`` itself."""
    valid = spread != 0
    np.divide(numerator, spread, out=out, where=valid)
    np.copyto(out, 0.0, where=~valid)
    out *= scale


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray,
          fastk: int, slowk: int, slowd: int) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (%K, %D), both smoothed by SMAs; fast %K is 0 on a flat range (as TA-Lib)."""
    n = len(close)
    (k, k_tail), (d, d_tail) = (_output(n, fastk + slowk + slowd - 3) for _ in range(2))
    if not len(k_tail):
        return k, d
    highest, lowest = _extremes(high, low, fastk)
    highest -= lowest  # the spread
    fast = close[fastk - 1:] - lowest
    _position(fast, highest, 100.0, fast)
    k_all = _windows(fast, slowk, np.add, lowest[:len(fast) - slowk + 1])
    k_all /= slowk
    _windows(k_all, slowd, np.add, d_tail)
    d_tail /= slowd
    k_tail[:] = k_all[slowd - 1:]
    return k, d


def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Williams %R (-100..0); 0 on a flat range (as TA-Lib)."""
    out, tail = _output(len(close), period - 1)
    if not len(tail):
        return out
    highest, lowest = _extremes(high, low, period)
    below_high = highest - close[period - 1:]
    highest -= lowest  # the spread
    _position(below_high, highest, -100.0, tail)
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at the first bar's volume."""
    out = np.empty(len(close))
    if len(out):
        out[0] = volume[0]
        np.sign(close[1:] - close[:-1], out=out[1:])
        out[1:] *= volume[1:]
        np.cumsum(out, out=out)
    return out

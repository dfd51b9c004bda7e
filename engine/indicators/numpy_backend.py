"""TA-Lib's indicator definitions re-implemented with vectorized numpy/scipy (no Python loops).

Recursive smoothers (EMA, Wilder) run through ``scipy.signal.lfilter`` with the initial state
set to TA-Lib's SMA seed. Window sums, maxima and minima are built by doubling: windows of
1, 2, 4, 8 … values are combined pairwise and a window of any width is the combination of the
power-of-two blocks of its binary digits — O(n log width), no cumulative-sum drift on long series,
done in cache-sized chunks. Results are written in place where possible: on long series, fresh
memory (page faults) costs more than the arithmetic.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from engine.indicators import divide_or

_CHUNK = 1 << 14  # outputs per pass of _windows (x4 per lfilter call): scratch stays in cache and is reused


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
    for start in range(0, n_out, _CHUNK):
        stop = min(start + _CHUNK, n_out)
        _windows_chunk(x[start:stop + width - 1], width, op, out[start:stop])
    return out


def _windows_chunk(x: np.ndarray, width: int, op: np.ufunc, out: np.ndarray) -> None:
    """_windows for one chunk (len(out) == len(x) - width + 1 >= 1) by doubling: level k holds
    op over runs of 2**k values; the window is the blocks of ``width``'s binary digits."""
    n_out = len(out)
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
            return
        m = len(block) - size
        block = op(block[:m], block[size:], out=buffers[0][:m])
        buffers.reverse()
        size *= 2


def _smooth(x: np.ndarray, period: int, alpha: float, seed_at: int, out: np.ndarray) -> np.ndarray:
    """y = y_prev + alpha * (x - y_prev) along the last axis, seeded at ``seed_at`` by the mean of the
    ``period`` values ending there (TA-Lib's seeding): the values for indices ``seed_at`` … end go to
    ``out`` (which may be that part of ``x`` itself), filtered in chunks carrying the filter state."""
    seed = x[..., seed_at - period + 1:seed_at + 1].sum(axis=-1, keepdims=True) / period
    values = x[..., seed_at:]
    state = seed - alpha * values[..., :1]  # makes the filter's first output the seed itself
    for start in range(0, values.shape[-1], 4 * _CHUNK):
        part = np.s_[..., start:start + 4 * _CHUNK]
        out[part], state = lfilter([alpha], [1.0, alpha - 1.0], values[part], axis=-1, zi=state)
    return out


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
        _smooth(x, period, 2.0 / (period + 1), period - 1, tail)
    return out


def _std_into(x: np.ndarray, period: int, mean: np.ndarray, std: np.ndarray) -> None:
    """Windowed mean and population std into ``mean`` and ``std`` (E[x²] - E[x]², as TA-Lib, clipped at 0)."""
    _windows(x, period, np.add, mean)
    mean /= period
    for start in range(0, len(std), _CHUNK):
        stop = min(start + _CHUNK, len(std))
        part = x[start:stop + period - 1]
        _windows_chunk(part * part, period, np.add, std[start:stop])
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
    gain, total = _smooth(moves, period, 1.0 / period, period - 1, moves[:, period - 1:])
    total += gain
    gain *= 100.0
    divide_or(gain, total, 0.0, tail)  # no moves at all: 0, as TA-Lib
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range (true range from the second bar on)."""
    out, tail = _output(len(close), period)
    if not len(tail):
        return out
    prev = close[:-1]
    true_range = high[1:] - low[1:]
    gap = high[1:] - prev
    np.maximum(true_range, np.abs(gap, out=gap), out=true_range)
    np.subtract(low[1:], prev, out=gap)
    np.maximum(true_range, np.abs(gap, out=gap), out=true_range)
    _smooth(true_range, period, 1.0 / period, period - 1, tail)
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
    full_line, slow_ema = line[start:], hist[start:]  # the line from its first bar; hist as scratch
    _smooth(close, fast, 2.0 / (fast + 1), start, full_line)
    full_line -= _smooth(close, slow, 2.0 / (slow + 1), start, slow_ema)
    _smooth(full_line, signal, 2.0 / (signal + 1), signal - 1, sig_tail)
    np.subtract(line_tail, sig_tail, out=hist_tail)
    line[start:start + signal - 1] = hist[start:start + signal - 1] = np.nan
    return line, sig, hist


def _extremes(high: np.ndarray, low: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Highest high and lowest low of the last ``period`` bars (unpadded, from bar ``period - 1``)."""
    return _windows(high, period, np.maximum), _windows(low, period, np.minimum)


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
    divide_or(fast, highest, 0.0, fast)  # a flat range gives 0, as TA-Lib
    fast *= 100.0  # ratio first, then scale: TA-Lib's rounding
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
    divide_or(below_high, highest, 0.0, tail)  # a flat range gives 0, as TA-Lib
    tail *= -100.0  # ratio first, then scale: TA-Lib's rounding
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

"""Indicators computed by the TA-Lib C library (raises ImportError when it is not installed)."""
from __future__ import annotations

import numpy as np
import talib


def window_sum(x: np.ndarray, period: int) -> np.ndarray:
    """Sum of the last ``period`` values."""
    return talib.SUM(x, period)


def sma(x: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average."""
    return talib.SMA(x, period)


def ema(x: np.ndarray, period: int) -> np.ndarray:
    """EMA with k = 2 / (period + 1), seeded by the SMA of the first ``period`` values."""
    return talib.EMA(x, period)


def stddev(x: np.ndarray, period: int) -> np.ndarray:
    """Population standard deviation of the last ``period`` values."""
    return talib.STDDEV(x, period, 1.0)


def bbands(close: np.ndarray, period: int, nbdev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger Bands (upper, middle, lower): SMA ± nbdev population std."""
    return talib.BBANDS(close, period, nbdev, nbdev, 0)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI."""
    return talib.RSI(close, period)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range."""
    return talib.ATR(high, low, close, period)


def macd(close: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal line and histogram."""
    return talib.MACD(close, fast, slow, signal)


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray,
          fastk: int, slowk: int, slowd: int) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (%K, %D), both smoothed by SMAs."""
    return talib.STOCH(high, low, close, fastk, slowk, 0, slowd, 0)


def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Williams %R (-100..0)."""
    return talib.WILLR(high, low, close, period)


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at the first bar's volume."""
    return talib.OBV(close, volume)

"""Technical-indicator features: the one list of model inputs, and the labels.

Price-based indicators are given scale-free (relative to the close), so one model can learn
across years and symbols whose prices differ by 100x: ``dist_sma_20`` is close/SMA20 - 1,
``macd`` is MACD/close, ``atr`` is ATR/close. Oscillators (rsi, stoch, williams_r) keep
their usual 0..100 / -100..0 scales. (Computation: filled in by the features work.)
"""
from __future__ import annotations

FEATURE_COLUMNS: tuple[str, ...] = (
    "return_1",       # close / previous close - 1
    "momentum_10",    # close / close 10 bars ago - 1
    "candle_body",    # (close - open) / open
    "upper_wick",     # (high - max(open, close)) / close
    "lower_wick",     # (min(open, close) - low) / close
    "range_pct",      # (high - low) / close
    "volume_ratio",   # volume / SMA20(volume)
    "obv_slope",      # (OBV - OBV 20 bars ago) / sum of the last 20 volumes
    "rsi",            # RSI(14), Wilder
    "macd",           # MACD(12, 26) / close
    "macd_signal",    # EMA9 of MACD / close
    "macd_hist",      # (MACD - signal) / close
    "stoch_k",        # slow stochastic %K (14, 3, 3)
    "stoch_d",        # slow stochastic %D
    "williams_r",     # Williams %R (14)
    "dist_sma_20",    # close / SMA20 - 1
    "dist_ema_20",    # close / EMA20 - 1
    "dist_sma_50",    # close / SMA50 - 1
    "dist_bb_high",   # close / upper Bollinger band (20, 2) - 1
    "dist_bb_low",    # close / lower Bollinger band - 1
    "bb_width",       # (upper - lower) / middle band
    "atr",            # ATR(14) / close, Wilder
    "volatility_20",  # population std of return_1 over 20 bars
)
assert len(FEATURE_COLUMNS) == 23

"""Technical-indicator features: the one list of model inputs, and the labels.

Price-based indicators are given scale-free (relative to the close), so one model can learn
across years and symbols whose prices differ by 100x: ``dist_sma_20`` is close/SMA20 - 1,
``macd`` is MACD/close, ``atr`` is ATR/close. Oscillators (rsi, stoch, williams_r) keep
their usual 0..100 / -100..0 scales.

Computation: TA-Lib when importable, else the numpy backend with the same definitions
(:mod:`engine.indicators`; ``backend="auto"|"talib"|"numpy"``). Row t uses bars up to t only.
The first ``WARMUP_BARS`` rows (before SMA50 exists) are all NaN and never reach a model;
:func:`build_dataset` keeps only rows with finite features and a known label.

Data quirks, decided here: indicators run over the bars *as stored*, in order; a gap in the
data (missing bars, off-grid open times) is not filled, so the bar after a gap is treated as
the next bar (``return_1`` then spans the gap) and labels look ``horizon`` *bars* ahead.
``close_time`` is not used. A ratio whose denominator is 0 has a fixed finite value: no volume
in the last 20 bars gives ``volume_ratio`` = ``obv_slope`` = 0, and a flat 14-bar range gives
``stoch_k`` = ``williams_r`` = 0; ``rsi`` is 0 while the price has never moved (TA-Lib's choices).
Input must be sorted by strictly increasing ``open_time`` with finite positive prices and
finite non-negative volumes, else :class:`~engine.errors.ValidationError`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import NotReady, ValidationError
from engine.indicators import divide_or, load_backend

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

# Values any real market can produce, at any interval up to 1d (the bounds of rsi, the stochastics, Williams %R,
# obv_slope and volume_ratio are exact; the others are wide: a move 100x its usual size falls outside).
_RETURN, _LEVEL = (-0.9, 2.0), (-0.99, 10.0)
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "return_1": _RETURN, "momentum_10": _LEVEL, "candle_body": _RETURN, "upper_wick": (0.0, 5.0),
    "lower_wick": (0.0, 5.0), "range_pct": (0.0, 5.0), "volume_ratio": (0.0, 20.0), "obv_slope": (-1.0, 1.0),
    "rsi": (0.0, 100.0), "macd": (-1.0, 1.0), "macd_signal": (-1.0, 1.0), "macd_hist": (-1.0, 1.0),
    "stoch_k": (0.0, 100.0), "stoch_d": (0.0, 100.0), "williams_r": (-100.0, 0.0), "dist_sma_20": _LEVEL,
    "dist_ema_20": _LEVEL, "dist_sma_50": _LEVEL, "dist_bb_high": _LEVEL, "dist_bb_low": _LEVEL,
    "bb_width": (0.0, 10.0), "atr": (0.0, 2.0), "volatility_20": (0.0, 2.0),
}

WARMUP_BARS = 49  # leading rows without every feature (SMA50 needs 50 bars): row WARMUP_BARS is the first full one
HISTORY_BARS = 300  # bars latest_features uses: EMA/Wilder seeds have faded (~1e-8 of a full-history value)
_INPUT_COLUMNS = ("open", "high", "low", "close", "volume")


def _arrays(candles: pd.DataFrame, last: int | None = None) -> tuple[np.ndarray, ...]:
    """(open_time, open, high, low, close, volume) of the last ``last`` candles (all by default),
    validated, as int64/float64 arrays."""
    if not isinstance(candles, pd.DataFrame):
        raise ValidationError("candles", f"expected a DataFrame of candles, got {type(candles).__name__}")
    missing = [c for c in ("open_time", *_INPUT_COLUMNS) if c not in candles.columns]
    if missing:
        raise ValidationError("candles", f"missing column(s) {', '.join(missing)}")
    start = -last if last else None
    times = candles["open_time"].to_numpy()[start:]
    if times.dtype.kind not in "iu":
        if times.dtype.kind != "f" or not (np.isfinite(times) & (times == np.round(times))).all():
            raise ValidationError("open_time", "must be integer epoch milliseconds")
    times = times.astype(np.int64, copy=False)
    if len(times) > 1 and not (times[1:] > times[:-1]).all():
        raise ValidationError("open_time", "must be strictly increasing (sorted, no duplicates)")
    columns = []
    for name in _INPUT_COLUMNS:
        column = candles[name].to_numpy(dtype=np.float64)[start:]
        if len(column):  # any NaN makes min and max NaN, so both comparisons fail
            least, most = column.min(), column.max()
            if not ((least >= 0 if name == "volume" else least > 0) and most < np.inf):
                raise ValidationError(name, "must be finite and " + (">= 0" if name == "volume" else "> 0"))
        columns.append(column)
    return (times, *columns)


def _change(x: np.ndarray, lag: int, out: np.ndarray) -> None:
    """out[t] = x[t] - x[t - lag], NaN for the first ``lag`` rows."""
    out[:lag] = np.nan
    np.subtract(x[lag:], x[:-lag], out=out[lag:])


def _growth(x: np.ndarray, lag: int, out: np.ndarray) -> None:
    """out[t] = x[t] / x[t - lag] - 1, NaN for the first ``lag`` rows."""
    out[:lag] = np.nan
    np.divide(x[lag:], x[:-lag], out=out[lag:])
    out[lag:] -= 1.0


def _feature_matrix(ind, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                    volume: np.ndarray) -> np.ndarray:
    """The features as a (23, n) array, rows in FEATURE_COLUMNS order, warm-up columns all NaN;
    ``ind`` is an indicator backend (:func:`engine.indicators.load_backend`).

    Rows are filled in place (on long series fresh temporaries cost more than the arithmetic).
    """
    out = np.empty((len(FEATURE_COLUMNS), len(close)))
    f = dict(zip(FEATURE_COLUMNS, out))  # each row by name (views into ``out``)
    _growth(close, 1, f["return_1"])
    _growth(close, 10, f["momentum_10"])
    np.subtract(close, open_, out=f["candle_body"])
    f["candle_body"] /= open_
    body_edge = np.maximum(open_, close)
    np.subtract(high, body_edge, out=f["upper_wick"])
    np.minimum(open_, close, out=body_edge)
    np.subtract(body_edge, low, out=f["lower_wick"])
    np.subtract(high, low, out=f["range_pct"])
    for name in ("upper_wick", "lower_wick", "range_pct"):
        f[name] /= close
    volume_sum = ind.window_sum(volume, 20)
    np.multiply(volume, 20.0, out=f["volume_ratio"])
    divide_or(f["volume_ratio"], volume_sum, 0.0, f["volume_ratio"])
    _change(ind.obv(close, volume), 20, f["obv_slope"])
    divide_or(f["obv_slope"], volume_sum, 0.0, f["obv_slope"])
    f["rsi"][:] = ind.rsi(close, 14)
    for name, line in zip(("macd", "macd_signal", "macd_hist"), ind.macd(close, 12, 26, 9)):
        np.divide(line, close, out=f[name])
    f["stoch_k"][:], f["stoch_d"][:] = ind.stoch(high, low, close, 14, 3, 3)
    f["williams_r"][:] = ind.willr(high, low, close, 14)
    upper, middle, lower = ind.bbands(close, 20, 2.0)
    levels = {"dist_sma_20": middle, "dist_ema_20": ind.ema(close, 20), "dist_sma_50": ind.sma(close, 50),
              "dist_bb_high": upper, "dist_bb_low": lower}
    for name, level in levels.items():
        np.divide(close, level, out=f[name])
        f[name] -= 1.0
    np.subtract(upper, lower, out=f["bb_width"])
    f["bb_width"] /= middle
    np.divide(ind.atr(high, low, close, 14), close, out=f["atr"])
    f["volatility_20"][:1] = np.nan
    f["volatility_20"][1:] = ind.stddev(f["return_1"][1:], 20)
    out[:, :WARMUP_BARS] = np.nan
    return out


def compute_features(candles: pd.DataFrame, backend: str = "auto") -> pd.DataFrame:
    """FEATURE_COLUMNS for every candle, index ``open_time``; the first WARMUP_BARS rows are NaN.

    ``candles`` needs open_time, open, high, low, close, volume (sorted by open_time).
    """
    times, *prices_and_volume = _arrays(candles)
    matrix = _feature_matrix(load_backend(backend), *prices_and_volume)
    return pd.DataFrame(matrix.T, index=pd.Index(times, name="open_time"), columns=list(FEATURE_COLUMNS), copy=False)


def make_labels(close: pd.Series, horizon: int = 1) -> pd.Series:
    """1.0 if the close ``horizon`` bars later is higher, else 0.0; NaN for the last ``horizon`` bars.

    >>> make_labels(pd.Series([1.0, 2.0, 2.0, 1.0]), 1).tolist()
    [1.0, 0.0, 0.0, nan]
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValidationError("horizon", f"must be an integer >= 1, got {horizon!r}")
    values = close.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValidationError("close", "must be finite")
    labels = np.full(len(values), np.nan)
    labels[:-horizon] = (values[horizon:] > values[:-horizon]).astype(np.float64)
    return pd.Series(labels, index=close.index, name="label")


def build_dataset(candles: pd.DataFrame, horizon: int = 1, backend: str = "auto") -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) for training: only rows whose features are all finite and whose label is known.

    X has FEATURE_COLUMNS, y is int 0/1 ("close ``horizon`` bars later is higher"); index open_time.
    """
    features = compute_features(candles, backend)
    labels = make_labels(pd.Series(candles["close"].to_numpy(dtype=np.float64), index=features.index), horizon)
    keep = np.isfinite(features.to_numpy()).all(axis=1) & labels.notna().to_numpy()
    return features[keep], labels[keep].astype(np.int64)


def latest_features(candles: pd.DataFrame, backend: str = "auto") -> tuple[int, dict[str, float]]:
    """(open_time, {feature: value}) of the last candle, from its last HISTORY_BARS bars at most.

    Raises NotReady with fewer than WARMUP_BARS + 1 candles.
    """
    times, *prices_and_volume = _arrays(candles, last=HISTORY_BARS)
    if len(times) <= WARMUP_BARS:
        raise NotReady(f"features need {WARMUP_BARS + 1} candles, got {len(times)}")
    row = _feature_matrix(load_backend(backend), *prices_and_volume)[:, -1]
    return int(times[-1]), dict(zip(FEATURE_COLUMNS, row.tolist()))

"""The candle table's columns and a reader for Binance's 12-column kline CSV layout.

Times are UTC epoch milliseconds (int64) everywhere inside the engine. Binance's archive
switched spot files to microseconds from 2025-01-01: :func:`to_millis` detects the unit.
"""
from __future__ import annotations

import os
from typing import IO

import numpy as np
import pandas as pd

KLINE_COLUMNS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time",
    "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore",
)
CANDLE_COLUMNS = KLINE_COLUMNS[:-1]  # what the store keeps
PRICE_COLUMNS = ("open", "high", "low", "close")
FLOAT_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base", "taker_buy_quote")
MICROS_THRESHOLD = 10**14  # ms epochs stay below this until the year 5138; µs epochs are above


def to_millis(times: np.ndarray) -> np.ndarray:
    """Epoch times in ms or µs (decided per array, as archive files are per unit) -> int64 ms."""
    times = np.asarray(times, dtype=np.int64)
    if times.size and times.max() >= MICROS_THRESHOLD:
        return times // 1000
    return times


INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
               "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000}
INT_COLUMNS = ("open_time", "close_time", "trades")


def read_kline_csv(source: str | os.PathLike | IO, compression: str = "infer") -> pd.DataFrame:
    """Read a 12-column kline CSV into CANDLE_COLUMNS with int64 ms times.

    A header row (newer archive files have one) is skipped. Raises ValueError naming the line
    and column of the first bad value (wrong column count, non-numbers, fractional times).
    """
    try:
        raw = pd.read_csv(source, header=None, compression=compression, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError("the file is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"not a 12-column kline CSV: {str(exc).strip()}") from None
    if raw.shape[1] != len(KLINE_COLUMNS):
        raise ValueError(f"expected {len(KLINE_COLUMNS)} columns, found {raw.shape[1]}")
    raw.columns = list(KLINE_COLUMNS)
    first_line = 1
    if len(raw) and pd.isna(pd.to_numeric(pd.Series([raw.iat[0, 0]]), errors="coerce")[0]):
        raw, first_line = raw.iloc[1:], 2  # header row
    if raw.empty:
        raise ValueError("the file has no candles")
    out = {}
    for col in CANDLE_COLUMNS:
        values = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(values)
        if col in INT_COLUMNS:
            bad |= values != np.round(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"line {first_line + i}, column {col}: '{raw[col].iat[i]}' is not a valid number")
        out[col] = values.astype("int64") if col in INT_COLUMNS else values
    df = pd.DataFrame(out)
    df["open_time"] = to_millis(df["open_time"].to_numpy())
    df["close_time"] = to_millis(df["close_time"].to_numpy())
    return df


SAMPLE_INTERVAL = "1h"  # the bundled candles' interval; longer ones are resampled from it


def load_sample(symbol: str, interval: str = SAMPLE_INTERVAL) -> pd.DataFrame:
    """The bundled real candles for ``symbol`` (see data/sample/README.md), resampled to
    ``interval`` when that is a longer one (:func:`resample`)."""
    from engine.paths import sample_files

    files = sample_files()
    if symbol not in files:
        raise KeyError(f"no bundled sample for {symbol}; have {sorted(files)}")
    bars = read_kline_csv(files[symbol])
    return bars if interval == SAMPLE_INTERVAL else resample(bars, interval)


def check_resample(interval: str, source: str = SAMPLE_INTERVAL) -> int:
    """The bars of ``source`` in one ``interval`` bar; ValueError unless it is a whole multiple > 0."""
    step, base = INTERVAL_MS.get(interval), INTERVAL_MS[source]
    if step is None or step % base or step < base:
        raise ValueError(f"{interval} bars cannot be built from {source} bars "
                         f"(possible: {', '.join(k for k, v in INTERVAL_MS.items() if v >= base and v % base == 0)})")
    return step // base


def resample(candles: pd.DataFrame, interval: str, source: str = SAMPLE_INTERVAL) -> pd.DataFrame:
    """``source`` candles (CANDLE_COLUMNS, ascending) aggregated into ``interval`` bars aligned on UTC
    epoch multiples of the interval (4h bars open at 00, 04, ... UTC; 1d bars at 00:00 UTC).

    Causal: a bar exists only once its period is over, i.e. once the data holds the period's last
    source bar or a later one (the trailing unfinished period is left out), and it uses the bars
    inside its period only. Gaps are respected, not filled: a period without any source bar gives
    no bar; a period with missing bars aggregates the ones there are (as Binance's own klines do
    over an outage). open/close come from the period's first/last bar, high/low are the extremes,
    volumes and trade counts are summed, and close_time is the period's end - 1 ms.

    >>> hours = pd.DataFrame({"open_time": [0, 3600000, 7200000, 10800000, 14400000],
    ...     "open": [1., 2, 3, 4, 5], "high": [2., 3, 4, 9, 6], "low": [1., 1, 2, 3, 4], "close": [2., 3, 4, 5, 6],
    ...     "volume": 1., "close_time": 0, "quote_volume": 1., "trades": 1, "taker_buy_base": 1.,
    ...     "taker_buy_quote": 1.})
    >>> resample(hours, "4h")[["open_time", "open", "high", "low", "close", "volume", "close_time"]].values.tolist()
    [[0.0, 1.0, 9.0, 1.0, 5.0, 4.0, 14399999.0]]
    """
    check_resample(interval, source)
    step = INTERVAL_MS[interval]
    times = candles["open_time"].to_numpy(np.int64)
    if len(times) == 0:
        return candles[list(CANDLE_COLUMNS)].iloc[:0].copy()
    period = times // step * step
    starts = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])  # first row of each period
    ends = np.r_[starts[1:], len(times)]  # one past its last row
    columns = {"open_time": period[starts], "open": candles["open"].to_numpy(float)[starts],
               "high": np.maximum.reduceat(candles["high"].to_numpy(float), starts),
               "low": np.minimum.reduceat(candles["low"].to_numpy(float), starts),
               "close": candles["close"].to_numpy(float)[ends - 1]}
    for name in ("volume", "quote_volume", "taker_buy_base", "taker_buy_quote", "trades"):
        columns[name] = np.add.reduceat(candles[name].to_numpy(), starts)
    out = pd.DataFrame(columns)
    out["close_time"] = out["open_time"] + step - 1
    finished = times[-1] + INTERVAL_MS[source] >= out["open_time"].to_numpy() + step
    return out.loc[finished, list(CANDLE_COLUMNS)].reset_index(drop=True)

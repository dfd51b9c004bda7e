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


def load_sample(symbol: str) -> pd.DataFrame:
    """The bundled real candles for ``symbol`` (see data/sample/README.md)."""
    from engine.paths import sample_files

    files = sample_files()
    if symbol not in files:
        raise KeyError(f"no bundled sample for {symbol}; have {sorted(files)}")
    return read_kline_csv(files[symbol])

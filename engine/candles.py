"""The candle table's columns and a reader for Binance's 12-column kline CSV layout.

Times are UTC epoch milliseconds (int64) everywhere inside the engine. Binance's archive
switched spot files to microseconds from 2025-01-01: :func:`to_millis` detects the unit.
"""
from __future__ import annotations

import os

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


def read_kline_csv(source: str | os.PathLike, compression: str = "infer") -> pd.DataFrame:
    """Read a headerless 12-column kline CSV into CANDLE_COLUMNS with int64 ms times."""
    df = pd.read_csv(source, header=None, names=list(KLINE_COLUMNS), compression=compression,
                     dtype={c: "float64" for c in FLOAT_COLUMNS} | {"open_time": "int64", "close_time": "int64",
                                                                      "trades": "int64"})
    df["open_time"] = to_millis(df["open_time"].to_numpy())
    df["close_time"] = to_millis(df["close_time"].to_numpy())
    return df[list(CANDLE_COLUMNS)]


def load_sample(symbol: str) -> pd.DataFrame:
    """The bundled real candles for ``symbol`` (see data/sample/README.md)."""
    from engine.paths import sample_files

    files = sample_files()
    if symbol not in files:
        raise KeyError(f"no bundled sample for {symbol}; have {sorted(files)}")
    return read_kline_csv(files[symbol])

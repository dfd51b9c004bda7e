"""Bulk import of Binance archive files (data.binance.vision): monthly/daily .zip with one CSV, or .csv.

Timestamps are milliseconds, or microseconds in spot files from 2025 on: detected per file
(engine.candles.to_millis), so both import to the same ms values. A file is read and checked
completely before anything is written, then stored in one transaction: a bad file (not a zip,
truncated, wrong column count, non-numbers, high < low, non-positive prices, negative volumes,
repeated open times, mixed time units, a file name naming another symbol/interval) raises
ArchiveError and imports nothing. Quirks Binance itself publishes (bars off the interval grid,
zero volume, a close_time other than open_time + interval - 1) are imported as given.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from engine.candles import PRICE_COLUMNS, read_kline_csv
from engine.errors import ValidationError
from engine.store import CandleStore, check_key

EARLIEST_MS = 1_230_768_000_000  # 2009-01-01: anything before is not a crypto candle
LATEST_MS = 4_102_444_800_000  # 2100-01-01
ARCHIVE_NAME = re.compile(r"^([A-Z0-9]+)-(\d+[mhdwM])-\d{4}-\d{2}")  # BTCUSDT-1h-2024-01[-01].zip


class ArchiveError(ValidationError):
    """A rejected archive file; the message says what is wrong and where."""


def read_archive(path: str | os.PathLike) -> pd.DataFrame:
    """The checked candles of one archive file (.zip holding one .csv, or .csv / .csv.gz)."""
    path = Path(path)
    field = path.name
    if not path.is_file():
        raise ArchiveError(field, "no such file")
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1 or not members[0].endswith(".csv"):
                    raise ArchiveError(field, f"expected one .csv inside the zip, found {members or 'nothing'}")
                with archive.open(members[0]) as fh:
                    candles = read_kline_csv(fh, compression=None)
        else:
            candles = read_kline_csv(path)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ArchiveError(field, f"not a readable archive (truncated or corrupt?): {exc}") from None
    except ValueError as exc:
        raise ArchiveError(field, str(exc)) from None
    _check(field, candles)
    return candles


def _check(field: str, candles: pd.DataFrame) -> None:
    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise ArchiveError(field, f"{what} (row {i + 1}, open_time {int(candles['open_time'].iat[i])}); "
                                      f"{int(mask.sum())} such row(s)")

    times = candles["open_time"].to_numpy()
    fail((times < EARLIEST_MS) | (times > LATEST_MS), "open_time outside 2009-2100 (mixed ms/µs units?)")
    prices = candles[list(PRICE_COLUMNS)].to_numpy()
    fail((prices <= 0).any(axis=1), "non-positive price")
    fail(candles["high"].to_numpy() < candles["low"].to_numpy(), "high below low")
    volumes = candles[["volume", "quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]].to_numpy()
    fail((volumes < 0).any(axis=1), "negative volume or trade count")
    fail(pd.Series(times).duplicated().to_numpy(), "repeated open_time")


def import_archive(store: CandleStore, path: str | os.PathLike, symbol: str, interval: str) -> int:
    """Import one archive file into ``store``; returns bars new or changed. All or nothing."""
    check_key(symbol, interval)
    named = ARCHIVE_NAME.match(Path(path).name)
    if named and (named[1], named[2]) != (symbol, interval):
        raise ArchiveError(Path(path).name, f"the file name says {named[1]} {named[2]}, "
                                            f"not {symbol} {interval}")
    candles = read_archive(path)
    return store.upsert(symbol, interval, candles.sort_values("open_time"))

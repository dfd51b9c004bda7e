"""Candle store: one SQLite table keyed by (symbol, interval, open_time), idempotent upserts.

Data quirks are stored as given, never "repaired": bars off the interval grid (the 43 BTC bars
opening at hh:28:14 in Feb 2018) are kept and counted by :meth:`CandleStore.gap_report`;
zero-volume bars and bars whose close_time is not open_time + interval - 1 (one even closes
before it opens) are kept unchanged. A grid time is *missing* when no stored bar covers it,
i.e. no bar opened in (t - interval, t]; so an off-grid bar fills the grid hour it overlaps.
On the bundled BTC data this gives the README's 127 missing hours, in 27 runs (the README's
28th "gap" is the step back onto the grid after the off-grid bars, which misses no hour).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.candles import CANDLE_COLUMNS, INT_COLUMNS, INTERVAL_MS
from engine.config import SYMBOL
from engine.db import Database
from engine.errors import ValidationError

MIGRATIONS = [
    """
    CREATE TABLE candles (
        symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time INTEGER NOT NULL,
        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
        volume REAL NOT NULL, close_time INTEGER NOT NULL, quote_volume REAL NOT NULL,
        trades INTEGER NOT NULL, taker_buy_base REAL NOT NULL, taker_buy_quote REAL NOT NULL,
        PRIMARY KEY (symbol, interval, open_time)
    ) WITHOUT ROWID
    """,
]
_COLS = ", ".join(CANDLE_COLUMNS)
_VALUES = ", ".join("?" for _ in CANDLE_COLUMNS)
_DATA = CANDLE_COLUMNS[1:]
_UPSERT = (
    f"INSERT INTO candles (symbol, interval, {_COLS}) VALUES (?, ?, {_VALUES}) "
    "ON CONFLICT (symbol, interval, open_time) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _DATA)
    + " WHERE " + " OR ".join(f"{c} IS NOT excluded.{c}" for c in _DATA)
)


def check_key(symbol: str, interval: str) -> None:
    """Raise ValidationError unless ``symbol`` looks like BTCUSDT and ``interval`` is a Binance interval."""
    if not isinstance(symbol, str) or not SYMBOL.match(symbol):
        raise ValidationError("symbol", f"{symbol!r} is not an upper-case symbol like BTCUSDT")
    if interval not in INTERVAL_MS:
        raise ValidationError("interval", f"{interval!r} must be one of {', '.join(INTERVAL_MS)}")


class CandleStore:
    """Closed candles per (symbol, interval); reads return DataFrames[CANDLE_COLUMNS] sorted by open_time.

    >>> import tempfile, os
    >>> from engine.candles import load_sample
    >>> store = CandleStore(Database(os.path.join(tempfile.mkdtemp(), "market.db")))
    >>> bars = load_sample("BTCUSDT").head(3)
    >>> store.upsert("BTCUSDT", "1h", bars), store.upsert("BTCUSDT", "1h", bars)
    (3, 0)
    >>> len(store.tail("BTCUSDT", "1h", 2))
    2
    """

    def __init__(self, db: Database):
        self.db = db
        db.migrate("candles", MIGRATIONS)

    def upsert(self, symbol: str, interval: str, candles: pd.DataFrame) -> int:
        """Insert or update bars in one transaction; returns how many rows were new or changed."""
        check_key(symbol, interval)
        missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
        if missing:
            raise ValidationError("candles", f"missing columns: {', '.join(missing)}")
        if candles.empty:
            return 0
        frame = candles[list(CANDLE_COLUMNS)]
        values = frame.to_numpy(dtype="float64")
        if not np.isfinite(values).all():
            raise ValidationError("candles", "contains missing or infinite values")
        columns = [frame[c].to_numpy(dtype="int64").tolist() if c in INT_COLUMNS else values[:, i].tolist()
                   for i, c in enumerate(CANDLE_COLUMNS)]
        rows = [(symbol, interval, *r) for r in zip(*columns)]
        with self.db.transaction() as conn:
            before = conn.total_changes
            conn.executemany(_UPSERT, rows)
            return conn.total_changes - before

    def latest(self, symbol: str, interval: str) -> dict | None:
        """The newest stored (closed) candle as a dict of CANDLE_COLUMNS, or None."""
        tail = self.tail(symbol, interval, 1)
        return None if tail.empty else {c: tail[c].iat[0].item() for c in CANDLE_COLUMNS}

    def range(self, symbol: str, interval: str, start_ms: int | None = None,
              end_ms: int | None = None) -> pd.DataFrame:
        """Bars with start_ms <= open_time <= end_ms (either bound optional)."""
        return self._select(
            "WHERE symbol=? AND interval=? AND open_time>=? AND open_time<=? ORDER BY open_time",
            (symbol, interval, -(2**62) if start_ms is None else int(start_ms),
             2**62 if end_ms is None else int(end_ms)))

    def tail(self, symbol: str, interval: str, n: int) -> pd.DataFrame:
        """The last ``n`` bars, ascending."""
        frame = self._select("WHERE symbol=? AND interval=? ORDER BY open_time DESC LIMIT ?",
                             (symbol, interval, int(n)))
        return frame.iloc[::-1].reset_index(drop=True)

    def _select(self, where: str, params: tuple) -> pd.DataFrame:
        rows = self.db.connect().execute(f"SELECT {_COLS} FROM candles {where}", params).fetchall()
        if not rows:
            return pd.DataFrame({c: np.empty(0, "int64" if c in INT_COLUMNS else "float64")
                                 for c in CANDLE_COLUMNS})
        table = np.array(rows, dtype="float64")  # times < 2**53: exact in float64
        return pd.DataFrame({c: table[:, i].astype("int64") if c in INT_COLUMNS else table[:, i]
                             for i, c in enumerate(CANDLE_COLUMNS)})

    def bounds(self, symbol: str, interval: str) -> tuple[int, int] | None:
        """(first, last) stored open time, or None when there is nothing."""
        first, last = self.db.connect().execute(
            "SELECT MIN(open_time), MAX(open_time) FROM candles WHERE symbol=? AND interval=?",
            (symbol, interval)).fetchone()
        return None if first is None else (int(first), int(last))

    def open_times(self, symbol: str, interval: str) -> np.ndarray:
        """All stored open times, ascending (int64)."""
        rows = self.db.connect().execute(
            "SELECT open_time FROM candles WHERE symbol=? AND interval=? ORDER BY open_time",
            (symbol, interval)).fetchall()
        return np.array(rows, dtype="int64").reshape(-1)

    def gaps(self, symbol: str, interval: str, start_ms: int | None = None,
             end_ms: int | None = None) -> list[int]:
        """Grid open times between the first and last stored bar (within the bounds) no bar covers."""
        step = INTERVAL_MS[interval]
        times = self.open_times(symbol, interval)
        if start_ms is not None:
            times = times[times >= start_ms]
        if end_ms is not None:
            times = times[times <= end_ms]
        if times.size == 0:
            return []
        grid = np.arange(-(-times[0] // step) * step, times[-1] + 1, step, dtype="int64")
        before = np.searchsorted(times, grid, side="right") - 1  # last bar opening at or before g
        covered = times[before] > grid - step
        return grid[~covered].tolist()

    def gap_report(self, symbol: str, interval: str) -> dict:
        """Summary: missing grid times, their runs [(first, last, count)], and off-grid bar count."""
        step = INTERVAL_MS[interval]
        missing = np.array(self.gaps(symbol, interval), dtype="int64")
        breaks = np.flatnonzero(np.diff(missing) != step) + 1
        runs = [(int(r[0]), int(r[-1]), len(r)) for r in np.split(missing, breaks) if len(r)]
        off_grid = int((self.open_times(symbol, interval) % step != 0).sum())
        return {"missing": len(missing), "runs": runs, "off_grid_bars": off_grid}

    def counts(self) -> list[dict]:
        """Rows and first/last open time per (symbol, interval)."""
        rows = self.db.query(
            "SELECT symbol, interval, COUNT(*) AS rows, MIN(open_time) AS first_open_time, "
            "MAX(open_time) AS last_open_time FROM candles GROUP BY symbol, interval ORDER BY symbol, interval")
        return [dict(r) for r in rows]

    def cleanup(self, older_than_ms: int, keep_from_ms: dict[str, int] | None = None) -> int:
        """Delete bars opening before ``older_than_ms``; for a symbol in ``keep_from_ms`` keep bars
        from min(older_than_ms, keep_from_ms[symbol]) on (what its models still need). Returns rows deleted."""
        keep_from_ms = keep_from_ms or {}
        with self.db.transaction() as conn:
            before = conn.total_changes
            symbols = [r[0] for r in conn.execute("SELECT DISTINCT symbol FROM candles")]
            for symbol in symbols:
                cutoff = min(int(older_than_ms), int(keep_from_ms.get(symbol, older_than_ms)))
                conn.execute("DELETE FROM candles WHERE symbol=? AND open_time<?", (symbol, cutoff))
            return conn.total_changes - before

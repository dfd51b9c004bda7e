"""Candle store: one SQLite table keyed by (symbol, interval, open_time), idempotent upserts.

Data quirks are stored as given, never "repaired": bars off the interval grid (the 43 BTC bars
opening at hh:28:14 in Feb 2018) are kept and counted by :meth:`CandleStore.gap_report`;
zero-volume bars and bars whose close_time is not open_time + interval - 1 (one even closes
before it opens) are kept unchanged. A grid time is *missing* when no stored bar covers it,
i.e. no bar opened in (t - interval, t]; so an off-grid bar fills the grid hour it overlaps.
On the bundled BTC data this gives the README's 127 missing hours, in 27 runs (the README's
28th "gap" is the step back onto the grid after the off-grid bars, which misses no hour).

Reads are served from a per-process copy of each series in numpy arrays, checked against a
change token in ``candle_versions`` on every read (one tiny query): writes that only append
(the collector) are fetched incrementally, any other change (older bars rewritten, cleanup,
in any process) reloads the series. Reads inside a write transaction bypass the copy.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

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
    """
    CREATE TABLE candle_versions (
        symbol TEXT NOT NULL, interval TEXT NOT NULL,
        token TEXT NOT NULL, rewrite_token TEXT NOT NULL,  -- any change / a change other than an append
        PRIMARY KEY (symbol, interval)
    );
    INSERT INTO candle_versions SELECT DISTINCT symbol, interval, 'v2', 'v2' FROM candles
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


_BUMP = ("INSERT INTO candle_versions (symbol, interval, token, rewrite_token) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (symbol, interval) DO UPDATE SET token=excluded.token")


@dataclass
class _Series:
    token: str | None
    rewrite_token: str | None
    columns: dict[str, np.ndarray]


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
        self._cache: dict[tuple[str, str], _Series] = {}
        self._lock = threading.Lock()

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
            last = conn.execute("SELECT MAX(open_time) FROM candles WHERE symbol=? AND interval=?",
                                (symbol, interval)).fetchone()[0]
            before = conn.total_changes
            conn.executemany(_UPSERT, rows)
            changed = conn.total_changes - before
            if changed:
                appended = last is None or min(columns[0]) > last
                self._bump(conn, symbol, interval, rewrite=not appended)
            return changed

    @staticmethod
    def _bump(conn, symbol: str, interval: str, rewrite: bool) -> None:
        token = uuid.uuid4().hex
        conn.execute(_BUMP + (", rewrite_token=excluded.rewrite_token" if rewrite else ""),
                     (symbol, interval, token, token))

    def latest(self, symbol: str, interval: str) -> dict | None:
        """The newest stored (closed) candle as a dict of CANDLE_COLUMNS, or None."""
        tail = self.tail(symbol, interval, 1)
        return None if tail.empty else {c: tail[c].iat[0].item() for c in CANDLE_COLUMNS}

    def range(self, symbol: str, interval: str, start_ms: int | None = None,
              end_ms: int | None = None) -> pd.DataFrame:
        """Bars with start_ms <= open_time <= end_ms (either bound optional)."""
        series = self._series(symbol, interval)
        times = series["open_time"]
        lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, side="left"))
        hi = len(times) if end_ms is None else int(np.searchsorted(times, end_ms, side="right"))
        return self._frame(series, lo, max(lo, hi))

    def tail(self, symbol: str, interval: str, n: int) -> pd.DataFrame:
        """The last ``n`` bars, ascending."""
        series = self._series(symbol, interval)
        size = len(series["open_time"])
        return self._frame(series, max(0, size - max(0, int(n))), size)

    def bounds(self, symbol: str, interval: str) -> tuple[int, int] | None:
        """(first, last) stored open time, or None when there is nothing."""
        times = self._series(symbol, interval)["open_time"]
        return (int(times[0]), int(times[-1])) if len(times) else None

    def open_times(self, symbol: str, interval: str) -> np.ndarray:
        """All stored open times, ascending (int64, a copy)."""
        return self._series(symbol, interval)["open_time"].copy()

    @staticmethod
    def _frame(series: dict[str, np.ndarray], lo: int, hi: int) -> pd.DataFrame:
        return pd.DataFrame({c: series[c][lo:hi].copy() for c in CANDLE_COLUMNS})

    def _series(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        """This process's copy of the whole series, brought up to date with the database."""
        conn = self.db.connect()
        if conn.in_transaction:  # uncommitted data may be rolled back: never cache it
            return self._select(conn, symbol, interval, None)
        row = conn.execute("SELECT token, rewrite_token FROM candle_versions WHERE symbol=? AND interval=?",
                           (symbol, interval)).fetchone()
        token, rewrite_token = row if row else (None, None)
        key = (symbol, interval)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.token == token:
                return cached.columns
            if cached is not None and cached.rewrite_token == rewrite_token and len(cached.columns["open_time"]):
                new = self._select(conn, symbol, interval, int(cached.columns["open_time"][-1]) + 1)
                columns = {c: np.concatenate([cached.columns[c], new[c]]) for c in CANDLE_COLUMNS}
            else:
                columns = self._select(conn, symbol, interval, None)
            self._cache[key] = _Series(token, rewrite_token, columns)
            return columns

    @staticmethod
    def _select(conn, symbol: str, interval: str, start_ms: int | None) -> dict[str, np.ndarray]:
        rows = conn.execute(f"SELECT {_COLS} FROM candles WHERE symbol=? AND interval=? AND open_time>=? "
                            "ORDER BY open_time", (symbol, interval, -(2**62) if start_ms is None else start_ms)
                            ).fetchall()
        table = np.array(rows, dtype="float64").reshape(len(rows), len(CANDLE_COLUMNS))  # times < 2**53: exact
        return {c: table[:, i].astype("int64") if c in INT_COLUMNS else table[:, i].copy()
                for i, c in enumerate(CANDLE_COLUMNS)}

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
            deleted = 0
            for symbol, interval in conn.execute("SELECT symbol, interval FROM candle_versions").fetchall():
                cutoff = min(int(older_than_ms), int(keep_from_ms.get(symbol, older_than_ms)))
                before = conn.total_changes
                conn.execute("DELETE FROM candles WHERE symbol=? AND interval=? AND open_time<?",
                             (symbol, interval, cutoff))
                if conn.total_changes > before:
                    deleted += conn.total_changes - before
                    self._bump(conn, symbol, interval, rewrite=True)
            return deleted

"""Offline replay: the bundled real candles fed through the store as if collected live.

Each symbol has its own market clock position, persisted in ``replay_position`` (a restart
continues where it stopped). It begins ``days`` after the sample's first bar (backfill stores
those first days); :class:`ReplayClock` turns real time into market time (``replay_speed``
market seconds per real second) and ``collect_once`` advances the position by the real time
since the symbol's last update (capped, so downtime is not fast-forwarded) and stores the bars
that have closed by the new position. A bar counts as closed once both its close_time and open_time + interval - 1
are before the position (so the quirk bar that "closes before it opens" is not released
early). When the position passes the last bar the sample is exhausted: nothing more is added,
and ``status()`` says so. Intervals longer than the sample's 1h (4h, 1d, ...) are replayed from
bars resampled by :func:`engine.candles.resample`; such a bar is released once its period is over
and every 1h bar inside it is final.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd

from engine.candles import INTERVAL_MS, SAMPLE_INTERVAL, check_resample, load_sample, resample
from engine.errors import ValidationError
from engine.paths import sample_files
from engine.store import CandleStore

DAY_MS = 86_400_000
MIGRATIONS = [
    """
    CREATE TABLE replay_position (
        symbol TEXT NOT NULL, interval TEXT NOT NULL, position_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL, PRIMARY KEY (symbol, interval)
    )
    """,
]


class ReplayClock:
    """Market time for a replay: ``speed`` market seconds per real second; ``now`` (real seconds) is injectable.

    >>> clock = ReplayClock(speed=3600, now=lambda: 0.0)
    >>> clock.market_ms(2.0)  # two real seconds = two market hours
    7200000
    """

    def __init__(self, speed: float | Callable[[], float] = 1800.0, now: Callable[[], float] = time.time):
        self.speed = speed if callable(speed) else (lambda: speed)
        self.now = now

    def market_ms(self, real_seconds: float) -> int:
        return int(round(max(0.0, real_seconds) * float(self.speed()) * 1000))


@lru_cache(maxsize=None)
def _sample(symbol: str, interval: str = SAMPLE_INTERVAL) -> tuple[pd.DataFrame, np.ndarray]:
    """(bars, time each bar is final) for a bundled symbol, resampled to ``interval``."""
    hours = load_sample(symbol)
    ready = np.maximum(hours["close_time"].to_numpy(), hours["open_time"].to_numpy() + INTERVAL_MS[SAMPLE_INTERVAL] - 1)
    if interval == SAMPLE_INTERVAL:
        return hours, ready
    bars = resample(hours, interval)
    first = np.searchsorted(hours["open_time"].to_numpy(), bars["open_time"].to_numpy())  # each period's first hour
    return bars, np.maximum(bars["close_time"].to_numpy(), np.maximum.reduceat(ready, first)[:len(bars)])


class ReplaySource:
    """Replays bundled samples into ``store``, one persisted position per symbol."""

    def __init__(self, store: CandleStore, clock: ReplayClock):
        self.store, self.clock = store, clock
        store.db.migrate("replay", MIGRATIONS)

    def backfill(self, symbol: str, interval: str, days: int) -> int:
        """Start the replay ``days`` into the sample (or later if already past that); store bars up to there."""
        bars, _ = self._check(symbol, interval)
        start = int(bars["open_time"].iat[0]) + int(days) * DAY_MS
        with self.store.db.transaction():  # read and move the position as one step (several processes)
            position = self.position(symbol, interval)
            return self._release(symbol, interval, 0, start if position is None else max(position, start))

    def collect_once(self, symbol: str, interval: str, days: int, max_gap_s: float) -> int:
        """Advance this symbol by the real time since its last update (at most ``max_gap_s``, so a
        restart resumes rather than jumps) in market time; store the bars closed by then.
        A symbol not started yet starts ``days`` into its sample."""
        self._check(symbol, interval)
        with self.store.db.transaction():
            row = self._row(symbol, interval)
            if row is None:
                return self.backfill(symbol, interval, days)
            position, updated_ms = row
            real = min(self.clock.now() - updated_ms / 1000, max_gap_s)
            return self._release(symbol, interval, position, position + self.clock.market_ms(real))

    def position(self, symbol: str, interval: str) -> int | None:
        row = self._row(symbol, interval)
        return None if row is None else row[0]

    def _row(self, symbol: str, interval: str) -> tuple[int, int] | None:
        row = self.store.db.connect().execute(
            "SELECT position_ms, updated_ms FROM replay_position WHERE symbol=? AND interval=?",
            (symbol, interval)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def status(self, symbol: str, interval: str) -> dict | None:
        """{"position_ms", "sample_start_ms", "sample_end_ms", "exhausted"} or None if not started."""
        position = self.position(symbol, interval)
        if position is None or symbol not in sample_files():
            return None
        bars, ready = self._check(symbol, interval)
        return {"position_ms": position, "sample_start_ms": int(bars["open_time"].iat[0]),
                "sample_end_ms": int(ready[-1]) + 1, "exhausted": position > int(ready[-1])}

    def _check(self, symbol: str, interval: str) -> tuple[pd.DataFrame, np.ndarray]:
        try:
            check_resample(interval)
        except ValueError as exc:
            raise ValidationError("interval", f"the bundled replay has {SAMPLE_INTERVAL} candles: {exc}") from None
        if symbol not in sample_files():
            raise ValidationError("symbols", f"no bundled replay data for {symbol}; have {', '.join(sample_files())}")
        return _sample(symbol, interval)

    def _release(self, symbol: str, interval: str, old: int, new: int) -> int:
        bars, ready = _sample(symbol, interval)
        new = min(new, int(ready[-1]) + 1)  # stop at the end of the sample
        released = bars[(ready >= old) & (ready < new)]
        with self.store.db.transaction() as conn:
            stored = self.store.upsert(symbol, interval, released)
            conn.execute(
                "INSERT INTO replay_position (symbol, interval, position_ms, updated_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (symbol, interval) DO UPDATE SET position_ms=excluded.position_ms, "
                "updated_ms=excluded.updated_ms", (symbol, interval, max(new, old), int(self.clock.now() * 1000)))
        return stored

"""Candle collection: backfill, then incremental collection of closed candles, live or replayed.

Source (config ``data_source``): "live" uses Binance and never falls back (errors are
recorded and reported); "replay" replays the bundled sample; "auto" pings Binance once
(re-probed when data_source or binance_base_url change) and falls back to replay when it is
unreachable, saying why in ``stats()["source_reason"]``.

Live: a bar is stored only once closed (close_time < Binance server time; the still-open bar
is never requested). Only missing bars are requested: the grid times no stored bar covers, in
windows of at most one klines page, so a backfill over a filled range costs no request and a
gap costs one. Per-symbol failures (invalid symbol, Binance down, retries exhausted) do not
stop the other symbols: what was fetched before the failure is kept, the failure is recorded
(error count, last error, per-symbol error in stats, ``Collected.failed``) and the symbol's
range is retried by the next collection; when every symbol failed and nothing was stored,
:class:`CollectError` is raised. Counters, retries and the source live in the
``collector_state`` table, so any process sees them.
"""
from __future__ import annotations

import json
import time
from typing import Callable

import numpy as np

from engine.binance import BinanceAPIError, BinanceClient, BinanceUnavailable
from engine.candles import INTERVAL_MS
from engine.errors import ValidationError
from engine.replay import DAY_MS, ReplayClock, ReplaySource
from engine.store import CandleStore, check_key

MIGRATIONS = ["CREATE TABLE collector_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"]
FAILURES = (BinanceAPIError, BinanceUnavailable, ValidationError)
Progress = Callable[[str, int, int], None]  # (symbol, bars stored so far, bars expected)


def replay_periods_note(replay: dict[str, dict]) -> str | None:
    """A sentence saying that each replayed symbol plays its own period (and whether the periods overlap),
    from ReplaySource.status() per symbol; None for fewer than two symbols.

    >>> day = 86_400_000
    >>> replay_periods_note({"A": {"sample_start_ms": 0, "sample_end_ms": day},
    ...                      "B": {"sample_start_ms": 3 * day, "sample_end_ms": 5 * day}})
    'Each symbol replays its own period (they do not overlap): A 1970-01-01 → 1970-01-02, B 1970-01-04 → 1970-01-06.'
    """
    if len(replay) < 2:
        return None
    spans = sorted((r["sample_start_ms"], r["sample_end_ms"]) for r in replay.values())
    disjoint = all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    day = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))  # noqa: E731
    periods = ", ".join(f"{s} {day(r['sample_start_ms'])} → {day(r['sample_end_ms'])}" for s, r in replay.items())
    return f"Each symbol replays its own period{' (they do not overlap)' if disjoint else ''}: {periods}."


class CollectError(RuntimeError):
    """Every symbol failed in one backfill/collection; ``errors`` maps symbol -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{s}: {m}" for s, m in errors.items()))
        self.errors = errors


class Collected(dict):
    """{symbol: bars new or changed} of one run (a failed symbol is listed when it stored bars before
    failing); ``failed`` maps each symbol that failed to its error."""

    def __init__(self, new: dict[str, int], failed: dict[str, str]):
        super().__init__(new)
        self.failed = failed


def uncovered(times: np.ndarray, start: int, last: int, step: int) -> np.ndarray:
    """The grid times in [start, last] that no bar of ``times`` (sorted open times) covers; a bar covers
    the grid times in [open, open + step), so an off-grid bar fills the grid time it overlaps.

    >>> uncovered(np.array([0, 10, 45]), 0, 60, 10).tolist()
    [20, 30, 40, 60]
    """
    grid = np.arange(-(-start // step) * step, last + 1, step, dtype=np.int64)
    if times.size == 0:
        return grid
    before = np.searchsorted(times, grid, side="right") - 1
    return grid[(before < 0) | (times[np.maximum(before, 0)] <= grid - step)]


def missing_windows(times: np.ndarray, start: int, last: int, step: int, page: int = 1000) -> list[tuple[int, int]]:
    """[(first, last)] open-time windows covering every grid time in [start, last] that no bar of ``times``
    covers: each run of missing times is a window (paged through by bars), and runs whose span fits one
    page share a window (one request for both).

    >>> missing_windows(np.array([0, 10, 40]), 0, 60, 10, page=3)
    [(20, 30), (50, 60)]
    >>> missing_windows(np.array([0, 10, 40]), 0, 60, 10, page=5)
    [(20, 60)]
    """
    windows: list[list[int]] = []
    for t in uncovered(times, start, last, step).tolist():
        if windows and (t == windows[-1][1] + step or (t - windows[-1][0]) // step < page):
            windows[-1][1] = t
        else:
            windows.append([t, t])
    return [(first, end) for first, end in windows]


class Collector:
    """Fills ``store`` from Binance or the bundled replay; ``config`` is a callable returning the config dict."""

    def __init__(self, store: CandleStore, config: Callable[[], dict], clock: ReplayClock | None = None,
                 client: BinanceClient | None = None, sleep: Callable[[float], None] = time.sleep):
        self.store, self.config, self.sleep = store, config, sleep
        self._client, self._own_client = client, client is None
        self._reported_requests = 0  # client requests already added to the persisted count
        self._decided: tuple | None = None  # (data_source, base_url) -> (source, reason)
        self.replay = ReplaySource(store, clock or ReplayClock(lambda: self.config()["replay_speed"]))
        store.db.migrate("collector", MIGRATIONS)

    # source selection
    @property
    def client(self) -> BinanceClient:
        url = self.config()["binance_base_url"]
        if self._client is None or (self._own_client and self._client.base_url != url.rstrip("/")):
            self._client = BinanceClient(url, sleep=lambda seconds: self.sleep(seconds))  # follows self.sleep
            self._reported_requests = 0
        return self._client

    @property
    def source(self) -> str:
        """Either "live" or "replay" (data_source "auto" probes Binance once per data_source/base URL)."""
        cfg = self.config()
        key = (cfg["data_source"], cfg["binance_base_url"])
        if self._decided is None or self._decided[0] != key:
            if cfg["data_source"] != "auto":
                decision = (cfg["data_source"], f"data_source is {cfg['data_source']}")
            else:
                try:
                    self.client.ping(retries=0)
                    decision = ("live", f"Binance reachable at {cfg['binance_base_url']}")
                except (BinanceAPIError, BinanceUnavailable) as exc:
                    decision = ("replay", f"Binance unreachable at {cfg['binance_base_url']} ({exc}); "
                                          "replaying the bundled candles")
            self._decided = (key, *decision)
            self._update_state(source=decision[0], source_reason=decision[1])
        return self._decided[1]

    # collection
    def backfill(self, symbols: list[str] | None = None, days: int | None = None,
                 progress: Progress | None = None) -> dict[str, int]:
        """Store the last ``days`` (config backfill_days) of closed bars per symbol, requesting only the
        missing ones; returns bars new or changed. Replay: start each symbol's replay ``days`` into its sample."""
        days = int(days or self.config()["backfill_days"])
        if self.source == "replay":
            return self._each(symbols, lambda s, i, stored: stored(self.replay.backfill(s, i, days)))
        return self._live(symbols, lambda symbol, now: now - days * DAY_MS, progress)

    def collect_once(self, progress: Progress | None = None) -> Collected:
        """Store the bars that closed since the last stored one (live: at most backfill_days back; a symbol
        whose last run failed gets that run's range again); returns new bars per symbol. ``progress`` is
        told each live page stored."""
        cfg = self.config()
        days = cfg["backfill_days"]
        if self.source == "replay":
            max_gap_s = 2 * 60 * cfg["data_collection_interval_minutes"]  # downtime is not fast-forwarded
            return self._each(None, lambda s, i, stored: stored(self.replay.collect_once(s, i, days, max_gap_s)))

        def start(symbol: str, now: int) -> int:
            begin = now - days * DAY_MS  # never reach further back than a backfill would
            bounds = self.store.bounds(symbol, self.config()["interval"])
            return begin if bounds is None else max(begin, bounds[1] + 1)
        return self._live(None, start, progress)

    def _fetch_missing(self, symbol: str, interval: str, start: int, now: int, stored: Callable[[int], None],
                       progress: Progress | None) -> None:
        """Request the closed bars in [start, now) that the store lacks, page-sized window by window. Grid
        times Binance skipped (exchange downtime: a later bar came back, theirs did not) are remembered in
        the state, so they are not asked for again."""
        step = INTERVAL_MS[interval]
        key = f"{symbol} {interval}"
        empty = np.array(self._state().get("no_data", {}).get(key, []), dtype=np.int64)
        known = np.union1d(self.store.open_times(symbol, interval), empty)
        windows = missing_windows(known, start, (now - step) // step * step, step)
        expected = sum((last - first) // step + 1 for first, last in windows)
        seen, skipped = 0, []
        for first, last in windows:
            got = []
            for page in self.client.iter_klines(symbol, interval, first, last):
                closed = page[page["close_time"] < now]  # never the open bar
                stored(self.store.upsert(symbol, interval, closed))
                got.append(closed["open_time"].to_numpy(np.int64))
                seen += len(closed)
                if progress:
                    progress(symbol, seen, expected)
            got = np.concatenate(got) if got else np.empty(0, np.int64)
            if got.size:
                skipped += uncovered(np.union1d(known, got), first, int(got.max()), step).tolist()
        if skipped:
            with self.store.db.transaction():  # read and extend the list as one step (several processes)
                no_data = self._state().get("no_data", {})
                self._update_state(no_data={**no_data, key: sorted(set(no_data.get(key, [])) | set(skipped))})

    def _live(self, symbols: list[str] | None, start: Callable[[str, int], int],
              progress: Progress | None) -> Collected:
        """Fetch each symbol's missing bars from ``start(symbol, server_now_ms)`` (or from where its last
        failed run began, if earlier) to now (see _each)."""
        try:
            now: int | Exception = self.client.server_time()
        except FAILURES as exc:
            now = exc
        retry = dict(self._state().get("retry_from", {}))
        begun: dict[str, int] = {}

        def one(symbol: str, interval: str, stored: Callable[[int], None]) -> None:
            if isinstance(now, Exception):
                raise now
            begun[symbol] = min(start(symbol, now), retry.get(symbol, now))
            self._fetch_missing(symbol, interval, begun[symbol], now, stored, progress)

        result = None
        try:
            result = self._each(symbols, one)
            return result
        finally:  # a failed symbol's whole range is tried again by the next run (all of them if the run raised)
            failed = begun.keys() if result is None else result.failed.keys()
            self._update_state(retry_from={**{s: t for s, t in retry.items() if s not in begun},
                                           **{s: t for s, t in begun.items() if s in failed}})

    def _each(self, symbols: list[str] | None, work: Callable[[str, str, Callable[[int], None]], None]) -> Collected:
        """Run ``work(symbol, interval, stored)`` per symbol (``stored(n)`` counts bars as they land), recording
        failures; raise CollectError when every symbol failed and none stored a bar."""
        cfg = self.config()
        new, errors = {}, {}
        for symbol in list(symbols or cfg["symbols"]):
            count = [0]
            try:
                check_key(symbol, cfg["interval"])
                work(symbol, cfg["interval"], lambda n: count.__setitem__(0, count[0] + n))
            except FAILURES as exc:
                errors[symbol] = str(exc)
            if symbol not in errors or count[0]:
                new[symbol] = count[0]
        state = self._state()
        now_ms = int(time.time() * 1000)
        changes = {"symbol_errors": {**state.get("symbol_errors", {}), **{s: None for s in new if s not in errors},
                                     **errors}, "last_run_ms": now_ms}
        if errors:
            changes.update(errors=state.get("errors", 0) + len(errors), last_error={
                "text": "; ".join(f"{s}: {m}" for s, m in errors.items()), "time": now_ms})
        self._update_state(**changes)
        if errors and not any(new.values()):
            raise CollectError(errors)
        return Collected(new, errors)

    # state and stats
    def _state(self) -> dict:
        row = self.store.db.connect().execute("SELECT value FROM collector_state WHERE key='state'").fetchone()
        return json.loads(row[0]) if row else {}

    def _update_state(self, **changes) -> None:
        """Merge ``changes`` into the persisted state, adding the requests made since the last update."""
        with self.store.db.transaction() as conn:
            row = conn.execute("SELECT value FROM collector_state WHERE key='state'").fetchone()
            state = {**(json.loads(row[0]) if row else {}), **changes}
            if self._client is not None:
                state["requests"] = state.get("requests", 0) + self._client.requests - self._reported_requests
                state["weight_used"] = self._client.weight_used
                self._reported_requests = self._client.requests
            conn.execute("INSERT INTO collector_state (key, value) VALUES ('state', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (json.dumps(state),))

    def stats(self) -> dict:
        """Source, per-symbol last bar / lag / rows / error, request and error counters, replay positions.
        Makes no network call (the source shown is the last one decided, in any process)."""
        cfg, state = self.config(), self._state()
        interval = cfg["interval"]
        step = INTERVAL_MS.get(interval, 0)
        source = self._decided[1] if self._decided else state.get("source")
        rows = {c["symbol"]: c["rows"] for c in self.store.counts() if c["interval"] == interval}
        now_ms = int(time.time() * 1000)
        symbols, replay = {}, {}
        for symbol in cfg["symbols"]:
            latest = self.store.latest(symbol, interval)
            position = self.replay.status(symbol, interval)
            if position:
                replay[symbol] = position
            clock = position["position_ms"] if source == "replay" and position else now_ms
            symbols[symbol] = {
                "last_open_time": latest["open_time"] if latest else None,
                "lag_ms": clock - (latest["open_time"] + step) if latest else None,
                "rows": rows.get(symbol, 0),
                "error": state.get("symbol_errors", {}).get(symbol),
            }
        exhausted = [s for s, r in replay.items() if r["exhausted"]]
        return {
            "source": source,
            "source_reason": self._decided[2] if self._decided else state.get("source_reason", "not collected yet"),
            "replaying": source == "replay",
            "symbols": symbols,
            "requests": state.get("requests", 0),
            "weight_used": state.get("weight_used", 0),
            "errors": state.get("errors", 0),
            "last_error": state.get("last_error"),
            "last_run_ms": state.get("last_run_ms"),
            "replay": {"symbols": replay, "exhausted": exhausted,
                       "message": f"replay sample exhausted for {', '.join(exhausted)}" if exhausted else None,
                       "periods": replay_periods_note(replay) if source == "replay" else None},
        }

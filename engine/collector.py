"""Candle collection: backfill, then incremental collection of closed candles, live or replayed.

Source (config ``data_source``): "live" uses Binance and never falls back (errors are
recorded and reported); "replay" replays the bundled sample; "auto" pings Binance once
(re-probed when data_source or binance_base_url change) and falls back to replay when it is
unreachable, saying why in ``stats()["source_reason"]``.

Live: a bar is stored only once closed (close_time < Binance server time; the still-open bar
is never requested). Per-symbol failures (invalid symbol, Binance down) do not stop the other
symbols: they are recorded (error count, last error, per-symbol error in stats) and, when
every symbol failed, raised as :class:`CollectError`. Counters and the source live in the
``collector_state`` table, so any process sees them.
"""
from __future__ import annotations

import json
import time
from typing import Callable

from engine.binance import BinanceAPIError, BinanceClient, BinanceUnavailable
from engine.candles import INTERVAL_MS
from engine.errors import ValidationError
from engine.replay import DAY_MS, ReplayClock, ReplaySource
from engine.store import CandleStore, check_key

MIGRATIONS = ["CREATE TABLE collector_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"]
FAILURES = (BinanceAPIError, BinanceUnavailable, ValidationError)
Progress = Callable[[str, int, int], None]  # (symbol, bars stored so far, bars expected)


class CollectError(RuntimeError):
    """Every symbol failed in one backfill/collection; ``errors`` maps symbol -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{s}: {m}" for s, m in errors.items()))
        self.errors = errors


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
        """Store the last ``days`` (config backfill_days) of closed bars per symbol; returns bars new or changed.
        Replay: start each symbol's replay ``days`` into its sample."""
        days = int(days or self.config()["backfill_days"])
        if self.source == "replay":
            return self._each(symbols, lambda s, i: self.replay.backfill(s, i, days))

        def one(symbol: str, interval: str, now: int) -> int:
            self.client.exchange_info([symbol])  # Binance answers -1121 for an unknown symbol
            start = now - days * DAY_MS
            bounds = self.store.bounds(symbol, interval)
            if bounds and bounds[0] <= start:
                start = max(start, bounds[1] + 1)  # that history is stored: fetch only what is new
            return self._fetch(symbol, interval, start, now, progress)

        return self._live(symbols, one)

    def collect_once(self, progress: Progress | None = None) -> dict[str, int]:
        """Store the bars that closed since the last stored one (live: at most backfill_days back);
        returns new bars per symbol. ``progress`` is told each live page stored."""
        cfg = self.config()
        days = cfg["backfill_days"]
        if self.source == "replay":
            max_gap_s = 2 * 60 * cfg["data_collection_interval_minutes"]  # downtime is not fast-forwarded
            return self._each(None, lambda s, i: self.replay.collect_once(s, i, days, max_gap_s))

        def one(symbol: str, interval: str, now: int) -> int:
            bounds = self.store.bounds(symbol, interval)
            start = now - days * DAY_MS  # never reach further back than a backfill would
            return self._fetch(symbol, interval, start if bounds is None else max(start, bounds[1] + 1), now,
                               progress)

        return self._live(None, one)

    def _fetch(self, symbol: str, interval: str, start: int, now: int, progress: Progress | None) -> int:
        step = INTERVAL_MS[interval]
        expected = max(0, (now - start) // step)
        new = seen = 0
        for page in self.client.iter_klines(symbol, interval, start, now - step):  # never the open bar
            closed = page[page["close_time"] < now]
            new += self.store.upsert(symbol, interval, closed)
            seen += len(closed)
            if progress:
                progress(symbol, seen, expected)
        return new

    def _live(self, symbols: list[str] | None, work: Callable[[str, str, int], int]) -> dict[str, int]:
        """Run ``work(symbol, interval, server_now_ms)`` per symbol (see _each)."""
        try:
            now: int | Exception = self.client.server_time()
        except FAILURES as exc:
            now = exc

        def one(symbol: str, interval: str) -> int:
            if isinstance(now, Exception):
                raise now
            return work(symbol, interval, now)

        return self._each(symbols, one)

    def _each(self, symbols: list[str] | None, work: Callable[[str, str], int]) -> dict[str, int]:
        """Run ``work(symbol, interval)`` per symbol, recording failures; raise CollectError if all failed."""
        cfg = self.config()
        result, errors = {}, {}
        for symbol in list(symbols or cfg["symbols"]):
            try:
                check_key(symbol, cfg["interval"])
                result[symbol] = work(symbol, cfg["interval"])
            except FAILURES as exc:
                errors[symbol] = str(exc)
        state = self._state()
        now_ms = int(time.time() * 1000)
        changes = {"symbol_errors": {**state.get("symbol_errors", {}), **{s: None for s in result}, **errors},
                   "last_run_ms": now_ms}
        if errors:
            changes.update(errors=state.get("errors", 0) + len(errors), last_error={
                "text": "; ".join(f"{s}: {m}" for s, m in errors.items()), "time": now_ms})
        self._update_state(**changes)
        if errors and not result:
            raise CollectError(errors)
        return result

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
                       "message": f"replay sample exhausted for {', '.join(exhausted)}" if exhausted else None},
        }

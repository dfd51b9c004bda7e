"""A fake Binance spot REST server on 127.0.0.1 (real HTTP, real sockets) for tests and benches.

Serves /api/v3/ping, /time, /exchangeInfo and /klines from candle DataFrames (by default the
bundled samples) with Binance's semantics: bars with open_time >= startTime (and <= endTime),
ascending, at most ``limit`` (default 500, max 1000; without startTime the latest ones); only bars that have opened by ``now_ms`` (the server
clock, settable), the still-open one served partial, as Binance does. Every response carries
X-MBX-USED-WEIGHT-1M. Faults are queued per path and consumed one request each:

    with FakeBinance() as fake:
        fake.now_ms = ...
        fake.fail("/api/v3/klines", status=429, retry_after=1)
        client = BinanceClient(fake.url, sleep=...)

Fault kinds: ``status`` (+ ``retry_after``, ``body``), ``delay`` (seconds before answering),
``hold`` (answer only once ``release()`` is called; ``holding`` is set while a request waits),
``malformed`` (broken JSON), ``short`` (serve at most n bars), ``overlap`` (start n bars early).
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from engine.candles import CANDLE_COLUMNS, INTERVAL_MS, load_sample
from engine.paths import sample_files

WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20, "/api/v3/klines": 2}
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


class FakeBinance:
    """The fake server; use as a context manager. ``candles`` maps symbol -> 1h DataFrame."""

    def __init__(self, candles: dict[str, pd.DataFrame] | None = None, now_ms: int | None = None):
        self.candles = candles if candles is not None else {s: load_sample(s) for s in sample_files()}
        self._arrays = {s: (df["open_time"].to_numpy(), df[list(CANDLE_COLUMNS)].to_numpy(dtype=object))
                        for s, df in self.candles.items()}
        last = max(int(df["close_time"].max()) for df in self.candles.values()) if self.candles else 0
        self.now_ms = last + 1 if now_ms is None else now_ms  # default: every bar has closed
        self.extra_weight = 0  # weight "used by other clients" this minute, to test the pause
        self.hits: dict[str, int] = defaultdict(int)
        self._faults: dict[str, deque] = defaultdict(deque)
        self._weight = [0, 0]  # [minute, used]
        self._lock = threading.Lock()
        self.holding, self._released = threading.Event(), threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, path: str, times: int = 1, **fault) -> None:
        """Queue ``times`` faults for the next requests to ``path`` (see module docstring)."""
        with self._lock:
            self._faults[path].extend([fault] * times)

    def __enter__(self) -> "FakeBinance":
        self._thread.start()
        return self

    def release(self) -> None:
        """Let requests held by a ``hold`` fault (and any later ones) be answered."""
        self._released.set()

    def __exit__(self, *exc) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    # request handling (called from server threads)
    def _take_fault(self, path: str) -> dict:
        with self._lock:
            self.hits[path] += 1
            queue = self._faults.get(path)
            return queue.popleft() if queue else {}

    def _used_weight(self, path: str) -> int:
        with self._lock:
            minute = int(time.time() // 60)
            if self._weight[0] != minute:
                self._weight = [minute, 0]
            self._weight[1] += WEIGHTS.get(path, 1)
            return self._weight[1] + self.extra_weight

    def _klines(self, query: dict, fault: dict) -> tuple[int, object]:
        symbol, interval = query.get("symbol"), query.get("interval")
        if symbol not in self._arrays:
            return 400, INVALID_SYMBOL
        if interval not in INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(query.get("limit", 500)), 1000)
        times, rows = self._arrays[symbol]
        end = min(int(query.get("endTime", self.now_ms)), self.now_ms)
        hi = int(np.searchsorted(times, end, side="right"))
        if "startTime" in query:  # the first `limit` bars from startTime on
            lo = max(0, int(np.searchsorted(times, int(query["startTime"]))) - int(fault.get("overlap", 0)))
        else:  # Binance: without startTime, the latest `limit` bars up to endTime
            lo = max(0, hi - limit)
        page = [list(r) for r in rows[lo:min(hi, lo + min(limit, fault.get("short", limit)))]]
        for bar in page:
            if bar[6] >= self.now_ms:  # still open: partial values, as Binance serves it
                bar[4] = bar[1]
                bar[2] = bar[3] = bar[1]
                bar[5] = bar[7] = bar[9] = bar[10] = 0.0
                bar[8] = 0
        return 200, [[int(b[0]), f"{b[1]:.8f}", f"{b[2]:.8f}", f"{b[3]:.8f}", f"{b[4]:.8f}", f"{b[5]:.8f}",
                      int(b[6]), f"{b[7]:.8f}", int(b[8]), f"{b[9]:.8f}", f"{b[10]:.8f}", "0"] for b in page]

    def respond(self, path: str, query: dict) -> tuple[int, dict, bytes]:
        fault = self._take_fault(path)
        if fault.get("delay"):
            time.sleep(fault["delay"])
        if fault.get("hold"):
            self.holding.set()
            if not self._released.wait(fault.get("timeout", 120)):
                return 503, {}, b'{"code": -1, "msg": "held too long"}'
        headers = {"X-MBX-USED-WEIGHT-1M": str(self._used_weight(path))}
        if "status" in fault:
            if "retry_after" in fault:
                headers["Retry-After"] = str(fault["retry_after"])
            body = fault.get("body", {"code": -1003, "msg": "Too many requests."})
            return fault["status"], headers, json.dumps(body).encode()
        if fault.get("malformed"):
            return 200, headers, b'[[1502942400000, "4261.48", '
        if path == "/api/v3/ping":
            status, body = 200, {}
        elif path == "/api/v3/time":
            status, body = 200, {"serverTime": self.now_ms}
        elif path == "/api/v3/exchangeInfo":
            wanted = json.loads(query["symbols"]) if "symbols" in query else sorted(self._arrays)
            if any(s not in self._arrays for s in wanted):
                status, body = 400, INVALID_SYMBOL
            else:
                status, body = 200, {"timezone": "UTC", "serverTime": self.now_ms, "symbols": [
                    {"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": s[-4:]} for s in wanted]}
        elif path == "/api/v3/klines":
            status, body = self._klines(query, fault)
        else:
            status, body = 404, {"code": -1, "msg": "Not found."}
        return status, headers, json.dumps(body).encode()


def _handler(fake: FakeBinance):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, headers, body = fake.respond(url.path, query)
            try:
                self.send_response(status)
                for key, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    return Handler


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""Binance spot REST client (requests.Session): ping, time, exchangeInfo, klines, with rate limits.

Rate limits as Binance documents them: every response carries X-MBX-USED-WEIGHT-1M (weight
used in the current minute); before a request that would take it past ``weight_limit`` minus
``weight_margin`` the client sleeps until the minute rolls over. 429/418 wait Retry-After
seconds then retry (a Retry-After longer than ``max_wait_s`` is an IP ban: raised, not slept
through); 5xx, timeouts, connection errors and unparseable bodies are retried with capped
exponential backoff, then raise BinanceUnavailable. Binance's error bodies
{"code": -1121, "msg": "Invalid symbol."} raise BinanceAPIError. ``sleep`` is injectable.
"""
from __future__ import annotations

import re
import time
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import requests

from engine.candles import CANDLE_COLUMNS, INT_COLUMNS, INTERVAL_MS, KLINE_COLUMNS

WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20, "/api/v3/klines": 2}


class BinanceAPIError(RuntimeError):
    """Binance refused the request (HTTP 4xx, or a ban); ``code``/``msg`` as Binance sent them."""

    def __init__(self, status: int, code: int | None, msg: str):
        super().__init__(f"Binance error {code} (HTTP {status}): {msg}")
        self.status, self.code, self.msg = status, code, msg


class BinanceUnavailable(RuntimeError):
    """Binance could not be reached or kept failing (network, timeouts, 5xx) after retries."""


class BinanceClient:
    """Spot REST client; counts ``requests`` made and the last reported ``weight_used``."""

    def __init__(self, base_url: str, timeout: float = 10, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, retries: int = 5, backoff_s: float = 0.5,
                 backoff_cap_s: float = 30.0, weight_limit: int = 6000, weight_margin: int = 100,
                 max_wait_s: float = 300.0, wall_clock: Callable[[], float] = time.time):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.sleep, self.wall_clock = sleep, wall_clock
        self.retries, self.backoff_s, self.backoff_cap_s = retries, backoff_s, backoff_cap_s
        self.weight_limit, self.weight_margin, self.max_wait_s = weight_limit, weight_margin, max_wait_s
        self.requests = 0
        self.weight_used = 0
        self._weight_minute = None

    def ping(self, retries: int | None = None) -> None:
        """Raise unless Binance answers (``retries=0`` for a quick reachability probe)."""
        self._get("/api/v3/ping", {}, retries)

    def server_time(self) -> int:
        return int(self._get("/api/v3/time", {})["serverTime"])

    def exchange_info(self, symbols: list[str] | None = None) -> dict:
        params = {"symbols": "[" + ",".join(f'"{s}"' for s in symbols) + "]"} if symbols else {}
        return self._get("/api/v3/exchangeInfo", params)

    def klines(self, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 1000) -> pd.DataFrame:
        """One page of bars (open_time >= start_ms, <= end_ms, ascending, at most ``limit``)."""
        params = {"symbol": symbol, "interval": interval, "limit": int(limit)}
        if start_ms is not None:
            params["startTime"] = int(start_ms)
        if end_ms is not None:
            params["endTime"] = int(end_ms)
        rows = self._get("/api/v3/klines", params)
        if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != len(KLINE_COLUMNS) for r in rows):
            raise BinanceUnavailable("/api/v3/klines: unexpected response shape")
        table = np.array(rows, dtype=object).reshape(len(rows), len(KLINE_COLUMNS))
        try:
            return pd.DataFrame({c: table[:, i].astype("int64" if c in INT_COLUMNS else "float64")
                                 for i, c in enumerate(CANDLE_COLUMNS)})
        except (TypeError, ValueError) as exc:
            raise BinanceUnavailable(f"/api/v3/klines: unparseable bar values ({exc})") from None

    def iter_klines(self, symbol: str, interval: str, start_ms: int, end_ms: int,
                    limit: int = 1000) -> Iterator[pd.DataFrame]:
        """Page through [start_ms, end_ms]: each page starts after the last bar seen; tolerates short and
        overlapping pages; stops on an empty page or once the next bar would open after ``end_ms``."""
        step = INTERVAL_MS[interval]
        while start_ms <= end_ms:
            page = self.klines(symbol, interval, start_ms, end_ms, limit)
            page = page[(page["open_time"] >= start_ms) & (page["open_time"] <= end_ms)]
            if page.empty:
                return
            yield page.reset_index(drop=True)
            last = int(page["open_time"].iat[-1])
            if last + step > end_ms:
                return
            start_ms = last + 1

    def _get(self, path: str, params: dict, retries: int | None = None):
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            self._respect_weight(WEIGHTS.get(path, 1))
            try:
                self.requests += 1
                resp = self.session.get(self.base_url + path, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"{path}: {type(exc).__name__} ({_reason(exc)})"
            else:
                self._note_weight(resp)
                if resp.status_code in (418, 429):
                    wait = float(resp.headers.get("Retry-After") or 60)
                    if wait > self.max_wait_s or attempt == retries:
                        raise BinanceAPIError(resp.status_code, _body(resp).get("code"),
                                              f"rate limited, retry after {wait:g} s")
                    self.sleep(wait)
                    continue
                if 400 <= resp.status_code < 500:
                    body = _body(resp)
                    raise BinanceAPIError(resp.status_code, body.get("code"), body.get("msg") or resp.text[:200])
                if resp.status_code >= 500:
                    problem = f"{path}: HTTP {resp.status_code}"
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        problem = f"{path}: malformed JSON response"
            if attempt < retries:
                self.sleep(min(self.backoff_cap_s, self.backoff_s * 2**attempt))
        raise BinanceUnavailable(f"{problem} (after {retries + 1} attempt{'s' if retries else ''})")

    def _note_weight(self, resp: requests.Response) -> None:
        used = resp.headers.get("X-MBX-USED-WEIGHT-1M")
        if used is not None and used.isdigit():
            self.weight_used = int(used)
            self._weight_minute = int(self.wall_clock() // 60)

    def _respect_weight(self, weight: int) -> None:
        now = self.wall_clock()
        if self._weight_minute != int(now // 60):
            return  # a new minute: the weight count restarted
        if self.weight_used + weight > self.weight_limit - self.weight_margin:
            self.sleep(60 - now % 60 + 0.5)
            self.weight_used = 0


def _reason(exc: Exception) -> str:
    """The OS-level reason inside requests' nested error text, e.g. "[Errno 111] Connection refused"."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return found.group(0) if found else str(exc)[:160]


def _body(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

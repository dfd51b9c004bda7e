"""Backfill speed: all bundled BTC candles through the fake Binance server (real HTTP on 127.0.0.1).

Prints bars per second and requests made (goal: >= 990 bars per klines request on full pages; a re-run
over the filled range makes none: the hours Binance never had are remembered),
against a reference measured in the same run: upserting the same bars straight into a store.
Also times CandleStore.range() for a year of 1h bars (warm, and the first read that loads the series). Run: python bench/backfill.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.candles import load_sample  # noqa: E402
from engine.collector import Collector  # noqa: E402
from engine.config import validate  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.store import CandleStore  # noqa: E402
from tests.fake_binance import FakeBinance  # noqa: E402


def main() -> None:
    bars = load_sample("BTCUSDT")
    days = (int(bars["open_time"].iat[-1]) - int(bars["open_time"].iat[0])) // 86_400_000 + 2
    with tempfile.TemporaryDirectory() as tmp, FakeBinance({"BTCUSDT": bars}) as fake:
        reference = CandleStore(Database(Path(tmp) / "reference.db"))
        t0 = time.perf_counter()
        reference.upsert("BTCUSDT", "1h", bars)
        direct_s = time.perf_counter() - t0

        config = validate({"binance_base_url": fake.url, "data_source": "live", "symbols": ["BTCUSDT"]})
        store = CandleStore(Database(Path(tmp) / "market.db"))
        collector = Collector(store, lambda: config)
        t0 = time.perf_counter()
        stored = collector.backfill(days=days)["BTCUSDT"]
        backfill_s = time.perf_counter() - t0
        klines = fake.hits["/api/v3/klines"]
        full_pages = stored // 1000
        t0 = time.perf_counter()
        again = collector.backfill(days=days)["BTCUSDT"]  # over the filled range: nothing is missing
        rerun_s, rerun_klines = time.perf_counter() - t0, fake.hits["/api/v3/klines"] - klines

        year_start = int(bars["open_time"].iat[-8760])
        t0 = time.perf_counter()
        CandleStore(store.db).range("BTCUSDT", "1h", year_start)  # a fresh store: loads the whole series
        cold_s = time.perf_counter() - t0
        timings = []
        for _ in range(20):
            t0 = time.perf_counter()
            year = store.range("BTCUSDT", "1h", year_start)
            timings.append(time.perf_counter() - t0)

    print(f"bars stored:             {stored} (sample {len(bars)})")
    print(f"requests:                {collector.stats()['requests']} total, {klines} klines "
          f"({full_pages} full pages of 1000)")
    print(f"bars per klines request: {stored / klines:.1f}")
    print(f"re-run over the filled range: {again} new, {rerun_klines} klines requests, {rerun_s * 1000:.0f} ms")
    print(f"backfill:                {backfill_s:.2f} s = {stored / backfill_s:,.0f} bars/s")
    print(f"reference (direct upsert, no HTTP): {direct_s:.2f} s = {len(bars) / direct_s:,.0f} bars/s; "
          f"backfill/reference time ratio {backfill_s / direct_s:.1f}x")
    print(f"range() of a year ({len(year)} bars): median {sorted(timings)[10] * 1000:.1f} ms, "
          f"best {min(timings) * 1000:.1f} ms; first read in a fresh process (loads all {stored} bars) "
          f"{cold_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()

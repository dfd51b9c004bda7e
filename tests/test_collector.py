"""Live collection from the fake Binance server: backfill, closed bars only, faults, errors, stats."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.binance import BinanceClient
from engine.collector import CollectError, Collector
from engine.config import validate
from engine.db import Database
from engine.replay import DAY_MS
from engine.store import CandleStore
from tests.fake_binance import FakeBinance

H = 3_600_000
N = 3000  # bars the fake serves per symbol


@pytest.fixture(scope="module")
def served(btc_candles):
    return btc_candles.iloc[:N].reset_index(drop=True)


@pytest.fixture
def fake(served):
    with FakeBinance({"BTCUSDT": served}) as server:
        yield server


def make(data_dir, fake, sleeps, timeout=3.0, **settings):
    settings = validate({"binance_base_url": fake.url, "data_source": "live", "symbols": ["BTCUSDT"], **settings})
    client = BinanceClient(fake.url, timeout=timeout, sleep=sleeps.append)
    return Collector(CandleStore(Database(data_dir / "market.db")), lambda: settings, client=client)


def test_backfill_then_incremental_closed_bars_only(data_dir, fake, served):
    fake.now_ms = int(served["open_time"].iat[2000]) + 20 * 60_000  # 20 minutes into bar 2000
    collector = make(data_dir, fake, [])
    assert collector.backfill(days=30) == {"BTCUSDT": 719}  # bars opening from now - 30 days on
    stored = collector.store.range("BTCUSDT", "1h")
    pd.testing.assert_frame_equal(stored, served.iloc[1281:2000].reset_index(drop=True))
    assert collector.collect_once() == {"BTCUSDT": 0}  # bar 2000 is still open
    fake.now_ms += 45 * 60_000
    assert collector.collect_once() == {"BTCUSDT": 1}  # now closed: stored with its final values
    assert collector.store.latest("BTCUSDT", "1h") == {c: served[c].iat[2000].item() for c in served.columns}
    fake.now_ms += 5 * H
    assert collector.collect_once() == {"BTCUSDT": 5}
    assert collector.store.counts()[0]["rows"] == 725
    stats = collector.stats()
    assert stats["source"] == "live" and not stats["replaying"] and stats["errors"] == 0
    assert stats["requests"] == sum(fake.hits.values()) and stats["weight_used"] > 0
    assert stats["symbols"]["BTCUSDT"]["rows"] == 725


def test_backfill_extends_history_without_refetching_it(data_dir, fake, served):
    collector = make(data_dir, fake, [])
    progress = []
    collector.backfill(days=10, progress=lambda *a: progress.append(a))
    assert progress[-1][:2] == ("BTCUSDT", 240)
    before = fake.hits["/api/v3/klines"]
    assert collector.backfill(days=100) == {"BTCUSDT": 2160}  # 90 older days fetched
    assert collector.backfill(days=100) == {"BTCUSDT": 0}
    assert collector.store.counts()[0]["rows"] == 2400
    assert fake.hits["/api/v3/klines"] - before <= 5


FAULTS = {
    "429": dict(status=429, retry_after=1),
    "418": dict(status=418, retry_after=2),
    "500": dict(status=500, body={}),
    "timeout": dict(delay=1.5),  # the client's timeout is 0.5 s in this case
    "malformed": dict(malformed=True),
    "short page": dict(short=17),
    "overlap": dict(overlap=300),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_bar_stored_exactly_once_after_a_fault(data_dir, fake, served, fault):
    sleeps = []
    collector = make(data_dir, fake, sleeps, timeout=0.5 if fault == "timeout" else 3.0)
    fake.fail("/api/v3/klines", times=2, **FAULTS[fault])
    collector.backfill(days=N)
    fake.fail("/api/v3/time", **FAULTS[fault])
    assert collector.collect_once() == {"BTCUSDT": 0}
    pd.testing.assert_frame_equal(collector.store.range("BTCUSDT", "1h"), served)
    assert collector.stats()["errors"] == 0
    assert bool(sleeps) == (fault not in ("short page", "overlap"))


def test_invalid_symbol_is_reported_not_skipped(data_dir, fake):
    collector = make(data_dir, fake, [], symbols=["BTCUSDT", "NOPEUSDT"])
    assert collector.backfill(days=2) == {"BTCUSDT": 48}
    stats = collector.stats()
    assert stats["errors"] == 1 and "-1121" in stats["last_error"]["text"]
    assert "Invalid symbol." in stats["symbols"]["NOPEUSDT"]["error"]
    assert stats["symbols"]["BTCUSDT"]["error"] is None


def test_auto_uses_binance_when_it_answers(data_dir, fake, served):
    collector = make(data_dir, fake, [], data_source="auto")
    assert collector.source == "live"
    collector.collect_once()  # no history yet: the last backfill_days (30) are fetched
    assert collector.store.counts()[0]["rows"] == 30 * 24
    assert "reachable" in collector.stats()["source_reason"]
    assert collector.store.latest("BTCUSDT", "1h")["open_time"] == int(served["open_time"].iat[-1])
    assert collector.store.range("BTCUSDT", "1h")["open_time"].iat[0] == fake.now_ms - 30 * DAY_MS


def test_collect_after_a_long_pause_reaches_back_only_backfill_days(data_dir, fake, served):
    collector = make(data_dir, fake, [], backfill_days=10)
    collector.store.upsert("BTCUSDT", "1h", served.iloc[:100])  # old history, e.g. from an archive
    assert collector.collect_once() == {"BTCUSDT": 240}
    assert fake.hits["/api/v3/klines"] == 1
    assert collector.store.range("BTCUSDT", "1h", start_ms=int(served["open_time"].iat[100]))["open_time"].iat[0] \
        == fake.now_ms - 10 * DAY_MS


def test_backfill_over_a_filled_range_requests_nothing_and_a_gap_once(data_dir, fake, served):
    fake.now_ms = int(served["open_time"].iat[-1]) + 37 * 60_000  # mid-bar: "now - days" is off the hour grid
    collector = make(data_dir, fake, [])
    assert collector.backfill(days=100) == {"BTCUSDT": 2399}  # the last bar is still open
    hits = dict(fake.hits)
    assert collector.backfill(days=100) == {"BTCUSDT": 0}
    assert fake.hits["/api/v3/klines"] == hits["/api/v3/klines"]  # nothing missing: no klines request (was: every
    assert fake.hits["/api/v3/exchangeInfo"] == 0  # page again, "0 new"); the server time is the only request
    hole = served.iloc[-1500:-1400]
    with collector.store.db.transaction() as conn:  # a hole in the middle, e.g. left by an earlier failure
        conn.execute("DELETE FROM candles WHERE open_time BETWEEN ? AND ?",
                     (int(hole["open_time"].iat[0]), int(hole["open_time"].iat[-1])))
        CandleStore._bump(conn, "BTCUSDT", "1h", rewrite=True)  # as every store write does
    assert collector.backfill(days=100) == {"BTCUSDT": 100}
    assert fake.hits["/api/v3/klines"] == hits["/api/v3/klines"] + 1
    pd.testing.assert_frame_equal(collector.store.range("BTCUSDT", "1h"), served.iloc[-2400:-1].reset_index(drop=True))


def test_a_failed_symbol_keeps_what_it_fetched_and_is_retried_by_the_next_collection(data_dir, served):
    other = served.copy()  # a second symbol over the same hours
    with FakeBinance({"BTCUSDT": served, "ETHUSDT": other}) as fake:
        sleeps = []
        collector = make(data_dir, fake, sleeps, symbols=["BTCUSDT", "ETHUSDT"])
        fake.fail("/api/v3/klines", times=1)  # BTC's first page is served ...
        fake.fail("/api/v3/klines", times=6, status=429, retry_after=1)  # ... then a 429 storm outlasts the retries
        result = collector.backfill(days=100)
        assert result == {"BTCUSDT": 1000, "ETHUSDT": 2400} and list(result.failed) == ["BTCUSDT"]
        assert "429" in result.failed["BTCUSDT"] and sleeps.count(1.0) == 5
        stats = collector.stats()
        assert stats["symbols"]["BTCUSDT"]["rows"] == 1000 and "429" in stats["symbols"]["BTCUSDT"]["error"]
        assert collector.collect_once() == {"BTCUSDT": 1400, "ETHUSDT": 0}  # the rest of BTC's range
        pd.testing.assert_frame_equal(collector.store.range("BTCUSDT", "1h"), served.iloc[-2400:].reset_index(drop=True))
        assert collector.stats()["symbols"]["BTCUSDT"]["error"] is None
        hits = fake.hits["/api/v3/klines"]
        assert collector.collect_once() == {"BTCUSDT": 0, "ETHUSDT": 0} and fake.hits["/api/v3/klines"] == hits


def test_a_gap_inside_a_failed_range_is_filled_by_the_next_collection(data_dir, fake, served):
    collector = make(data_dir, fake, [])
    collector.backfill(days=10)  # the newest 240 bars
    fake.fail("/api/v3/klines", times=6, status=500)
    with pytest.raises(CollectError):  # nothing stored at all: the run fails
        collector.backfill(days=100)
    assert collector.collect_once() == {"BTCUSDT": 2160}  # the older 90 days, although newer bars are stored
    assert collector.store.counts()[0]["rows"] == 2400


def test_hours_binance_never_had_are_asked_for_once(data_dir, served):
    outage = served.drop(index=range(500, 505)).reset_index(drop=True)  # the exchange was down 5 hours
    with FakeBinance({"BTCUSDT": outage}) as fake:
        fake.now_ms = int(served["open_time"].iat[2900])
        collector = make(data_dir, fake, [])
        new = collector.backfill(days=120)["BTCUSDT"]
        missing = collector.store.gaps("BTCUSDT", "1h")  # the 5 hours, and a few the real 2017 data lacks too
        assert new + len(missing) == 2880 and len(missing) >= 5
        klines = fake.hits["/api/v3/klines"]
        assert collector.backfill(days=120) == {"BTCUSDT": 0} and fake.hits["/api/v3/klines"] == klines
        fake.now_ms += 3 * H  # three new bars: one request for them, none for the outage 2,400 bars back
        assert collector.backfill(days=120) == {"BTCUSDT": 3} and fake.hits["/api/v3/klines"] == klines + 1

"""Replay: clock-driven, closed candles only, persisted position, exhaustion, fallback from Binance."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.candles import load_sample
from engine.collector import CollectError, Collector
from engine.config import validate
from engine.db import Database
from engine.replay import DAY_MS, ReplayClock, ReplaySource
from engine.store import CandleStore
from tests.fake_binance import closed_port

H = 3_600_000


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


class Harness:
    """A collector on a fresh data dir whose replay clock the test moves by hand."""

    def __init__(self, data_dir, **settings):
        self.t = [1000.0]
        self.settings = validate({"binance_base_url": f"http://127.0.0.1:{closed_port()}",
                                  "replay_speed": 3600.0, **settings})
        self.store = CandleStore(Database(data_dir / "market.db"))
        self.collector = self.new_collector()

    def new_collector(self) -> Collector:
        """Another collector on the same data dir, as after a restart."""
        return Collector(self.store, lambda: self.settings, clock=ReplayClock(
            lambda: self.settings["replay_speed"], now=lambda: self.t[0]))

    def wait(self, seconds: float) -> dict:
        self.t[0] += seconds
        return self.collector.collect_once()


def test_clock_drives_the_replay_and_releases_closed_candles_only(data_dir, btc_candles):
    h = Harness(data_dir, data_source="replay", symbols=["BTCUSDT"])
    first = int(btc_candles["open_time"].iat[0])
    assert h.collector.backfill(days=10) == {"BTCUSDT": 240}
    assert h.store.latest("BTCUSDT", "1h")["open_time"] == first + 10 * DAY_MS - H
    assert h.wait(0.5) == {"BTCUSDT": 0}  # half a market hour: the next bar is still open
    assert h.wait(0.5) == {"BTCUSDT": 1}
    assert h.wait(2.0) == {"BTCUSDT": 2}
    position = h.collector.stats()["replay"]["symbols"]["BTCUSDT"]["position_ms"]
    assert position == first + 10 * DAY_MS + 3 * H
    stored = h.store.range("BTCUSDT", "1h")
    assert (stored["close_time"] < position).all()
    pd.testing.assert_frame_equal(stored, btc_candles.iloc[:243].reset_index(drop=True))
    h.settings = dict(h.settings, replay_speed=7200.0)  # config changes apply on the next tick
    assert h.wait(1.0) == {"BTCUSDT": 2}
    stats = h.collector.stats()
    assert stats["source"] == "replay" and stats["replaying"] and stats["symbols"]["BTCUSDT"]["lag_ms"] == 0


def test_restart_continues_where_it_stopped(data_dir):
    h = Harness(data_dir, data_source="replay")
    h.collector.backfill(days=3)
    h.wait(5.0)
    rows = {c["symbol"]: c["rows"] for c in h.store.counts()}
    assert rows == {"BTCUSDT": 77, "ETHUSDT": 77}
    h.collector = h.new_collector()  # a new process: positions come from the database
    assert h.collector.collect_once() == {"BTCUSDT": 0, "ETHUSDT": 0}
    assert h.wait(1.0) == {"BTCUSDT": 1, "ETHUSDT": 1}
    assert h.collector.backfill(days=3) == {"BTCUSDT": 0, "ETHUSDT": 0}  # backfill does not rewind


def test_a_bar_closing_before_it_opens_is_not_released_early(data_dir):
    store = CandleStore(Database(data_dir / "market.db"))
    t = [0.0]
    replay = ReplaySource(store, ReplayClock(1.0, now=lambda: t[0]))  # market time = real time
    start = ms("2017-08-17 04:00") + 1221 * DAY_MS
    replay.backfill("BTCUSDT", "1h", 1221)
    t[0] += (ms("2020-12-21 14:30") - start) / 1000  # the 14:00 bar says it closed at 13:59:59.999
    replay.collect_once("BTCUSDT", "1h", 1221, max_gap_s=1e9)
    assert store.latest("BTCUSDT", "1h")["open_time"] == ms("2020-12-21 13:00")
    t[0] += 1800
    replay.collect_once("BTCUSDT", "1h", 1221, max_gap_s=1e9)
    assert store.latest("BTCUSDT", "1h")["open_time"] == ms("2020-12-21 14:00")


def test_downtime_is_not_fast_forwarded(data_dir):
    h = Harness(data_dir, data_source="replay", symbols=["BTCUSDT"], data_collection_interval_minutes=0.05)
    h.collector.backfill(days=1)
    assert h.wait(2.0) == {"BTCUSDT": 2}
    assert h.wait(3600.0) == {"BTCUSDT": 6}  # a long stop resumes with at most 2 intervals (6 s) of replay


def test_exhausted_sample_is_reported_and_nothing_more_is_added(data_dir, btc_candles):
    h = Harness(data_dir, data_source="replay", symbols=["BTCUSDT"], replay_speed=1e7)
    h.collector.backfill(days=1)
    h.wait(20.0)  # 2300 market days: past the end of the sample
    assert h.store.counts()[0]["rows"] == len(btc_candles)
    assert h.wait(100.0) == {"BTCUSDT": 0}
    replay = h.collector.stats()["replay"]
    assert replay["exhausted"] == ["BTCUSDT"] and "exhausted" in replay["message"]
    assert replay["symbols"]["BTCUSDT"]["position_ms"] == replay["symbols"]["BTCUSDT"]["sample_end_ms"]


def test_auto_falls_back_to_replay_when_binance_is_unreachable(data_dir):
    h = Harness(data_dir, data_source="auto", symbols=["BTCUSDT"])
    assert h.collector.source == "replay"
    h.collector.backfill(days=2)
    stats = h.collector.stats()
    assert stats["source"] == "replay" and "unreachable" in stats["source_reason"]
    assert "Connection refused" in stats["source_reason"] and stats["errors"] == 0
    assert h.new_collector().stats()["source"] == "replay"  # another process sees it too


def test_live_never_falls_back_and_reports_the_error(data_dir):
    h = Harness(data_dir, data_source="live", symbols=["BTCUSDT", "ETHUSDT"])
    h.collector.client.retries = 0
    with pytest.raises(CollectError, match="refused"):
        h.collector.collect_once()
    stats = h.collector.stats()
    assert stats["source"] == "live" and stats["errors"] == 2 and h.store.counts() == []
    assert "refused" in stats["last_error"]["text"] and "refused" in stats["symbols"]["ETHUSDT"]["error"]


def test_replay_problems_are_reported_per_symbol(data_dir):
    h = Harness(data_dir, data_source="replay", symbols=["BTCUSDT", "SOLUSDT"])
    assert h.collector.backfill(days=1) == {"BTCUSDT": 24}
    stats = h.collector.stats()
    assert "no bundled replay data for SOLUSDT" in stats["symbols"]["SOLUSDT"]["error"]
    assert stats["symbols"]["BTCUSDT"]["error"] is None and stats["errors"] == 1
    h.settings = dict(h.settings, interval="15m")
    with pytest.raises(CollectError, match="15m bars cannot be built from 1h"):
        h.collector.collect_once()


def test_4h_replay_releases_a_bar_once_its_period_is_over(data_dir):
    h = Harness(data_dir, data_source="replay", symbols=["ETHUSDT"], interval="4h")
    first = ms("2024-05-13 16:00")
    assert h.collector.backfill(days=2) == {"ETHUSDT": 12}  # 2 days of 4h bars
    assert h.store.latest("ETHUSDT", "4h")["open_time"] == first + 2 * DAY_MS - 4 * H
    assert h.wait(3.5) == {"ETHUSDT": 0}  # 3.5 market hours: the next 4h period is still open
    assert h.wait(0.5) == {"ETHUSDT": 1}
    bar = h.store.latest("ETHUSDT", "4h")
    hours = load_sample("ETHUSDT").set_index("open_time").loc[bar["open_time"]:bar["open_time"] + 3 * H]
    assert (bar["open"], bar["close"], bar["high"]) == (hours.open.iloc[0], hours.close.iloc[-1], hours.high.max())

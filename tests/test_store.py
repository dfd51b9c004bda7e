"""CandleStore: idempotent upserts, reads, the gap report on the real BTC sample, cleanup, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.candles import CANDLE_COLUMNS
from engine.db import Database
from engine.errors import ValidationError
from engine.store import CandleStore

H = 3_600_000


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def full_store(tmp_path_factory, btc_candles):
    store = CandleStore(Database(tmp_path_factory.mktemp("store") / "market.db"))
    assert store.upsert("BTCUSDT", "1h", btc_candles) == len(btc_candles)
    return store


@pytest.fixture
def store(data_dir):
    return CandleStore(Database(data_dir / "market.db"))


def test_upsert_is_idempotent_and_counts_only_real_changes(store, btc_candles):
    bars = btc_candles.iloc[:500]
    assert store.upsert("BTCUSDT", "1h", bars) == 500
    assert store.upsert("BTCUSDT", "1h", bars) == 0
    changed = bars.copy()
    changed.loc[changed.index[10], "close"] += 1.0
    assert store.upsert("BTCUSDT", "1h", changed.iloc[5:600 - 100]) == 1
    assert store.range("BTCUSDT", "1h")["close"].iat[10] == changed["close"].iat[10]
    assert store.counts() == [{"symbol": "BTCUSDT", "interval": "1h", "rows": 500,
                               "first_open_time": int(bars["open_time"].iat[0]),
                               "last_open_time": int(bars["open_time"].iat[-1])}]
    # a reopened database (migrations already applied) keeps everything
    assert len(CandleStore(Database(store.db.path)).range("BTCUSDT", "1h")) == 500


def test_reads_round_trip_exactly(full_store, btc_candles):
    everything = full_store.range("BTCUSDT", "1h")
    pd.testing.assert_frame_equal(everything, btc_candles.reset_index(drop=True))
    start, end = int(btc_candles["open_time"].iat[1000]), int(btc_candles["open_time"].iat[1099])
    part = full_store.range("BTCUSDT", "1h", start, end)
    assert len(part) == 100 and part["open_time"].iat[0] == start and part["open_time"].iat[-1] == end
    tail = full_store.tail("BTCUSDT", "1h", 3)
    pd.testing.assert_frame_equal(tail, btc_candles.tail(3).reset_index(drop=True))
    assert full_store.latest("BTCUSDT", "1h") == {c: btc_candles[c].iat[-1].item() for c in CANDLE_COLUMNS}
    assert full_store.latest("ETHUSDT", "1h") is None
    assert full_store.range("BTCUSDT", "4h").empty and list(full_store.tail("X", "1h", 5).columns) == list(CANDLE_COLUMNS)


def test_quirks_are_stored_as_given(full_store):
    backwards = full_store.range("BTCUSDT", "1h", ms("2020-12-21 14:00"), ms("2020-12-21 14:00"))
    assert len(backwards) == 1 and backwards["close_time"].iat[0] < backwards["open_time"].iat[0]
    assert backwards["volume"].iat[0] == 0.0
    off_grid = full_store.range("BTCUSDT", "1h", ms("2018-02-09 00:00"), ms("2018-02-12 00:00"))["open_time"]
    assert (off_grid % H != 0).sum() == 43


def test_gap_report_matches_the_documented_outages(full_store):
    report = full_store.gap_report("BTCUSDT", "1h")
    assert report["missing"] == 127  # data/sample/README.md: 127 missing hours
    assert report["off_grid_bars"] == 43
    assert len(report["runs"]) == 27  # README's 28th "gap" is the step back onto the grid (misses no hour)
    runs = {first: (last, n) for first, last, n in report["runs"]}
    assert runs[ms("2019-05-15 03:00")] == (ms("2019-05-15 12:00"), 10)
    assert runs[ms("2018-02-08 01:00")] == (ms("2018-02-09 09:00"), 33)  # up to the off-grid 09:28:14 bar
    missing = full_store.gaps("BTCUSDT", "1h")
    assert len(missing) == 127 and missing == sorted(missing)
    assert full_store.gaps("BTCUSDT", "1h", ms("2019-05-15 00:00"), ms("2019-05-16 00:00")) == [
        ms("2019-05-15 03:00") + i * H for i in range(10)]
    assert full_store.gaps("BTCUSDT", "1h", ms("2022-01-01"), ms("2022-06-01")) == []


def test_cleanup_keeps_what_models_still_need(store, btc_candles):
    bars = btc_candles.iloc[:100]
    store.upsert("BTCUSDT", "1h", bars)
    store.upsert("ETHUSDT", "1h", bars)
    cut = int(bars["open_time"].iat[50])
    keep = int(bars["open_time"].iat[20])
    assert store.cleanup(cut, keep_from_ms={"ETHUSDT": keep}) == 50 + 20
    assert store.range("BTCUSDT", "1h")["open_time"].iat[0] == cut
    assert store.range("ETHUSDT", "1h")["open_time"].iat[0] == keep
    assert store.cleanup(cut, keep_from_ms={"ETHUSDT": keep}) == 0


@pytest.mark.parametrize("symbol, interval, change, field", [
    ("btc", "1h", None, "symbol"),
    ("BTCUSDT", "7h", None, "interval"),
    ("BTCUSDT", "1h", lambda df: df.drop(columns=["close"]), "candles"),
    ("BTCUSDT", "1h", lambda df: df.assign(high=np.where(np.arange(len(df)) == 3, np.nan, df["high"])), "candles"),
])
def test_bad_input_is_rejected_and_changes_nothing(store, btc_candles, symbol, interval, change, field):
    store.upsert("BTCUSDT", "1h", btc_candles.iloc[:5])
    bars = btc_candles.iloc[:10].copy()
    bars["close"] += 1
    with pytest.raises(ValidationError) as err:
        store.upsert(symbol, interval, change(bars) if change else bars)
    assert err.value.field == field
    assert store.counts()[0]["rows"] == 5
    pd.testing.assert_frame_equal(store.range("BTCUSDT", "1h"), btc_candles.iloc[:5].reset_index(drop=True))


def test_cached_reads_follow_writes_from_other_processes(store, btc_candles):
    other = CandleStore(Database(store.db.path))  # another process: its own cache and connection
    store.upsert("BTCUSDT", "1h", btc_candles.iloc[:100])
    assert len(other.range("BTCUSDT", "1h")) == 100  # cached now
    store.upsert("BTCUSDT", "1h", btc_candles.iloc[100:130])  # an append
    assert other.tail("BTCUSDT", "1h", 1)["open_time"].iat[0] == btc_candles["open_time"].iat[129]
    rewritten = btc_candles.iloc[[10]].assign(close=1.5)  # an older bar changes
    store.upsert("BTCUSDT", "1h", rewritten)
    assert other.range("BTCUSDT", "1h")["close"].iat[10] == 1.5
    store.cleanup(int(btc_candles["open_time"].iat[50]))
    assert other.bounds("BTCUSDT", "1h") == (int(btc_candles["open_time"].iat[50]),
                                             int(btc_candles["open_time"].iat[129]))
    frame = other.range("BTCUSDT", "1h")
    frame.loc[0, "close"] = -1.0  # callers get copies: the cache is not theirs to change
    assert other.range("BTCUSDT", "1h")["close"].iat[0] > 0


def test_a_rolled_back_write_leaves_no_trace_in_the_cache(store, btc_candles):
    store.upsert("BTCUSDT", "1h", btc_candles.iloc[:10])
    with pytest.raises(RuntimeError):
        with store.db.transaction():
            store.upsert("BTCUSDT", "1h", btc_candles.iloc[10:20])
            assert len(store.range("BTCUSDT", "1h")) == 20  # seen inside the transaction
            raise RuntimeError("abort")
    assert len(store.range("BTCUSDT", "1h")) == 10
    store.upsert("BTCUSDT", "1h", btc_candles.iloc[10:15])
    pd.testing.assert_frame_equal(store.range("BTCUSDT", "1h"), btc_candles.iloc[:15].reset_index(drop=True))

"""BinanceClient against the fake Binance server over real HTTP: paging, errors, retries, rate limits."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.binance import BinanceAPIError, BinanceClient, BinanceUnavailable
from tests.fake_binance import FakeBinance, closed_port

H = 3_600_000


@pytest.fixture(scope="module")
def fake(btc_candles):
    with FakeBinance({"BTCUSDT": btc_candles.iloc[:5000].reset_index(drop=True)}) as server:
        yield server


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake, sleeps):
    return BinanceClient(fake.url, timeout=2, sleep=sleeps.append)


def test_klines_follow_binance_paging_semantics(client, btc_candles):
    start = int(btc_candles["open_time"].iat[100]) + 5  # between bars: the next bar is the first
    page = client.klines("BTCUSDT", "1h", start_ms=start, limit=50)
    expected = btc_candles.iloc[101:151].reset_index(drop=True)
    pd.testing.assert_frame_equal(page, expected, check_exact=False, rtol=1e-12)
    end = int(btc_candles["open_time"].iat[120])
    assert page.dtypes.tolist() == btc_candles.dtypes.tolist()
    assert client.klines("BTCUSDT", "1h", start, end)["open_time"].iat[-1] == end
    assert client.klines("BTCUSDT", "1h", start, start + 1).empty
    assert client.requests == 3 and client.weight_used > 0


def test_ping_time_and_exchange_info(client, fake):
    client.ping()
    assert client.server_time() == fake.now_ms
    assert [s["symbol"] for s in client.exchange_info(["BTCUSDT"])["symbols"]] == ["BTCUSDT"]


def test_invalid_symbol_is_a_typed_error_not_retried(client, fake):
    before = fake.hits["/api/v3/klines"]
    with pytest.raises(BinanceAPIError) as err:
        client.klines("NOPEUSDT", "1h")
    assert (err.value.status, err.value.code, err.value.msg) == (400, -1121, "Invalid symbol.")
    assert "Invalid symbol" in str(err.value)
    assert fake.hits["/api/v3/klines"] == before + 1
    with pytest.raises(BinanceAPIError):
        client.exchange_info(["BTCUSDT", "NOPEUSDT"])


def test_429_waits_retry_after_then_succeeds(client, fake, sleeps):
    fake.fail("/api/v3/time", status=429, retry_after=7)
    assert client.server_time() == fake.now_ms
    assert sleeps == [7.0] and client.requests == 2


def test_418_with_a_long_ban_is_raised_not_slept_through(client, fake, sleeps):
    fake.fail("/api/v3/time", status=418, retry_after=3600, body={"code": -1003, "msg": "IP banned"})
    with pytest.raises(BinanceAPIError) as err:
        client.server_time()
    assert err.value.status == 418 and "3600" in err.value.msg and sleeps == []
    fake.fail("/api/v3/time", status=418, retry_after=2)
    assert client.server_time() == fake.now_ms and sleeps == [2.0]


def test_5xx_and_malformed_bodies_are_retried_with_capped_backoff(fake, sleeps):
    client = BinanceClient(fake.url, timeout=2, sleep=sleeps.append, backoff_s=1, backoff_cap_s=3)
    fake.fail("/api/v3/time", times=3, status=500, body={})
    fake.fail("/api/v3/time", malformed=True)
    assert client.server_time() == fake.now_ms
    assert sleeps == [1, 2, 3, 3]
    fake.fail("/api/v3/time", times=6, status=503, body={})
    with pytest.raises(BinanceUnavailable, match="HTTP 503.*6 attempts"):
        client.server_time()


def test_timeouts_are_retried(fake, sleeps):
    client = BinanceClient(fake.url, timeout=0.8, sleep=sleeps.append)
    fake.fail("/api/v3/ping", delay=1.6)
    client.ping()
    assert sleeps and client.requests == len(sleeps) + 1  # timed out, backed off, then answered


def test_unreachable_host_raises_unavailable(sleeps):
    client = BinanceClient(f"http://127.0.0.1:{closed_port()}", timeout=1, sleep=sleeps.append, retries=2)
    with pytest.raises(BinanceUnavailable, match="refused"):
        client.ping()
    assert len(sleeps) == 2
    with pytest.raises(BinanceUnavailable):
        client.ping(retries=0)
    assert len(sleeps) == 2


def test_pauses_until_the_minute_rolls_over_when_the_weight_budget_is_close(fake, sleeps):
    now = [120.0 + 42]  # 42 s into a minute
    client = BinanceClient(fake.url, sleep=sleeps.append, wall_clock=lambda: now[0])
    fake.extra_weight = 5950
    try:
        client.ping()
        assert sleeps == [] and client.weight_used > 5900
        client.ping()  # 5950 + 1 would come within the 100 margin of 6000: wait out the minute
        assert sleeps == [pytest.approx(18.5)]
        now[0] = 180.0 + 1  # a new minute: the count restarted, no pause
        client.ping()
        assert len(sleeps) == 1
    finally:
        fake.extra_weight = 0


def test_iter_klines_survives_short_and_overlapping_pages(client, fake, btc_candles):
    start, end = int(btc_candles["open_time"].iat[0]), int(btc_candles["open_time"].iat[2499])
    fake.fail("/api/v3/klines", short=10)
    fake.fail("/api/v3/klines", overlap=40)
    fake.fail("/api/v3/klines", times=2, short=333, overlap=7)
    pages = list(client.iter_klines("BTCUSDT", "1h", start, end))
    got = pd.concat(pages)["open_time"].to_numpy()
    assert got.tolist() == btc_candles["open_time"].iloc[:2500].tolist()  # every bar once, in order
    assert [len(p) for p in pages][:4] == [10, 990, 326, 326]  # overlapped bars dropped


def test_unparseable_bars_are_an_error_not_a_crash(client, fake):
    fake.fail("/api/v3/klines", status=200, body=[[1, "x", "2", "1", "1", "1", 2, "1", 1, "1", "1", "0"]])
    with pytest.raises(BinanceUnavailable, match="unparseable"):
        client.klines("BTCUSDT", "1h")
    fake.fail("/api/v3/klines", status=200, body={"unexpected": "object"})
    with pytest.raises(BinanceUnavailable, match="shape"):
        client.klines("BTCUSDT", "1h")


def test_without_start_time_the_latest_bars_come_back(client, fake, btc_candles):
    end = int(btc_candles["open_time"].iat[300])
    page = client.klines("BTCUSDT", "1h", end_ms=end, limit=5)
    assert page["open_time"].tolist() == btc_candles["open_time"].iloc[296:301].tolist()

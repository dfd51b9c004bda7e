"""Resampling the bundled 1h candles to 4h and 1d: aligned, causal, gaps respected."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.candles import CANDLE_COLUMNS, INTERVAL_MS, load_sample, resample

H = INTERVAL_MS["1h"]


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.mark.parametrize("interval", ["4h", "1d"])
def test_each_bar_aggregates_the_hours_of_its_period(btc_candles, interval):
    bars = resample(btc_candles, interval)
    step = INTERVAL_MS[interval]
    assert list(bars.columns) == list(CANDLE_COLUMNS)
    assert (bars.open_time % step == 0).all() and (np.diff(bars.open_time) >= step).all()
    assert (bars.close_time == bars.open_time + step - 1).all()
    hours = btc_candles.assign(period=btc_candles.open_time // step * step)
    for t in bars.open_time.sample(50, random_state=0):
        inside = hours[hours.period == t]
        bar = bars.set_index("open_time").loc[t]
        assert (bar.open, bar.close) == (inside.open.iloc[0], inside.close.iloc[-1])
        assert (bar.high, bar.low) == (inside.high.max(), inside.low.min())
        assert bar.volume == pytest.approx(inside.volume.sum()) and bar.trades == inside.trades.sum()


def test_gaps_are_respected_not_filled(btc_candles):
    """BTC has no bars 2018-02-08 00:00 -> 2018-02-09 09:28: no 4h bar for the empty periods, and the
    period the outage began in aggregates only the hours it has."""
    bars = resample(btc_candles, "4h").set_index("open_time")
    assert ms("2018-02-08 04:00") not in bars.index and ms("2018-02-09 04:00") not in bars.index
    hours = btc_candles.set_index("open_time")
    assert bars.loc[ms("2018-02-08 00:00"), "volume"] == pytest.approx(hours.loc[ms("2018-02-08 00:00"), "volume"])
    assert bars.loc[ms("2018-02-09 08:00"), "open"] == hours.loc[ms("2018-02-09 09:28:14"), "open"]  # off-grid hour


def test_causal_a_bar_exists_only_once_its_period_is_over_and_never_changes(btc_candles):
    full = resample(btc_candles, "1d")
    for cut in (1000, 1013, 1020):  # mid-day, mid-day, mid-day cuts of the hourly data
        early = resample(btc_candles.iloc[:cut], "1d")
        last_hour = btc_candles.open_time.iloc[cut - 1]
        assert (early.close_time < last_hour + H).all()  # no unfinished day
        assert early.open_time.iloc[-1] == (last_hour + H) // 86_400_000 * 86_400_000 - 86_400_000
        pd.testing.assert_frame_equal(early, full.iloc[:len(early)])
    day_end = int(np.flatnonzero(btc_candles.open_time.to_numpy() % 86_400_000 == 23 * H)[3])
    assert len(resample(btc_candles.iloc[:day_end + 1], "1d")) == len(resample(btc_candles.iloc[:day_end], "1d")) + 1


def test_sample_loads_resampled_and_refuses_shorter_or_odd_intervals():
    eth = load_sample("ETHUSDT", "4h")
    assert len(eth) == 17520 // 4  # the sample runs from 16:00 to the 15:00 bar: whole 4h periods only
    assert len(resample(load_sample("ETHUSDT").iloc[:-1], "4h")) == 17520 // 4 - 1  # the last one unfinished
    for bad in ("15m", "7h"):
        with pytest.raises(ValueError, match="cannot be built from 1h"):
            resample(eth, bad)

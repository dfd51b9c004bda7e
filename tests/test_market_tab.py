"""The Market tab's view on a real system (replayed candles): one symbol with its trades and PnL on the same
time axis, or one small chart per symbol."""
from __future__ import annotations

import pandas as pd
import pytest

from callbacks.market import market_view
from tests.dashboard_fixtures import text_of
from tests.system_fixtures import make_system
from trading_fixtures import FEATURES, NO_GATES


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Both symbols replayed (20 days each, different eras) and one BTCUSDT paper trade on the stored bars."""
    system = make_system(tmp_path_factory.mktemp("market") / "data", collect=True, HLS_BACKFILL_DAYS="20",
                         **NO_GATES)
    candles = system.store.tail("BTCUSDT", "1h", 30)
    signal_bar = int(candles["open_time"].iloc[-10])
    system.trader.on_prediction({"symbol": "BTCUSDT", "open_time": signal_bar, "ensemble_prediction": 1,
                                 "ensemble_confidence": 0.99, "status": "ok", "features": FEATURES})
    system.trader.on_candles("BTCUSDT")
    return system


def test_one_symbol_shows_its_candles_trades_and_pnl_on_the_same_time_axis(system):
    fig, equity, summary = market_view(system, "BTCUSDT", 24 * 7)
    candles = next(t for t in fig.data if t.type == "candlestick")
    assert len(candles.x) == 24 * 7
    assert len(next(t for t in fig.data if t.name == "LONG entry").x) == 1
    assert fig.layout.meta["xsync"]["xaxis"] == equity.layout.meta["xsync"]["xaxis"] == "BTCUSDT"  # zoomed together
    assert equity.layout.xaxis.range is None  # fits its data, keeps the user's zoom across redraws
    text = text_of(summary)
    assert "Last close" in text and "Paper trades shown 1" in text
    assert ("Replay: BTCUSDT plays its own period, 2017-08-17 04:00 → 2023-01-01 00:00 UTC; market time now "
            "2017-09-06") in text
    fig, _, _ = market_view(system, "ETHUSDT", 24 * 90)  # more than stored: shows what there is
    eth = next(c["rows"] for c in system.store.counts() if c["symbol"] == "ETHUSDT")
    assert len(next(t for t in fig.data if t.type == "candlestick").x) == eth


def test_all_symbols_draw_one_chart_each_and_say_each_replays_its_own_period(system):
    fig, equity, note = market_view(system, None, 24 * 7)
    years = {t.name: pd.Timestamp(int(t.x[0]), unit="ms").year for t in fig.data if t.type == "candlestick"}
    assert years == {"BTCUSDT": 2017, "ETHUSDT": 2024}
    assert fig.layout.meta["xsync"] == {"xaxis": "BTCUSDT", "xaxis2": "ETHUSDT"}
    assert set(equity.layout.meta["xsync"].values()) == {"BTCUSDT", "ETHUSDT"}
    assert "Each symbol replays its own period (they do not overlap)" in text_of(note)

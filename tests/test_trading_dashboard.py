"""The Trades tab: figure, tables and the learning events, rendered from a real system's trader."""
from __future__ import annotations

import pandas as pd
import pytest

from callbacks.trades import trades_figure, trades_page, trades_view
from layouts.shell import build_layout
from tests.dashboard_fixtures import find, text_of
from tests.system_fixtures import make_system
from trading_fixtures import FEATURES, HOUR, T0, bars

FLAT = (100, 100.5, 99.5, 100)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Two closed BTCUSDT trades (a won LONG, a lost SHORT) and one open ETHUSDT trade."""
    system = make_system(tmp_path_factory.mktemp("trading_dash") / "data", HLS_COST_GATE_ENABLED="false",
                         HLS_OUTCOME_GATE_ENABLED="false")  # every confident call trades
    system.store.upsert("BTCUSDT", "1h", bars([FLAT, FLAT, (100, 102.6, 99.8, 102.4), (102.4, 104, 102, 103.9),
                                               (103.9, 105.5, 103.5, 105)]))
    system.store.upsert("ETHUSDT", "1h", bars([FLAT]))
    for symbol, open_time, up in (("BTCUSDT", T0, 1), ("BTCUSDT", T0 + 2 * HOUR, 0), ("ETHUSDT", T0, 1)):
        system.trader.on_candles(symbol)
        system.trader.on_prediction({"symbol": symbol, "open_time": open_time, "ensemble_prediction": up,
                                     "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
        system.trader.on_candles(symbol)
    return system


def test_figure_draws_trades_against_buy_and_hold_and_win_rate(system):
    fig, _ = trades_page(system, "BTCUSDT")
    names = [t.name for t in fig.data]
    assert names == ["buy & hold", "paper trades (after fees)", "win rate"]
    realised = fig.data[1].y
    assert len(realised) == 2 and realised[0] > 0 > realised[1] - realised[0]  # a win, then a loss
    assert list(fig.data[2].y) == [1.0, 0.5]
    assert len(fig.data[0].x) == 4  # buy-and-hold from the first entry bar to the latest bar


def test_empty_figure_says_why():
    empty = pd.DataFrame()
    fig = trades_figure(empty, empty)
    assert fig.data == () and "No paper trades yet" in fig.layout.annotations[0].text


def test_content_lists_open_and_closed_trades_with_their_learning_events(system):
    _, content = trades_page(system, None)
    closed = text_of(find(content, "closed-trades-table"))
    assert "take profit" in closed and "stop loss" in closed
    assert closed.count("target 1 (up) · delivered") == 2  # the LONG won and the SHORT lost: both teach "up"
    assert "awaiting next bar" in text_of(find(content, "open-trades-table"))
    events = text_of(find(content, "learning-events-table"))
    assert events.count("delivered") == 2 and "#1" in events and "#2" in events
    stats = text_of(find(content, "trades-stats"))
    assert "50.0%" in stats and "1 won · 1 lost" in stats and "0 pending · 0 failed" in stats


def test_symbol_filter_and_tab_layout(system):
    _, content = trades_page(system, "ETHUSDT")
    assert "No closed trades yet" in text_of(content)
    page = build_layout(system.config.current())
    assert find(page, "symbol-picker") is not None and find(page, "trades-graph") is not None
    assert "Win rate" in text_of(trades_view(system.trader.stats(), []))

"""The Trades tab: figures, tables, paging, filters, force exit and pause, rendered from a real system's trader."""
from __future__ import annotations

import doctest

import pytest

import callbacks.trading_figures
import layouts.shell
import layouts.trades
import layouts.widgets
from callbacks.trades import closed_page, events_page, force_exit, overview, set_trading, signals_page
from callbacks.trading_figures import equity_figure, trade_pnl_figure
from layouts.shell import build_layout
from layouts.trades import learning_events_table
from tests.dashboard_fixtures import find, text_of
from tests.markup_fixtures import attributes, column, read_tables
from tests.system_fixtures import make_system
from trading_fixtures import FEATURES, HOUR, NO_GATES, T0, bars

FLAT = (100, 100.5, 99.5, 100)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Two closed BTCUSDT trades (a won LONG, a lost SHORT), one filled open ETHUSDT trade, one awaiting entry."""
    system = make_system(tmp_path_factory.mktemp("trading_dash") / "data", **NO_GATES)
    system.store.upsert("BTCUSDT", "1h", bars([FLAT, FLAT, (100, 102.6, 99.8, 102.4), (102.4, 104, 102, 103.9),
                                               (103.9, 105.5, 103.5, 105), FLAT]))
    system.store.upsert("ETHUSDT", "1h", bars([FLAT, FLAT], start=T0 + 5000 * HOUR))  # another era
    for symbol, open_time, up in (("BTCUSDT", T0, 1), ("BTCUSDT", T0 + 2 * HOUR, 0), ("ETHUSDT", T0 + 5000 * HOUR, 1),
                                  ("BTCUSDT", T0 + 5 * HOUR, 1)):
        system.trader.on_candles(symbol)
        system.trader.on_prediction({"symbol": symbol, "open_time": open_time, "ensemble_prediction": up,
                                     "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
        system.trader.on_candles(symbol)
    return system


@pytest.mark.parametrize("module", [callbacks.trading_figures, layouts.trades, layouts.shell, layouts.widgets])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.failed == 0


def test_one_symbol_equity_drawdown_and_pnl_per_trade(system):
    report = system.trader.report("BTCUSDT")
    fig = equity_figure({"BTCUSDT": report})
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"buy & hold (same span)", "paper trades (PnL after fees)", "drawdown"}
    pnl = list(by_name["paper trades (PnL after fees)"].y)
    assert pnl[0] == 0 and pnl[1] > 0 > pnl[2] - pnl[1]  # from 0 at the first entry: a win, then a loss
    assert list(by_name["drawdown"].y) == [0, 0, pytest.approx((pnl[2] - pnl[1]) / (1000 + pnl[1]) * 100)]
    assert by_name["drawdown"].xaxis == "x2" and fig.layout.xaxis2.matches == "x"  # below, zoomed together
    assert len(by_name["buy & hold (same span)"].x) == 5  # first entry bar to the latest bar
    assert fig.layout.meta["xsync"] == {"xaxis": "BTCUSDT", "xaxis2": "BTCUSDT"}
    bars_fig = trade_pnl_figure({"BTCUSDT": report})
    assert [(t.name, len(t.x)) for t in bars_fig.data] == [("trade won", 1), ("trade lost", 1),
                                                           ("win rate (running)", 2)]
    assert list(bars_fig.data[2].y) == [1.0, 0.5] and bars_fig.data[0].marker.color == "#198754"


def test_all_symbols_get_one_panel_each_on_their_own_time_axis(system):
    reports = {s: system.trader.report(s) for s in ("BTCUSDT", "ETHUSDT")}
    fig = equity_figure(reports)
    axes = {t.xaxis for t in fig.data if t.name == "buy & hold (same span)"}
    assert axes == {"x", "x3"} and fig.layout.xaxis3.matches is None  # ETH's own axis, not BTC's
    assert fig.layout.meta["xsync"] == {"xaxis": "BTCUSDT", "xaxis2": "BTCUSDT", "xaxis3": "ETHUSDT",
                                        "xaxis4": "ETHUSDT"}
    assert [a.text for a in fig.layout.annotations if a.text][1].startswith("ETHUSDT · 2021-04-09")
    nothing = {"ETHUSDT": system.trader.report("ETHUSDT") | {"stats": {"span": None, "trades": 0}}}
    assert "No paper trades yet for ETHUSDT" in equity_figure(nothing).layout.annotations[0].text


def test_performance_table_per_symbol_with_totals_that_never_join_eras(system):
    performance, *_ = overview(system, None)
    table = read_tables(performance)["performance-table"]
    assert [r[0] for r in table["rows"]] == ["BTCUSDT", "ETHUSDT", "All symbols"]
    btc = system.trader.stats("BTCUSDT")
    assert "50.0%" in table["rows"][0] and f"{btc['profit_factor']:,.2f}" in table["rows"][0]
    assert table["rows"][2].count("per symbol") == 2  # drawdown and buy-and-hold are never summed across eras
    one, *_ = overview(system, "ETHUSDT")
    assert len(read_tables(one)["performance-table"]["rows"]) == 1


def test_open_trades_show_their_mark_and_a_force_exit_only_once_entered(system):
    *_, table, enabled = overview(system, None)
    text = read_tables(table)["open-trades-table"]["text"]
    assert "awaiting next bar" in text and "enters next bar" in text and enabled is True
    eth = next(t for t in system.trader.open_positions("ETHUSDT"))
    assert eth["mark_price"] == 100 and eth["unrealised_pnl"] < 0  # flat market: the costs
    assert attributes(table, "data-trade") == [str(eth["id"])]  # the BTCUSDT one has not entered
    assert "at the latest close (100.00)" in attributes(table, "data-confirm")[0]


def test_markup_is_escaped():
    from layouts.trades import learning_events_table as events
    row = {"trade_id": 1, "symbol": "BTCUSDT", "side": "LONG", "open_time": T0, "pnl": 1.0, "target": 1,
           "status": "failed", "error": "<script>alert(1)</script>"}
    out = events([row])
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_closed_trades_page_and_filter(system):
    table, n_pages, page, text = closed_page(system, "BTCUSDT", "", "", 1)
    assert (n_pages, page, text) == (1, 1, "1–2 of 2 closed trades")
    assert column(table, "closed-trades-table", "exit") == ["stop loss", "take profit"]
    assert column(table, "closed-trades-table", "taught") == ["▲ up · delivered"] * 2
    table, _, _, text = closed_page(system, "BTCUSDT", "SHORT", "", 5)  # a page past the end: the last one
    assert text == "1–1 of 1 closed trades" and column(table, "closed-trades-table", "side") == ["▼ SHORT"]
    assert closed_page(system, None, "any", "force_exit", 1)[3] == "0 closed trades"


def test_learning_events_status_column_is_the_status_not_the_target(system):
    table, n_pages, _, text = events_page(system, None, "any", 1)
    assert column(table, "learning-events-table", "status") == ["delivered", "delivered"]
    assert column(table, "learning-events-table", "target") == ["▲ up", "▲ up"]
    assert events_page(system, None, "failed", 1)[3] == "0 learning events"
    assert read_tables(learning_events_table([]))["learning-events-table"]["text"].startswith(
        "No learning events match")


def test_force_exit_from_the_page_and_pause(system, tmp_path):
    eth = system.trader.open_positions("ETHUSDT")[0]
    done = text_of(force_exit(system, eth["id"]))
    assert f"Trade #{eth['id']} (LONG ETHUSDT) force-exited at 99.95" in done
    assert "already closed (force exit)" in text_of(force_exit(system, eth["id"]))
    assert "not entered yet" in text_of(force_exit(system, system.trader.open_positions("BTCUSDT")[0]["id"]))
    notice, message = set_trading(system.config, False)
    assert "Paused" in text_of(notice) and message is None and system.config.current()["trading_enabled"] is False
    notice, _ = set_trading(system.config, True)
    assert "On:" in text_of(notice)
    pinned = make_system(tmp_path / "pinned", HLS_TRADING_ENABLED="false")
    notice, message = set_trading(pinned.config, True)
    assert "Paused" in text_of(notice) and "HLS_TRADING_ENABLED" in text_of(message)


def test_tab_layout_has_the_controls(system):
    page = build_layout(system.config.current())
    for cid in ("symbol-picker", "theme-toggle", "trading-enabled", "trades-equity-graph", "trades-pnl-graph",
                "closed-pager", "events-pager", "closed-side", "closed-exit", "events-status", "market-equity-graph"):
        assert find(page, cid) is not None, cid


def test_all_symbols_lists_trades_as_they_opened_not_by_the_era_of_their_bars(system):
    trades = system.trader.trades()
    assert [t["id"] for t in trades] == sorted((t["id"] for t in trades), reverse=True)
    assert [t["symbol"] for t in trades][:2] == ["BTCUSDT", "ETHUSDT"]  # the newest BTC (2020) before ETH (2021)


def test_signals_card_counts_what_traded_and_says_what_held_the_rest(system):
    table, pages_, page, text, summary = signals_page(system, "BTCUSDT", 1)
    assert len(read_tables(table)["signals-table"]["rows"]) == 3
    assert text == "1–3 of 3 signals" and (pages_, page) == (1, 1)
    assert column(table, "signals-table", "outcome") == ["traded", "traded", "traded"]
    assert " ".join(text_of(find(summary, "signals-counts")).split()) == "3 signals: 3 traded"
    held = layouts.trades.signals_summary({"traded": 2, "held": 7, "held_by": {"paused": 1, "cost": 6, "outcome": 0,
                                                                                "open_trades": 0}},
                                          {"samples_seen": 120, "excluded": True, "win_share": 0.3,
                                           "excluded_reason": "outcome model: worse than its base rate",
                                           "recent": {"n": 100, "log_loss": 0.62, "baseline_log_loss": 0.61}})
    assert " ".join(text_of(find(held, "signals-counts")).split()) == "9 signals: 2 traded · 7 held back (1: trading paused; 6 by the cost gate)"
    assert text_of(find(held, "signals-outcome")) == (
        "Outcome model: learned 120 outcomes; log loss 0.6200 over its last 100 outcomes vs 0.6100 for the base "
        "rate (wins 30.0%); outcome model: worse than its base rate.")

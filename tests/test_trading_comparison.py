"""The honest comparison's pieces: per-bar PnL, statistics, block bootstrap, random entry, verdicts."""
from __future__ import annotations

import numpy as np
import pytest

from engine.trading import TradeRules
from engine.trading.backtest import select, signal_trades, simulate
from engine.trading.comparison import (bar_series, block_indices, block_starts, bootstrap_moments,
                                       buy_and_hold_series, combine, moments, random_entry_moments, statistics)
from engine.trade_evaluation import verdict
from trading_fixtures import bars, config

RULES = TradeRules.from_config(config(trade_fee_pct=0.1, trade_slippage_pct=0.05, max_holding_bars=3))


def test_bar_series_marks_each_trade_to_market_and_sums_to_its_pnl():
    candles = bars([(100, 100, 100, 100), (100, 101, 99.5, 101), (101, 101.5, 100.5, 100.5), (100.5, 101, 98, 99),
                    (99, 99.5, 98.5, 99)])
    trades = signal_trades(candles, np.array([0]), np.array([1]), RULES)  # LONG: enters bar 1, stopped out on bar 3
    assert trades["exit_bar"].tolist() == [3] and trades["reason"].tolist() == ["stop_loss"]
    series = bar_series(candles, trades, RULES, first=1)
    entry, exit_, quantity = trades["entry_price"][0], trades["exit_price"][0], trades["quantity"][0]
    entry_fee = 1000 * 0.001
    expected = [quantity * (101 - entry) - entry_fee, quantity * (100.5 - 101),
                quantity * (exit_ - 100.5) - (trades["fees"][0] - entry_fee), 0.0]
    np.testing.assert_allclose(series[0], expected)
    assert series[0].sum() == pytest.approx(trades["pnl"][0])
    assert series[1].tolist() == [0, 0, 1, 0] and series[2].tolist() == [0, 0, 0, 0]  # closed on bar 3, a loss
    doubled = bar_series(candles, trades, RULES, first=1, scale=np.array([2.0]))
    np.testing.assert_allclose(doubled[0], 2 * series[0])


def test_statistics_drawdown_sharpe_and_pooling():
    series = np.zeros((3, 6))
    series[0] = [10, -30, 5, 20, -10, 5]
    series[1, [1, 3, 5]] = 1
    series[2, [3, 5]] = 1
    m = moments(series, capital=1000)
    s = statistics(m, bars_per_year=4)
    assert s["pnl_usdt"][0] == 0 and s["trades"][0] == 3 and s["win_rate"][0] == pytest.approx(2 / 3)
    assert s["max_drawdown_usdt"][0] == 30  # from +10 down to -20
    r = series[0] / 1000
    assert s["sharpe"][0] == pytest.approx(r.mean() / r.std(ddof=1) * 2)
    flat = statistics(moments(np.zeros((3, 6)), 1000), 4)
    assert np.isnan(flat["sharpe"][0]) and np.isnan(flat["win_rate"][0]) and flat["max_drawdown_usdt"][0] == 0
    other = series.copy()
    other[0] = [-50, 0, 0, 0, 0, 0]
    both = statistics(combine([m, moments(other, 1000)]), 4)
    assert both["pnl_usdt"][0] == -50 and both["trades"][0] == 6 and both["max_drawdown_usdt"][0] == 50
    pooled = np.concatenate([r, other[0] / 1000])
    assert both["sharpe"][0] == pytest.approx(pooled.mean() / pooled.std(ddof=1) * 2)


def test_block_bootstrap_keeps_blocks_and_pairs_strategies():
    starts = block_starts(10, 4, 3, np.random.default_rng(0))
    idx = block_indices(starts, 10, 4)
    assert starts.shape == (3, 3) and idx.shape == (3, 10)
    for row in idx:
        for start in range(0, 10, 4):
            block = row[start:start + 4]
            np.testing.assert_array_equal(block, (block[0] + np.arange(len(block))) % 10)  # contiguous, circular
    drift = np.zeros((3, 500))
    drift[0] = np.random.default_rng(1).normal(1.0, 5.0, 500)
    noise = drift.copy()
    noise[0] = np.random.default_rng(2).normal(0.0, 5.0, 500)
    boot, flat, other = bootstrap_moments([drift, np.zeros((3, 500)), noise], 1000, block=20, seed=3)
    low, high = np.percentile(statistics(boot, 8760)["pnl_usdt"], [2.5, 97.5])
    assert 0 < low < drift[0].sum() < high  # a real edge: the interval stays above 0
    assert (flat["pnl"] == 0).all() and len(flat["pnl"]) == 1000 and (flat["bars"] == 500).all()
    alone = bootstrap_moments([noise], 1000, block=20, seed=3)[0]
    np.testing.assert_array_equal(alone["pnl"], other["pnl"])  # the same draws whatever else is resampled


@pytest.mark.parametrize("bars, block", [(500, 20), (503, 48), (30, 48)])
def test_block_bootstrap_from_block_summaries_equals_moments_of_the_resampled_paths(bars, block):
    rng = np.random.default_rng(bars)
    series = np.zeros((3, bars))
    series[0] = rng.normal(0.0, 5.0, bars) * (rng.random(bars) < 0.4)
    series[1] = rng.random(bars) < 0.1
    series[2] = series[1] * (rng.random(bars) < 0.4)
    [fast] = bootstrap_moments([series], 1000, block, seed=9, samples=200)
    starts = block_starts(bars, block, 200, np.random.default_rng(9))
    slow = moments(series[:, block_indices(starts, bars, block)].transpose(1, 0, 2), 1000)
    for key in slow:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)


def test_random_entry_takes_exactly_the_trade_count_within_the_open_trade_limit(btc_candles):
    candles = btc_candles.iloc[8000:8600].reset_index(drop=True)
    rules = TradeRules.from_config(config(max_holding_bars=12, trade_fee_pct=0.1))
    some, none, crowded = random_entry_moments(candles, rules, 100, [40, 0, 10_000], max_open=1, capital=1000, seeds=6)
    assert some["trades"].tolist() == [40] * 6 and len(set(some["pnl"].round(6))) == 6  # different draws
    assert none["trades"].tolist() == [0] * 6 and (none["bars"] == len(candles) - 101).all()
    assert (crowded["trades"] < 10_000).all()  # as many as the rule allows
    [two_open] = random_entry_moments(candles, rules, 100, [90], max_open=2, capital=1000, seeds=4)
    assert two_open["trades"].tolist() == [90] * 4


def test_select_is_the_trade_rule_of_simulate(btc_candles):
    candles = btc_candles.iloc[3000:3400].reset_index(drop=True)
    rng = np.random.default_rng(5)
    direction = rng.choice([-1, 0, 0, 1], size=len(candles)).astype(np.int8)
    for max_open in (1, 3):
        trades = simulate(candles, direction, RULES, max_open)
        signal_bars = np.flatnonzero(direction[:-1])
        found = signal_trades(candles, signal_bars, direction[signal_bars], RULES)
        taken = signal_bars[select(signal_bars, found["exit_bar"], max_open)]
        times = candles.open_time.to_numpy()
        assert [t["signal_time"] for t in trades] == times[taken].tolist()
        open_at = [sum(t["entry_time"] <= times[b] < t.get("exit_time", np.inf) for t in trades) for b in range(400)]
        assert max(open_at) <= max_open


def test_buy_and_hold_series_sums_to_selling_at_the_last_close():
    candles = bars([(100, 101, 99, 100), (100, 103, 99, 102), (102, 104, 101, 103)])
    series = buy_and_hold_series(candles, RULES, first=0)
    entry = 100 * 1.0005
    quantity = 1000 / entry
    exit_ = 103 * 0.9995
    assert series[0].sum() == pytest.approx(quantity * (exit_ - entry) - (1000 + quantity * exit_) * 0.001)
    assert series[1].tolist() == [0, 0, 1] and series[2].tolist() == [0, 0, 1]


def test_verdict_says_whether_it_beats_flat_and_random_and_by_how_much():
    strategy = {"pnl_usdt": 120.0, "pnl_usdt_ci": [20.0, 230.0], "trades": 30.0,
                "random": {"pnl_usdt": {"mean": -60.0, "sd": 40.0, "p05": -130.0, "p95": 5.0}, "seeds": 50,
                           "share_beaten": 1.0}}
    text = verdict({"x": strategy}, "x", "The learning")
    assert "beats always-flat" in text and "beats random entry" in text and "+180.00 USDT" in text
    losing = dict(strategy, pnl_usdt=-100.0, pnl_usdt_ci=[-200.0, 10.0])
    text = verdict({"x": losing}, "x", "The learning")
    assert "does not differ measurably from always-flat" in text and "within the spread of random entry" in text
    assert verdict({"x": dict(strategy, trades=0.0)}, "x", "The learning") == (
        "The learning made no trade: the same as always-flat (0 USDT), and nothing to set against random entry.")
    worse = dict(losing, pnl_usdt=-150.0, pnl_usdt_ci=[-260.0, -40.0])
    assert "loses to always-flat" in verdict({"x": worse}, "x", "x") and "loses to random" in verdict({"x": worse}, "x", "x")

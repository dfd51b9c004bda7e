"""Exit rules, fills, fees and slippage of one paper trade; the signal rule."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.trading import TradeRules, directions, find_exit, settle, signal_side
from engine.trading.simulator import MAX_HOLDING, STOP_LOSS, TAKE_PROFIT, bar_windows, entry_fill, find_exits, levels
from trading_fixtures import bars, config

RULES = TradeRules.from_config(config())  # TP 2 %, SL 1 %, 3 bars, no costs


def exit_of(direction, rows, entry=100.0, rules=RULES):
    frame = bars(rows)
    return find_exit(direction, entry, *(frame[c].to_numpy(float) for c in ("open", "high", "low", "close")),
                     rules)


def test_long_take_profit_fills_at_the_level():
    found = exit_of(1, [(100, 101, 99.5, 100.5), (100.5, 102.5, 100, 102)])
    assert (found.offset, found.price, found.reason) == (1, pytest.approx(102.0), TAKE_PROFIT)


def test_long_stop_loss_fills_at_the_level():
    found = exit_of(1, [(100, 100.5, 99.5, 100), (100, 100.2, 98.9, 99.2)])
    assert (found.offset, found.price, found.reason) == (1, pytest.approx(99.0), STOP_LOSS)


def test_bar_touching_both_levels_counts_as_stop_loss():
    found = exit_of(1, [(100, 103, 98, 102)])
    assert (found.offset, found.price, found.reason) == (0, pytest.approx(99.0), STOP_LOSS)
    found = exit_of(-1, [(100, 103, 97, 98)])
    assert (found.offset, found.price, found.reason) == (0, pytest.approx(101.0), STOP_LOSS)


def test_max_holding_closes_at_the_last_bars_close_and_waits_for_it():
    rows = [(100, 101, 99.5, 100.2), (100.2, 101.5, 99.2, 101), (101, 101.9, 100, 100.7), (100.7, 110, 90, 95)]
    found = exit_of(1, rows)
    assert (found.offset, found.price, found.reason) == (2, 100.7, MAX_HOLDING)
    assert exit_of(1, rows[:2]) is None  # two bars seen, no level touched: still open


def test_gap_through_stop_fills_at_the_open_not_the_level():
    found = exit_of(1, [(100, 100.5, 99.5, 100), (97, 98, 96, 97.5)])
    assert (found.offset, found.price, found.reason) == (1, 97.0, STOP_LOSS)
    found = exit_of(-1, [(100, 100.5, 99.5, 100), (103, 104, 102.5, 103)])
    assert (found.offset, found.price, found.reason) == (1, 103.0, STOP_LOSS)


def test_gap_through_take_profit_fills_at_the_better_open():
    found = exit_of(1, [(100, 100.5, 99.5, 100), (105, 106, 104, 105)])
    assert (found.offset, found.price, found.reason) == (1, 105.0, TAKE_PROFIT)
    found = exit_of(-1, [(100, 100.5, 99.5, 100), (96, 96.5, 95, 96)])
    assert (found.offset, found.price, found.reason) == (1, 96.0, TAKE_PROFIT)


def test_short_levels_are_mirrored():
    found = exit_of(-1, [(100, 100.5, 99, 99.5), (99.5, 100, 97.5, 98)])
    assert (found.offset, found.price, found.reason) == (1, pytest.approx(98.0), TAKE_PROFIT)
    found = exit_of(-1, [(100, 101.2, 99.5, 101)])
    assert (found.reason, found.price) == (STOP_LOSS, pytest.approx(101.0))


def test_levels_are_set_from_the_slipped_entry_price():
    rules = TradeRules(stake=1000, fee_pct=0, slippage_pct=1.0, take_profit_pct=2, stop_loss_pct=1,
                       max_holding_bars=3)
    entry = entry_fill(1, 100.0, rules)
    assert entry == pytest.approx(101.0)
    assert levels(1, entry, rules) == (pytest.approx(103.02), pytest.approx(99.99))
    assert entry_fill(-1, 100.0, rules) == pytest.approx(99.0)
    assert levels(-1, 99.0, rules) == (pytest.approx(97.02), pytest.approx(99.99))


def test_fees_and_slippage_arithmetic():
    rules = TradeRules(stake=1000, fee_pct=0.5, slippage_pct=1.0, take_profit_pct=20, stop_loss_pct=20,
                       max_holding_bars=3)
    long = settle(1, entry_fill(1, 100.0, rules), 110.0, rules)  # buy 101, sell 110 * 0.99
    qty = 1000 / 101
    assert long["exit_price"] == pytest.approx(108.9)
    assert long["quantity"] == pytest.approx(qty)
    assert long["gross_pnl"] == pytest.approx(qty * 7.9)
    assert long["fees"] == pytest.approx(5.0 + qty * 108.9 * 0.005)
    assert long["pnl"] == pytest.approx(qty * 7.9 - 5.0 - qty * 108.9 * 0.005)
    assert long["return_pct"] == pytest.approx(long["pnl"] / 10)
    short = settle(-1, entry_fill(-1, 100.0, rules), 90.0, rules)  # sell 99, buy back 90 * 1.01
    qty = 1000 / 99
    assert short["exit_price"] == pytest.approx(90.9)
    assert short["pnl"] == pytest.approx(qty * 8.1 - 5.0 - qty * 90.9 * 0.005)


def test_a_flat_round_trip_loses_exactly_its_costs():
    rules = TradeRules(stake=1000, fee_pct=0.1, slippage_pct=0.05, take_profit_pct=2, stop_loss_pct=1,
                       max_holding_bars=3)
    entry = entry_fill(1, 100.0, rules)
    out = settle(1, entry, 100.0, rules)
    assert out["pnl"] < 0
    assert out["pnl"] == pytest.approx(-(out["fees"]) - 1000 / entry * (entry - 100.0 * 0.9995))


def test_find_exit_rejects_a_bad_direction():
    with pytest.raises(ValidationError, match="direction"):
        exit_of(0, [(100, 101, 99, 100)])


def test_signal_rule():
    assert signal_side(1, 0.61, 0.6) == "LONG"
    assert signal_side(0, 0.61, 0.6) == "SHORT"
    assert signal_side(1, 0.6, 0.6) is None  # must exceed the threshold
    with pytest.raises(ValidationError, match="ensemble_prediction"):
        signal_side(2, 0.9, 0.6)
    with pytest.raises(ValidationError, match="ensemble_confidence"):
        signal_side(1, float("nan"), 0.6)
    assert directions(np.array([0.61, 0.39, 0.6, 0.4, np.nan]), 0.6).tolist() == [1, -1, 0, 0, 0]


def test_many_exits_at_once_match_one_at_a_time(btc_candles):
    candles = btc_candles.iloc[5000:5600].reset_index(drop=True)
    rules = TradeRules.from_config(config(max_holding_bars=12, take_profit_pct=3.0, stop_loss_pct=1.5,
                                          trade_slippage_pct=0.05))
    o, h, l, c = (candles[k].to_numpy(float) for k in ("open", "high", "low", "close"))
    entries = np.arange(0, len(candles), 3)
    sides = np.where(entries % 2, 1, -1)
    prices = entry_fill(sides, o[entries], rules)
    many = find_exits(sides, prices, *(bar_windows(a, 12)[entries] for a in (o, h, l, c)), rules)
    reasons = set()
    for k, e in enumerate(entries):
        one = find_exit(int(sides[k]), float(prices[k]), o[e:], h[e:], l[e:], c[e:], rules)
        if one is None:
            assert (many.offset[k], many.reason[k]) == (-1, "") and np.isnan(many.price[k])
            continue
        assert (many.offset[k], many.price[k], many.reason[k]) == (one.offset, pytest.approx(one.price), one.reason)
        reasons.add(one.reason)
    assert reasons == {TAKE_PROFIT, STOP_LOSS, MAX_HOLDING} and (many.offset == -1).sum() == 2  # near the end

"""Trade statistics (win rate, drawdown, exposure, buy-and-hold) and the backtest over predictions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import ValidationError
from engine.trading import TradeRules, backtest, summarize
from engine.trading.stats import equity_curve, exposure, totals
from trading_fixtures import HOUR, T0, bars, config

RULES = TradeRules.from_config(config())
FLAT = (100, 100.5, 99.5, 100)


def trade(i, pnl, entry, exit_, side="LONG", status="closed", symbol="BTCUSDT"):
    return {"id": i, "symbol": symbol, "side": side, "status": status, "entry_time": entry, "exit_time": exit_,
            "pnl": pnl, "fees": 1.0, "return_pct": pnl / 10, "exit_reason": "max_holding"}


def test_equity_curve_drawdown_and_running_win_rate():
    trades = [trade(2, -30.0, T0 + HOUR, T0 + 2 * HOUR), trade(1, 10.0, T0, T0),
              trade(3, 5.0, T0 + 3 * HOUR, T0 + 3 * HOUR)]
    curve = equity_curve(trades, 1000.0)
    assert curve["equity"].tolist() == [1010.0, 980.0, 985.0]  # ordered by exit time
    assert curve["drawdown"].tolist() == [0.0, 30.0, 25.0]
    assert curve["drawdown_pct"].tolist() == pytest.approx([0.0, 3000 / 1010, 2500 / 1010])
    assert curve["win_rate"].tolist() == pytest.approx([1.0, 0.5, 2 / 3])


def test_exposure_counts_bars_in_any_position_once():
    times = T0 + HOUR * np.arange(10)
    trades = [trade(1, 1.0, T0, T0 + 2 * HOUR), trade(2, 1.0, T0 + HOUR, T0 + 3 * HOUR),
              trade(3, 0.0, T0 + 8 * HOUR, None, status="open"),
              trade(4, 0.0, None, None, status="open")]  # not filled yet: not exposed
    assert exposure(trades, times) == pytest.approx(0.6)  # bars 0-3 and 8-9


def test_summary_against_buy_and_hold_over_the_same_bars():
    candles = bars([FLAT, (100, 111, 99, 110)])
    trades = [trade(1, 12.0, T0, T0), trade(2, -4.0, T0 + HOUR, T0 + HOUR, side="SHORT"),
              trade(3, 0.0, T0 + HOUR, None, status="open")]
    out = summarize(trades, {"BTCUSDT": candles}, RULES)
    assert (out["trades"], out["open_trades"], out["wins"], out["long_trades"], out["short_trades"]) == \
           (2, 1, 1, 1, 1)
    assert out["win_rate"] == 0.5 and out["pnl_usdt"] == 8.0 and out["return_pct"] == pytest.approx(0.8)
    assert out["max_drawdown_usdt"] == 4.0 and out["max_drawdown_pct"] == pytest.approx(4 / 1012 * 100)
    assert out["buy_and_hold"]["pnl_usdt"] == pytest.approx(100.0)  # 1000 bought at 100, marked at 110
    assert out["excess_pnl_usdt"] == pytest.approx(-92.0)
    assert out["span"] == [T0, T0 + HOUR] and out["exposure"] == 1.0


def test_summary_of_nothing():
    out = summarize([], {}, RULES)
    assert (out["trades"], out["win_rate"], out["pnl_usdt"], out["buy_and_hold"]["pnl_usdt"]) == (0, None, 0.0, None)


def test_backtest_enters_next_bar_and_respects_the_open_trade_limit():
    candles = bars([FLAT, FLAT, (100, 102.5, 99.5, 102), FLAT, FLAT, FLAT, FLAT, FLAT])
    preds = pd.DataFrame({"open_time": T0 + HOUR * np.arange(8),
                          "prob_up": [0.9, 0.9, 0.5, 0.1, 0.5, 0.5, 0.9, 0.9]})
    out = backtest(candles, preds, config())
    first, second, third = out["trade_list"]
    assert (first["side"], first["entry_time"], first["exit_time"], first["exit_reason"]) == \
           ("LONG", T0 + HOUR, T0 + 2 * HOUR, "take_profit")  # bar 1's signal skipped: trade open
    assert (second["side"], second["entry_time"], second["exit_time"], second["exit_reason"]) == \
           ("SHORT", T0 + 4 * HOUR, T0 + 6 * HOUR, "max_holding")
    # bar 6's signal enters on bar 7 (the SHORT closed during bar 6) and is still open when the data ends;
    # bar 7's signal has no next bar to enter on
    assert (third["entry_time"], third["status"]) == (T0 + 7 * HOUR, "open")
    assert out["signals"] == 5 and out["trades"] == 2 and out["open_trades"] == 1


def test_backtest_over_real_candles_is_consistent(btc_candles):
    candles = btc_candles.iloc[:3000]
    rng = np.random.default_rng(3)
    preds = candles[["open_time"]].iloc[100:].assign(prob_up=rng.uniform(0, 1, 2900))
    out = backtest(candles, preds, config(trade_fee_pct=0.1, trade_slippage_pct=0.05, max_holding_bars=24))
    closed = [t for t in out["trade_list"] if t["status"] == "closed"]
    assert out["trades"] == len(closed) > 100
    assert out["pnl_usdt"] == pytest.approx(sum(t["pnl"] for t in closed))
    assert out["fees_usdt"] > 0.002 * 1000 * len(closed) * 0.99
    assert all(t["signal_time"] >= candles["open_time"].iloc[100] for t in closed)
    spans = sorted((t["entry_time"], t["exit_time"]) for t in closed)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # one position at a time
    assert out["span"][0] == candles["open_time"].iloc[101] and out["bars"] == 2899
    bh = candles["close"].iloc[-1] * 0.9995 / (candles["open"].iloc[101] * 1.0005) * 1000 - 1000
    assert out["buy_and_hold"]["pnl_usdt"] == pytest.approx(bh - 1.0 - (bh + 1000) * 0.001)


def test_backtest_rejects_predictions_it_cannot_use():
    candles = bars([FLAT, FLAT])
    with pytest.raises(ValidationError, match="prob_up"):
        backtest(candles, pd.DataFrame({"open_time": [T0]}), config())
    with pytest.raises(ValidationError, match="no prediction"):
        backtest(candles, pd.DataFrame({"open_time": [T0 + 99], "prob_up": [0.9]}), config())


def test_profit_factor_and_totals_on_hand_computed_trades():
    btc = summarize([trade(1, 30.0, T0, T0), trade(2, -10.0, T0 + HOUR, T0 + HOUR),
                     trade(3, -5.0, T0 + HOUR, T0 + HOUR)], {"BTCUSDT": bars([FLAT, FLAT])}, RULES)
    assert (btc["gross_profit_usdt"], btc["gross_loss_usdt"], btc["profit_factor"]) == (30.0, 15.0, 2.0)
    eth = summarize([trade(4, 12.0, T0, T0, symbol="ETHUSDT")], {"ETHUSDT": bars([FLAT])}, RULES)
    assert eth["profit_factor"] is None  # no losing trade: undefined, not infinite
    total = totals({"BTCUSDT": btc | {"learning_events": {"pending": 1, "delivered": 2, "failed": 0}},
                    "ETHUSDT": eth | {"learning_events": {"pending": 0, "delivered": 1, "failed": 1}}})
    assert (total["trades"], total["wins"], total["losses"]) == (4, 2, 2)
    assert total["win_rate"] == 0.5 and total["pnl_usdt"] == 27.0
    assert total["profit_factor"] == pytest.approx(42.0 / 15.0)
    assert total["learning_events"] == {"pending": 1, "delivered": 3, "failed": 1}
    assert not {"buy_and_hold", "max_drawdown_pct", "exposure", "span"} & set(total)  # never across eras

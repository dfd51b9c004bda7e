"""PaperTrader on a real CandleStore: signals, fills at the next open, closes, learning events, stats."""
from __future__ import annotations

import pytest

from engine.db import Database
from engine.errors import ValidationError
from engine.store import CandleStore
from engine.trading import PaperTrader, backtest
from trading_fixtures import FEATURES, HOUR, T0, bars, config

SYMBOL = "BTCUSDT"
FLAT = (100, 100.5, 99.5, 100)


class Recorder:
    """A learn callback that keeps what it was given (and can be told to fail)."""

    def __init__(self, error: Exception | None = None):
        self.samples, self.error = [], error

    def __call__(self, features, target, symbol):
        if self.error is not None:
            raise self.error
        self.samples.append((features, target, symbol))


@pytest.fixture
def market(data_dir):
    db = Database(data_dir / "market.db")
    return db, CandleStore(db)


def make_trader(market, learn=None, **changes):
    db, store = market
    cfg = config(**changes)
    return PaperTrader(db, store, lambda: cfg, learn=learn, clock=lambda: 42)


def prediction(open_time=T0, up=1, confidence=0.7, symbol=SYMBOL):
    return {"symbol": symbol, "open_time": open_time, "ensemble_prediction": up,
            "ensemble_confidence": confidence, "status": "ok", "features": FEATURES}


def feed(market, rows, start=T0):
    market[1].upsert(SYMBOL, "1h", bars(rows, start=start))


def test_unconfident_or_not_ready_predictions_make_no_signal(market):
    trader = make_trader(market)
    assert trader.on_prediction(prediction(confidence=0.6)) is None
    assert trader.on_prediction(prediction() | {"status": "not_ready", "ensemble_prediction": None}) is None
    assert trader.signals() == [] and trader.trades() == []


def test_bad_input_raises_naming_the_field_and_stores_nothing(market):
    trader = make_trader(market)
    with pytest.raises(ValidationError, match="features.rsi"):
        trader.on_prediction(prediction() | {"features": FEATURES | {"rsi": float("nan")}})
    with pytest.raises(ValidationError, match="open_time"):
        trader.on_prediction(prediction(open_time="yesterday"))
    with pytest.raises(ValidationError, match="status"):
        trader.trades(status="pending")
    assert trader.signals() == [] and trader.trades() == []


def test_long_trade_fills_at_next_open_closes_on_take_profit_and_teaches_up(market):
    learn = Recorder()
    trader = make_trader(market, learn)
    feed(market, [FLAT])
    signal = trader.on_prediction(prediction())
    assert (signal["side"], signal["status"], signal["created"], signal["features"]) == ("LONG", "traded", True,
                                                                                        FEATURES)
    assert trader.on_candles(SYMBOL) == []  # the entry bar has not closed yet
    [trade] = trader.trades(status="open")
    assert trade["entry_time"] is None

    feed(market, [(101, 101.5, 100.5, 101.2)], start=T0 + HOUR)
    assert trader.on_candles(SYMBOL) == []
    [trade] = trader.trades(status="open")
    assert (trade["entry_time"], trade["entry_price"]) == (T0 + HOUR, 101.0)
    assert trade["take_profit_price"] == pytest.approx(103.02)

    feed(market, [(101.2, 103.5, 101, 103)], start=T0 + 2 * HOUR)
    [closed] = trader.on_candles(SYMBOL)
    assert (closed["exit_reason"], closed["exit_time"], closed["bars_held"]) == ("take_profit", T0 + 2 * HOUR, 2)
    assert closed["pnl"] == pytest.approx(20.0)
    assert learn.samples == [(FEATURES, 1, SYMBOL)]
    [event] = trader.learning_events(trade_id=closed["id"])
    assert (event["target"], event["status"], event["open_time"], event["features"]) == (1, "delivered", T0,
                                                                                          FEATURES)
    assert trader.on_candles(SYMBOL) == [] and len(learn.samples) == 1  # closed once, learned once
    assert trader.trades(status="open") == [] and len(trader.trades(status="closed")) == 1


@pytest.mark.parametrize("up, rows, target", [
    (0, [(100, 100.5, 97.9, 98)], 0),      # SHORT wins: "down was right"
    (0, [(100, 101.1, 99.8, 101)], 1),     # SHORT stopped out: "down was wrong"
    (1, [(100, 100.2, 98.9, 99)], 0),      # LONG stopped out
])
def test_learning_target_keeps_the_up_label_meaning(market, up, rows, target):
    learn = Recorder()
    trader = make_trader(market, learn)
    feed(market, [FLAT] + rows)
    trader.on_prediction(prediction(up=up))
    [closed] = trader.on_candles(SYMBOL)
    assert learn.samples == [(FEATURES, target, SYMBOL)]
    assert (closed["pnl"] > 0) == (target == up)


def test_fees_can_turn_a_small_win_into_a_loss_and_the_target_follows(market):
    learn = Recorder()
    trader = make_trader(market, learn, trade_fee_pct=0.5, max_holding_bars=1)
    feed(market, [FLAT, (100, 100.5, 99.5, 100.4)])
    trader.on_prediction(prediction())
    [closed] = trader.on_candles(SYMBOL)
    assert closed["gross_pnl"] > 0 > closed["pnl"]
    assert learn.samples[0][1] == 0


def test_one_open_trade_per_symbol_unless_configured(market):
    feed(market, [FLAT, FLAT, FLAT])
    trader = make_trader(market)
    trader.on_prediction(prediction(T0))
    skipped = trader.on_prediction(prediction(T0 + HOUR))
    assert (skipped["status"], skipped["trade_id"]) == ("skipped", None)
    assert "max_open_trades_per_symbol" in skipped["note"] and skipped["held_by"] == "open_trades"
    again = trader.on_prediction(prediction(T0))
    assert again["created"] is False and len(trader.signals()) == 2 and len(trader.trades()) == 1
    roomy = make_trader(market, max_open_trades_per_symbol=2)
    assert roomy.on_prediction(prediction(T0 + 2 * HOUR))["status"] == "traded"
    assert len(roomy.trades(status="open")) == 2


def test_failed_learning_is_kept_visible_and_retried_only_when_transient(market):
    feed(market, [FLAT, (100, 103, 99.8, 102.5)])
    busy = Recorder(RuntimeError("buffer busy"))
    trader = make_trader(market, busy)
    trader.on_prediction(prediction())
    [closed] = trader.on_candles(SYMBOL)
    [event] = trader.learning_events()
    assert event["status"] == "pending"  # the trade is closed even though learning failed for now
    ok = Recorder()
    assert make_trader(market, ok).deliver_learning() == {"delivered": 1, "failed": 0, "pending": 0}
    assert ok.samples == [(FEATURES, 1, SYMBOL)]

    feed(market, [FLAT, (100, 103, 99.8, 102.5)], start=T0 + 10 * HOUR)
    rejecting = make_trader(market, Recorder(ValidationError("target", "must be 0 or 1")))
    rejecting.on_prediction(prediction(T0 + 10 * HOUR))
    rejecting.on_candles(SYMBOL)
    latest = rejecting.learning_events(limit=1)[0]
    assert (latest["status"], latest["error"]) == ("failed", "target: must be 0 or 1")


def test_live_trades_match_the_backtest_on_the_same_bars(market, btc_candles):
    candles = btc_candles.iloc[1000:1300].reset_index(drop=True)
    probs = [0.2 if i % 7 == 0 else 0.8 if i % 5 == 0 else 0.5 for i in range(len(candles))]
    cfg = dict(trade_fee_pct=0.1, trade_slippage_pct=0.05, max_holding_bars=6, take_profit_pct=1.0,
               stop_loss_pct=0.7)
    trader = make_trader(market, **cfg)
    for i, t in enumerate(candles["open_time"].tolist()):  # candle by candle, as the pipeline does
        market[1].upsert(SYMBOL, "1h", candles.iloc[i:i + 1])
        trader.on_candles(SYMBOL)
        p = probs[i]
        trader.on_prediction(prediction(t, up=int(p > 0.5), confidence=max(p, 1 - p)))
    report = backtest(candles, candles[["open_time"]].assign(prob_up=probs), config(**cfg))
    live = sorted(trader.trades(status="closed"), key=lambda t: t["entry_time"])
    expected = [t for t in report["trade_list"] if t["status"] == "closed"]
    assert len(live) == len(expected) > 10
    assert {t["side"] for t in live} == {"LONG", "SHORT"}
    assert {t["exit_reason"] for t in live} == {"take_profit", "stop_loss", "max_holding"}
    for a, b in zip(live, expected):
        assert (a["side"], a["entry_time"], a["exit_time"], a["exit_reason"]) == \
               (b["side"], b["entry_time"], b["exit_time"], b["exit_reason"])
        assert a["pnl"] == pytest.approx(b["pnl"])
    stats = trader.stats(SYMBOL)
    assert stats["trades"] == report["trades"] and stats["pnl_usdt"] == pytest.approx(report["pnl_usdt"])


def test_open_trades_keep_the_rules_they_were_opened_with(market):
    db, store = market
    cfg = config()
    trader = PaperTrader(db, store, lambda: cfg, clock=lambda: 42)
    feed(market, [FLAT, FLAT])
    trader.on_prediction(prediction())
    trader.on_candles(SYMBOL)
    cfg.update(take_profit_pct=0.1, trade_stake_usdt=50.0)  # changed while the trade is open
    feed(market, [(100, 100.9, 99.8, 100.5), (100.5, 102.1, 100.2, 102)], start=T0 + 2 * HOUR)
    [closed] = trader.on_candles(SYMBOL)
    assert (closed["exit_reason"], closed["exit_time"], closed["quantity"]) == ("take_profit", T0 + 3 * HOUR, 10.0)


def test_a_trade_is_closed_once_even_by_a_stale_second_writer(market):
    trader = make_trader(market)
    feed(market, [FLAT, (100, 103, 99.8, 102.5)])
    trader.on_prediction(prediction())
    [stale] = trader.ledger.open_trades(SYMBOL, "1h")  # what a second process read before the close
    [closed] = trader.on_candles(SYMBOL)
    candles = market[1].range(SYMBOL, "1h", start_ms=T0 + HOUR)
    stale |= {"entry_time": closed["entry_time"], "entry_price": closed["entry_price"]}
    assert trader._advance(stale, candles) is None
    assert len(trader.learning_events()) == 1 and trader.trades()[0]["closed_at"] == 42

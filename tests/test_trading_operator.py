"""The operator's controls over paper trading: pause (trading_enabled) and force exit, also across processes."""
from __future__ import annotations

import multiprocessing

import pytest

from engine.db import Database
from engine.errors import ValidationError
from engine.store import CandleStore
from engine.trading import PaperTrader
from engine.trading.trader import TradeClosed, TradeNotFound
from trading_fixtures import FEATURES, HOUR, T0, bars, config

SYMBOL = "BTCUSDT"
FLAT = (100, 100.5, 99.5, 100)


class Recorder:
    def __init__(self):
        self.samples = []

    def __call__(self, features, target, symbol):
        self.samples.append((features, target, symbol))


def make_trader(db_path, learn=None, **changes):
    db = Database(db_path)
    cfg = config(**changes)
    return PaperTrader(db, CandleStore(db), lambda: cfg, learn=learn, clock=lambda: 42)


def prediction(open_time=T0, up=1):
    return {"symbol": SYMBOL, "open_time": open_time, "ensemble_prediction": up, "ensemble_confidence": 0.9,
            "status": "ok", "features": FEATURES}


def feed(trader, rows, start=T0):
    trader.store.upsert(SYMBOL, "1h", bars(rows, start=start))


def test_paused_trading_records_signals_but_opens_no_trade_and_keeps_managing_open_ones(data_dir):
    db_path = data_dir / "market.db"
    running = make_trader(db_path, max_holding_bars=2, max_open_trades_per_symbol=5)
    feed(running, [FLAT])
    running.on_prediction(prediction(T0))  # opened before the pause
    paused = make_trader(db_path, max_holding_bars=2, max_open_trades_per_symbol=5, trading_enabled=False)
    feed(paused, [FLAT, FLAT], start=T0 + HOUR)
    signal = paused.on_prediction(prediction(T0 + HOUR, up=0))
    assert (signal["side"], signal["status"], signal["trade_id"]) == ("SHORT", "skipped", None)
    assert "trading paused" in signal["note"]
    [closed] = paused.on_candles(SYMBOL)  # the open trade still runs to its max-holding exit while paused
    assert (closed["signal_time"], closed["exit_reason"]) == (T0, "max_holding")
    assert len(paused.trades()) == 1 and len(paused.signals()) == 2
    assert paused.signal_counts()["held_by"]["paused"] == 1 and paused.signal_counts()["traded"] == 1
    assert running.on_prediction(prediction(T0 + 2 * HOUR))["status"] == "traded"  # resumed: trades again


def test_trading_enabled_is_validated_like_every_setting():
    with pytest.raises(ValidationError, match="trading_enabled"):
        config(trading_enabled="no")


def test_force_exit_closes_at_the_latest_close_with_costs_and_teaches_nothing(data_dir):
    learn = Recorder()
    trader = make_trader(data_dir / "market.db", learn, trade_fee_pct=0.1, trade_slippage_pct=0.05,
                         max_holding_bars=10)
    feed(trader, [FLAT])
    trader.on_prediction(prediction())
    feed(trader, [(100, 101, 99.8, 100.6), (100.6, 101.2, 100.1, 100.9)], start=T0 + HOUR)
    trader.on_candles(SYMBOL)
    [trade] = trader.trades(status="open")
    closed = trader.force_exit(trade["id"])
    entry = 100 * 1.0005
    exit_ = 100.9 * (1 - 0.0005)  # the latest stored close, slipped against the LONG
    qty = 1000 / entry
    assert closed["forced"] is True
    assert (closed["status"], closed["exit_reason"], closed["exit_time"], closed["bars_held"]) == \
           ("closed", "force_exit", T0 + 2 * HOUR, 2)
    assert closed["exit_price"] == pytest.approx(exit_)
    assert closed["fees"] == pytest.approx((1000 + qty * exit_) * 0.001)
    assert closed["pnl"] == pytest.approx(qty * (exit_ - entry) - (1000 + qty * exit_) * 0.001)
    assert trader.learning_events() == [] and learn.samples == []  # the operator's timing is not a lesson
    with pytest.raises(TradeClosed, match="already closed"):
        trader.force_exit(trade["id"])
    feed(trader, [(100.9, 110, 90, 100)], start=T0 + 3 * HOUR)
    assert trader.on_candles(SYMBOL) == []  # its rules never close it a second time
    assert trader.trades()[0]["exit_reason"] == "force_exit"


def test_force_exit_lets_an_exit_its_rules_reached_stand(data_dir):
    trader = make_trader(data_dir / "market.db", Recorder())
    feed(trader, [FLAT, (100, 100.2, 98.5, 98.7)])  # the entry bar already hit the stop (not yet processed)
    trader.on_prediction(prediction())
    closed = trader.force_exit(trader.trades()[0]["id"])
    assert (closed["forced"], closed["exit_reason"]) == (False, "stop_loss")
    assert len(trader.learning_events()) == 1


def test_force_exit_refuses_unknown_and_not_yet_entered_trades(data_dir):
    trader = make_trader(data_dir / "market.db")
    feed(trader, [FLAT])
    trader.on_prediction(prediction())
    with pytest.raises(TradeNotFound, match="no trade #99"):
        trader.force_exit(99)
    with pytest.raises(ValidationError, match="not entered yet"):
        trader.force_exit(trader.trades()[0]["id"])
    assert trader.trades()[0]["status"] == "open"


def _force_exit_in_child(db_path, trade_id, barrier, results):
    trader = make_trader(db_path)
    barrier.wait()
    try:
        results.put(("forced", trader.force_exit(trade_id)["forced"]))
    except TradeClosed as exc:
        results.put(("closed", exc.trade["exit_reason"]))


@pytest.mark.parametrize("round_", range(3))
def test_force_exit_happens_exactly_once_when_two_processes_ask_at_once(data_dir, round_):
    db_path = data_dir / "market.db"
    trader = make_trader(db_path, max_holding_bars=10)
    feed(trader, [FLAT, FLAT, FLAT])
    trader.on_prediction(prediction())
    trader.on_candles(SYMBOL)
    [trade] = trader.trades(status="open")
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_force_exit_in_child, args=(db_path, trade["id"], barrier, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    answers = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert answers == [("closed", "force_exit"), ("forced", True)]
    [closed] = trader.trades()
    assert (closed["status"], closed["exit_reason"]) == ("closed", "force_exit")
    assert trader.learning_events() == []


def test_open_positions_are_marked_like_a_force_exit_now(data_dir):
    trader = make_trader(data_dir / "market.db", trade_fee_pct=0.1, trade_slippage_pct=0.05, max_holding_bars=10)
    feed(trader, [FLAT, (100, 101, 99.8, 100.6)])
    trader.on_prediction(prediction())
    trader.on_candles(SYMBOL)
    [marked] = trader.open_positions()
    assert (marked["mark_time"], marked["mark_price"]) == (T0 + HOUR, 100.6)
    assert marked["unrealised_pnl"] == pytest.approx(trader.force_exit(marked["id"])["pnl"])


def test_report_is_reused_until_a_trade_an_event_the_candles_or_the_rules_change(data_dir):
    db_path = data_dir / "market.db"
    cfg = config(max_holding_bars=10)
    db = Database(db_path)
    trader = PaperTrader(db, CandleStore(db), lambda: cfg, clock=lambda: 42)
    feed(trader, [FLAT, FLAT])
    trader.on_prediction(prediction())
    trader.on_candles(SYMBOL)
    first = trader.report(SYMBOL)
    assert trader.report(SYMBOL)["equity"] is first["equity"]  # nothing changed: not recomputed
    other = make_trader(db_path, max_holding_bars=10)  # another process closes the trade
    other.force_exit(trader.trades()[0]["id"])
    closed = trader.report(SYMBOL)
    assert (first["stats"]["trades"], closed["stats"]["trades"]) == (0, 1)
    feed(trader, [FLAT], start=T0 + 2 * HOUR)
    assert trader.report(SYMBOL)["buy_and_hold"]["open_time"].iloc[-1] == T0 + 2 * HOUR  # a new candle
    cfg["trade_stake_usdt"] = 500.0
    assert trader.report(SYMBOL)["stats"]["capital_usdt"] == 500.0  # new rules
    trader.report(SYMBOL)["stats"]["trades"] = 99  # a caller's change does not reach the next answer
    assert trader.report(SYMBOL)["stats"]["trades"] == 1


def test_a_force_exit_teaches_the_outcome_model_what_the_rules_would_have_earned(data_dir):
    from engine.outcome.manager import OutcomeManager
    cfg = config(max_holding_bars=2)
    db = Database(data_dir / "market.db")
    store = CandleStore(db)
    trader = PaperTrader(db, store, lambda: cfg)
    store.upsert(SYMBOL, "1h", bars([FLAT, (100, 101, 99.8, 100.6)]))
    trader.on_prediction(prediction())
    trader.on_candles(SYMBOL)
    forced = trader.force_exit(trader.trades()[0]["id"])
    outcome = OutcomeManager(db, data_dir / "models", data_dir / "locks", lambda: cfg)
    assert outcome.sync(store) == 0  # the rules' own exit (max holding, 2 bars) is not there yet
    store.upsert(SYMBOL, "1h", bars([(100.6, 100.9, 100.2, 100.8)], start=T0 + 2 * HOUR))
    assert outcome.sync(store) == 1
    [sample] = db.query("SELECT source, return_pct FROM outcome_samples")
    assert sample["source"] == "shadow" and sample["return_pct"] == pytest.approx(0.8)  # not the forced 0.6
    assert forced["return_pct"] == pytest.approx(0.6)

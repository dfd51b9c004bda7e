"""The live outcome model: samples from closed and skipped signals, learning, the gate in the trader,
the warm-up replay, and the system wiring."""
from __future__ import annotations

import numpy as np
import pytest

from engine.candles import load_sample
from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.outcome.gate import SignalGate
from engine.outcome.manager import OutcomeManager
from engine.store import CandleStore
from engine.trading import PaperTrader, TradeRules, backtest
from tests.system_fixtures import make_system
from trading_fixtures import FEATURES, HOUR, T0, bars, config

SYMBOL = "BTCUSDT"
FLAT = (100, 100.5, 99.5, 100)


@pytest.fixture
def market(data_dir):
    db = Database(data_dir / "market.db")
    return db, CandleStore(db), data_dir


def parts(market, **changes):
    db, store, root = market
    cfg = config(**changes)
    outcome = OutcomeManager(db, root / "models", root / "locks", lambda: cfg, clock=lambda: 7)
    trader = PaperTrader(db, store, lambda: cfg, clock=lambda: 7, gate=SignalGate(outcome, store, lambda: cfg))
    return cfg, outcome, trader


def prediction(open_time, up=1, confidence=0.8, features=FEATURES):
    return {"symbol": SYMBOL, "open_time": open_time, "ensemble_prediction": up, "ensemble_confidence": confidence,
            "status": "ok", "features": features}


def test_closed_trades_and_skipped_signals_both_become_outcome_samples(market):
    cfg, outcome, trader = parts(market, cost_gate_enabled=False, outcome_gate_enabled=False)
    store = market[1]
    rows = [FLAT, FLAT, (100, 102.5, 99.8, 102.2), (102.2, 102.4, 100.5, 100.6), FLAT, FLAT]
    store.upsert(SYMBOL, "1h", bars(rows[:1]))
    assert trader.on_prediction(prediction(T0))["status"] == "traded"
    store.upsert(SYMBOL, "1h", bars(rows[1:2], start=T0 + HOUR))
    trader.on_candles(SYMBOL)
    skipped = trader.on_prediction(prediction(T0 + HOUR, up=0))  # a SHORT while the LONG is open
    assert skipped["status"] == "skipped" and "max_open_trades_per_symbol" in skipped["note"]
    assert outcome.sync(store) == 0  # the trade is open, the skipped SHORT's trade has not ended yet
    store.upsert(SYMBOL, "1h", bars(rows[2:], start=T0 + 2 * HOUR))
    [closed] = trader.on_candles(SYMBOL)
    assert outcome.sync(store) == 2 and outcome.sync(store) == 0  # each signal once
    samples = {r["source"]: r for r in market[0].query("SELECT * FROM outcome_samples")}
    assert set(samples) == {"trade", "shadow"}
    trade = samples["trade"]
    assert (trade["open_time"], trade["side"], trade["target"]) == (T0, 1, int(closed["pnl"] > 0) == 1)
    assert trade["return_pct"] == closed["return_pct"] and trade["exit_time"] == closed["exit_time"]
    assert trade["p_up"] == pytest.approx(0.8)
    np.testing.assert_array_equal(np.frombuffer(trade["features"]), [FEATURES[n] for n in FEATURE_COLUMNS])
    shadow = samples["shadow"]
    alone = backtest(store.range(SYMBOL, "1h", start_ms=T0 + HOUR),
                     bars(rows[1:], start=T0 + HOUR)[["open_time"]].assign(prob_up=[0.2] + [0.5] * 4), cfg)["trade_list"][0]
    assert (shadow["side"], shadow["p_up"], shadow["exit_time"]) == (-1, pytest.approx(0.2), alone["exit_time"])
    assert shadow["return_pct"] == pytest.approx(alone["return_pct"]) and shadow["target"] == int(alone["pnl"] > 0)
    result = outcome.update()
    assert result["status"] == "updated" and result["samples"] == 2 and outcome.pending_count() == 0
    assert outcome.stats()["samples_by_source"] == {"trade": 1, "shadow": 1, "replay": 0}


def learned_rule(outcome, n=600, seed=0):
    """Teach ``outcome`` that signals with a high RSI lose (-1 %) and those with a low RSI win (+2 %)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        features = dict(FEATURES, rsi=float(rng.uniform(10, 90)), macd=float(rng.normal()))
        win = features["rsi"] < 50
        rows.append((SYMBOL, "1h", T0 - (n - i) * HOUR, 1, 0.6, [features[c] for c in FEATURE_COLUMNS],
                     2.0 if win else -1.0, 20.0 if win else -10.0, "replay", T0 - (n - i) * HOUR + HOUR))
    for start in range(0, n, 50):
        outcome.add(rows[start:start + 50])
        outcome.update()


def test_the_outcome_gate_blocks_a_losing_looking_signal_and_sizes_a_winning_one(market):
    cfg, outcome, trader = parts(market, cost_gate_enabled=False, outcome_size_max=2.0, max_open_trades_per_symbol=5)
    market[1].upsert(SYMBOL, "1h", bars([FLAT] * 3))
    blocked = trader.on_prediction(prediction(T0, features=dict(FEATURES, rsi=60.0)))
    assert blocked["status"] == "skipped" and blocked["note"] == (
        "outcome model not ready: learned 0 of the 100 trade outcomes it needs")
    learned_rule(outcome)
    stats = outcome.stats()
    assert stats["samples_seen"] == 600 and not stats["excluded"] and stats["threshold"] < 1.0
    assert "chosen on the last" in stats["threshold_how"]
    losing = trader.on_prediction(prediction(T0 + HOUR, features=dict(FEATURES, rsi=85.0)))
    assert losing["status"] == "skipped" and losing["trade_id"] is None
    assert losing["note"].startswith("outcome model: P(profitable) ") and "below the threshold" in losing["note"]
    winning = trader.on_prediction(prediction(T0 + 2 * HOUR, features=dict(FEATURES, rsi=15.0)))
    assert winning["status"] == "traded" and ">= threshold" in winning["note"]
    [trade] = trader.trades(status="open")
    multiple = float(winning["note"].rsplit("stake x", 1)[1])
    assert 1.0 < multiple <= 2.0 and trade["rules"]["stake"] == pytest.approx(1000.0 * multiple, rel=1e-2)
    assert [s["status"] for s in trader.signals()] == ["traded", "skipped", "skipped"]
    assert [s["held_by"] for s in trader.signals()] == [None, "outcome", "outcome"]


def signal_trades(outcome, first_hour: int, moves_pct: list[float], p_up=0.8):
    """Closed LONG signal trades (edge 2 p_up - 1) that moved the price by ``moves_pct`` before costs (0.3 %)."""
    vector = [FEATURES[name] for name in FEATURE_COLUMNS]
    outcome.add([(SYMBOL, "1h", T0 + (first_hour + i) * HOUR, 1, p_up, vector, move - 0.3, move - 0.3, "shadow",
                  T0 + (first_hour + i + 5) * HOUR) for i, move in enumerate(moves_pct)])


def test_the_cost_gate_measures_the_move_of_a_trade_and_blocks_when_it_does_not_pay_the_fees(market):
    """The move expected over the trade is measured on the symbol's closed signal trades of the last
    expected_move_window_bars: per unit of edge, less one standard error of doubt, times the new signal's edge."""
    cfg, outcome, trader = parts(market, outcome_gate_enabled=False, trade_fee_pct=0.1, trade_slippage_pct=0.05,
                                 expected_move_window_bars=100)
    market[1].upsert(SYMBOL, "1h", bars([FLAT] * 80))
    first = trader.on_prediction(prediction(T0 + 79 * HOUR, confidence=0.8))
    assert first["status"] == "skipped" and first["held_by"] == "cost"
    assert first["note"] == "cost gate: 0 closed signal trades to measure a trade's move on, 30 needed"
    signal_trades(outcome, 0, [0.1, 0.3] * 20)  # edge 0.6, 0.2 % on average: 0.33 % per unit of edge
    small = trader.on_prediction(prediction(T0 + 78 * HOUR, confidence=0.8))
    assert small["status"] == "skipped" and small["note"].startswith("expected move over the trade 0.18")
    assert "does not exceed the round-trip cost 0.30 % (fees + slippage; over the last 40 closed signal trades each " \
           "unit of edge moved the price +0.33 % ± 0.03" in small["note"]
    signal_trades(outcome, 40, [2.5, 3.5] * 20)  # the market started to follow through: 3 % per trade
    passed = trader.on_prediction(prediction(T0 + 77 * HOUR, confidence=0.65))  # a weaker signal, edge 0.3
    assert passed["status"] == "traded" and passed["note"].startswith("expected move over the trade 0.7")
    assert (small["held_by"], passed["held_by"]) == ("cost", None)
    market[1].upsert(SYMBOL, "1h", bars([FLAT] * 120, start=T0 + 80 * HOUR))  # 200 bars on: those trades fell out
    trader.on_candles(SYMBOL)
    late = trader.on_prediction(prediction(T0 + 199 * HOUR, confidence=0.8))
    assert late["status"] == "skipped" and "closed signal trades to measure" in late["note"]
    assert trader.signal_counts(SYMBOL)["held_by"]["cost"] == 3


def test_warm_up_learns_simulated_trades_over_the_stored_history_once(data_dir):
    system = make_system(data_dir, collect=True, HLS_BACKFILL_DAYS="50", HLS_BATCH_WINDOW_DAYS="30",
                         HLS_OUTCOME_WARMUP_DAYS="20")
    run = system.run_job("outcome_warmup", "cli")
    assert run["outcome"] == "ok", run
    samples = run["result"]["samples"]
    assert set(samples) == {"BTCUSDT", "ETHUSDT"} and min(samples.values()) > 20
    status = system.status()["outcome_model"]
    assert status["samples_by_source"]["replay"] == sum(samples.values()) == status["samples_seen"]
    assert status["pending"] == 0 and status["ready"]
    assert status["scored"] > 100 and status["recent"]["n"] > 100  # learned step by step, each scored first
    assert "chosen on the last" in status["threshold_how"] or "no threshold would have earned" in status["threshold_how"]
    for symbol in samples:
        rows = system.db.query("SELECT open_time, exit_time FROM outcome_samples WHERE symbol=?", (symbol,))
        latest = system.store.latest(symbol, "1h")["open_time"]
        assert all(latest - 20 * 86_400_000 <= r["open_time"] < r["exit_time"] <= latest for r in rows)
    again = system.run_job("outcome_warmup", "cli")
    assert again["outcome"] == "skipped" and "no warm-up needed" in again["result"]["reason"]


def test_the_pipeline_learns_what_each_signal_earned_after_every_candle(data_dir):
    system = make_system(data_dir, collect=True, HLS_SYMBOLS="BTCUSDT", HLS_COST_GATE_ENABLED="false",
                         HLS_OUTCOME_GATE_ENABLED="false", HLS_SIGNAL_CONFIDENCE_THRESHOLD="0.5")
    assert system.run_job("online_update", "cli")["outcome"] == "ok"
    latest = system.store.latest(SYMBOL, "1h")["open_time"]
    sample = load_sample(SYMBOL)
    for _, bar in sample[sample.open_time > latest].iloc[:60].iterrows():
        system.store.upsert(SYMBOL, "1h", bar.to_frame().T.astype(sample.dtypes.to_dict()))
        system.pipeline.after_candles({SYMBOL: 1})
    signals = {s["open_time"]: s for s in system.trader.signals()}
    samples = system.db.query("SELECT open_time, source, learned_at FROM outcome_samples")
    assert len(samples) >= 5 and {r["source"] for r in samples} <= {"trade", "shadow"}
    for r in samples:
        assert r["learned_at"] is not None  # learned in the pipeline, before the next signal was judged
        assert r["source"] == ("trade" if signals[r["open_time"]]["status"] == "traded" else "shadow")
    closed = system.trader.trades(symbol=SYMBOL, status="closed")
    assert {t["signal_time"] for t in closed} <= {r["open_time"] for r in samples}

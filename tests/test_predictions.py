"""The prediction log: one row per candle, scored once the outcome candle is stored."""
import math

import numpy as np
import pytest

from engine.db import Database
from engine.errors import ValidationError
from engine.predictions import PredictionLog
from engine.store import CandleStore

PROBS = {"sgd": 0.8, "passive_aggressive": 0.3, "mlp_online": None, "batch": 0.6, "ensemble": 0.62}


@pytest.fixture
def parts(data_dir, btc_candles):
    db = Database(data_dir / "market.db")
    store = CandleStore(db)
    return db, store, PredictionLog(db), btc_candles.iloc[1000:1010].reset_index(drop=True)


def test_prediction_is_scored_once_the_next_candle_is_stored(parts):
    db, store, log, bars = parts
    store.upsert("BTCUSDT", "1h", bars.iloc[:5])
    t = int(bars.open_time[4])
    log.record("BTCUSDT", "1h", t, 1, PROBS, "degraded", close=float(bars.close[4]))
    assert log.score_outcomes(store) == 0  # close[t+1] not stored yet
    assert log.history()[0]["outcome"] is None
    store.upsert("BTCUSDT", "1h", bars.iloc[5:6])
    assert log.score_outcomes(store) == 1
    assert log.score_outcomes(store) == 0  # scored once
    up = int(bars.close[5] > bars.close[4])
    row = log.history("BTCUSDT")[0]
    assert row["outcome"] == up
    assert row["correct"]["sgd"] == (up == 1) and row["correct"]["passive_aggressive"] == (up == 0)
    assert row["correct"]["mlp_online"] is None and row["predictions"]["mlp_online"] is None
    assert row["ensemble_prediction"] == 1 and row["correct"]["ensemble"] == (up == 1)


def test_horizon_counts_bars_not_hours(parts):
    db, store, log, bars = parts
    store.upsert("BTCUSDT", "1h", bars)
    t = int(bars.open_time[2])
    log.record("BTCUSDT", "1h", t, 3, PROBS, "ok")
    assert log.score_outcomes(store) == 1
    assert log.history()[0]["outcome"] == int(bars.close[5] > bars.close[2])


def test_same_candle_twice_keeps_one_row_latest_wins_until_scored(parts):
    db, store, log, bars = parts
    store.upsert("BTCUSDT", "1h", bars.iloc[:5])
    t = int(bars.open_time[4])
    log.record("BTCUSDT", "1h", t, 1, PROBS, "degraded")
    log.record("BTCUSDT", "1h", t, 1, {**PROBS, "ensemble": 0.2}, "ok")
    rows = log.history()
    assert len(rows) == 1 and rows[0]["probabilities"]["ensemble"] == 0.2 and rows[0]["status"] == "ok"
    store.upsert("BTCUSDT", "1h", bars.iloc[5:6])
    log.score_outcomes(store)
    log.record("BTCUSDT", "1h", t, 1, {**PROBS, "ensemble": 0.9}, "ok")  # after scoring: ignored
    assert log.history()[0]["probabilities"]["ensemble"] == 0.2


def test_accuracy_summary_per_model_and_ensemble(parts):
    db, store, log, bars = parts
    store.upsert("BTCUSDT", "1h", bars)
    ups = (bars.close.shift(-1) > bars.close).astype(int).tolist()
    for i in range(9):
        log.record("BTCUSDT", "1h", int(bars.open_time[i]), 1,
                   {"sgd": 0.9, "batch": 0.1, "ensemble": 0.9 if ups[i] else 0.1}, "degraded")
    log.record("ETHUSDT", "1h", int(bars.open_time[0]), 1, {"ensemble": 0.5}, "degraded")  # never scored
    assert log.score_outcomes(store) == 9
    s = log.accuracy_summary()
    assert (s["predictions"], s["scored"], s["pending"]) == (10, 9, 1)
    assert s["models"]["ensemble"]["accuracy"] == 1.0 and s["models"]["ensemble"]["n"] == 9
    assert s["models"]["sgd"]["accuracy"] == pytest.approx(sum(ups[:9]) / 9)
    assert s["models"]["batch"]["accuracy"] == pytest.approx(1 - sum(ups[:9]) / 9)
    assert s["models"]["mlp_online"]["n"] == 0 and s["models"]["mlp_online"]["accuracy"] is None
    assert s["models"]["sgd"]["log_loss"] == pytest.approx(
        -np.mean([math.log(0.9) if u else math.log(0.1) for u in ups[:9]]))
    assert log.accuracy_summary("ETHUSDT")["scored"] == 0


def test_history_order_limit_and_bad_limit(parts):
    db, store, log, bars = parts
    for i in range(5):
        log.record("BTCUSDT", "1h", int(bars.open_time[i]), 1, PROBS, "ok")
    rows = log.history(limit=3)
    assert [r["open_time"] for r in rows] == bars.open_time[4:1:-1].tolist()
    with pytest.raises(ValidationError) as err:
        log.history(limit=0)
    assert err.value.field == "limit"


def test_cleanup_deletes_only_old_rows(parts):
    db, store, log, bars = parts
    for i in range(5):
        log.record("BTCUSDT", "1h", int(bars.open_time[i]), 1, PROBS, "ok")
    assert log.cleanup(int(bars.open_time[3])) == 3
    assert [r["open_time"] for r in log.history()] == bars.open_time[4:2:-1].tolist()

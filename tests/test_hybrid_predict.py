"""HybridEnsemble.predict with the real online and batch models on real candles."""
import numpy as np
import pandas as pd
import pytest

from engine.batch import BatchTrainer
from engine.config import validate
from engine.db import Database
from engine.errors import ValidationError
from engine.features import build_dataset
from engine.features.inputs import compute_inputs, spec
from engine import weighting
from engine.hybrid import ONLINE_MODELS, HybridEnsemble
from engine.online import OnlineLearningManager
from engine.store import CandleStore

BARS = 640
HOUR = 3_600_000
T_HISTORY = 1_000_000 * HOUR  # scored predictions of earlier bars (an era of their own)


@pytest.fixture
def system(data_dir, btc_candles):
    """(ensemble, online, batch, store, candles): BARS real candles of which all but the last 5 are stored."""
    config = validate({"symbols": ["BTCUSDT", "ETHUSDT"], "batch_window_days": 20})
    db = Database(data_dir / "market.db")
    store = CandleStore(db)
    candles = btc_candles.iloc[30000:30000 + BARS].reset_index(drop=True)
    store.upsert("BTCUSDT", "1h", candles.iloc[:-5])
    online = OnlineLearningManager(db, data_dir / "models", data_dir / "locks", lambda: config)
    batch = BatchTrainer(db, store, data_dir / "models", data_dir / "locks", lambda: config)
    return HybridEnsemble(db, store, online, batch, lambda: config), online, batch, store, candles


def train_online(online, candles):
    X, y = build_dataset(candles.iloc[:-6], 1)
    online.add_samples(X, y, "BTCUSDT", source="candle", open_times=X.index.to_numpy())
    assert online.update_models_incremental()["status"] == "updated"


def test_nothing_trained_is_a_clear_not_ready_answer(system):
    hybrid = system[0]
    out = hybrid.predict("BTCUSDT")
    assert out["status"] == "not_ready" and out["ensemble_prediction"] is None
    assert any("no model is trained" in n for n in out["notes"])
    assert out["open_time"] == int(system[4].open_time.iloc[-6])
    assert hybrid.history() == []  # nothing to log


def test_no_or_too_few_candles_and_unknown_symbol(system):
    hybrid, store, candles = system[0], system[3], system[4]
    out = hybrid.predict("ETHUSDT")
    assert out["status"] == "not_ready" and "no candles" in out["notes"][0]
    store.upsert("ETHUSDT", "1h", candles.iloc[:20])  # BTC prices under the ETH name: only the count matters
    out = hybrid.predict("ETHUSDT")
    assert out["status"] == "not_ready" and "not enough candles" in out["notes"][0]
    with pytest.raises(ValidationError) as err:
        hybrid.predict("DOGEUSDT")
    assert err.value.field == "symbol"


def test_online_only_is_degraded_and_says_why(system):
    """No batch model yet and no scored prediction: the online models and abstain vote with their prior shares
    (the configured weights), and the notes say so."""
    hybrid, online = system[0], system[1]
    train_online(online, system[4])
    out = hybrid.predict("BTCUSDT")
    assert out["status"] == "degraded" and any("no batch model" in n for n in out["notes"])
    assert any(n.startswith("adaptive: each model's share follows its log loss") for n in out["notes"])
    p = out["probabilities"]
    assert p["batch"] is None and out["batch_prediction"] is None and out["excluded"] == {}
    prior = dict(zip(weighting.VOTERS, weighting.priors({"batch": 0.7, "online": 0.3})))
    online_share = {m: prior[m] for m in (*ONLINE_MODELS, "abstain")}
    total = sum(online_share.values())
    assert out["weights"] == pytest.approx({m: w / total for m, w in online_share.items()})
    assert p["ensemble"] == pytest.approx(sum(out["weights"][m] * p[m] for m in ONLINE_MODELS)
                                          + out["weights"]["abstain"] * 0.5)


def scored_history(hybrid, rows: int, sgd, others=0.5, start=T_HISTORY):
    """``rows`` scored BTCUSDT predictions, alternately up and down, with sgd's P(up) per row given by ``sgd``."""
    for i in range(rows):
        up = i % 2
        hybrid.log.record("BTCUSDT", "1h", start + i * HOUR, 1,
                          {"sgd": sgd(up), "passive_aggressive": others, "mlp_online": others, "batch": others,
                           "ensemble": 0.5}, "ok")
    with hybrid.log.db.transaction() as conn:
        conn.execute("UPDATE predictions SET outcome = (open_time / ?) % 2, scored_at = 1 WHERE open_time >= ?",
                     (HOUR, start))


def test_fixed_mode_sits_a_model_out_while_its_recent_log_loss_is_worse_than_the_baseline(system, data_dir):
    """The fixed weights, judged per symbol on the last online_health_window scored predictions: sgd called
    every bar wrong, so it gets weight 0 (with the numbers in the notes) until its window holds better calls."""
    _, online, batch, store, candles = system
    config = validate({"symbols": ["BTCUSDT", "ETHUSDT"], "hybrid_mode": "fixed", "online_health_window": 200})
    hybrid = HybridEnsemble(online.db, store, online, batch, lambda: config)
    train_online(online, candles)
    scored_history(hybrid, 300, sgd=lambda up: 0.3 if up else 0.7)
    out = hybrid.predict("BTCUSDT")
    assert set(out["excluded"]) == {"sgd"} and "sgd" not in out["weights"]
    assert out["excluded"]["sgd"] in out["notes"] and "over its last 200 scored BTCUSDT predictions" in \
        out["excluded"]["sgd"] and "weight 0 until it recovers" in out["excluded"]["sgd"]
    assert out["weights"] == pytest.approx({"passive_aggressive": 0.5, "mlp_online": 0.5})  # no batch model yet
    scored_history(hybrid, 300, sgd=lambda up: 0.7 if up else 0.3, start=T_HISTORY + 300 * HOUR)
    out = hybrid.predict("BTCUSDT")
    assert out["excluded"] == {} and out["weights"] == pytest.approx(dict.fromkeys(ONLINE_MODELS, 1 / 3))


def test_adaptive_mode_gives_the_model_that_predicted_the_symbol_best_the_largest_share(system):
    hybrid, online = system[0], system[1]
    train_online(online, system[4])
    scored_history(hybrid, 300, sgd=lambda up: 0.6 if up else 0.4)  # sgd called every bar right
    out = hybrid.predict("BTCUSDT")
    assert out["excluded"] == {} and max(out["weights"], key=out["weights"].get) == "sgd"
    assert out["weights"]["sgd"] > 0.9 and "last 300 scored BTCUSDT predictions" in out["notes"][-1]
    [row] = hybrid.history(limit=1)  # this prediction, logged with the weights it used
    logged = hybrid.log.weights("BTCUSDT", "1h").iloc[-1]
    assert int(logged["open_time"]) == row["open_time"] and logged["sgd"] == pytest.approx(out["weights"]["sgd"])


def test_full_prediction_shape_weights_logging_and_scoring(system):
    hybrid, online, batch, store, candles = system
    train_online(online, candles)
    assert batch.retrain()["promoted"]
    out = hybrid.predict("BTCUSDT")
    assert out["status"] == "ok" and out["excluded"] == {} and len(out["notes"]) == 1  # how the weights were set
    p = out["probabilities"]
    assert set(p) == {*ONLINE_MODELS, "batch", "ensemble"} and all(0 < v < 1 for v in p.values())
    assert out["weights"] == pytest.approx(dict(zip(weighting.VOTERS, weighting.priors({"batch": 0.7, "online": 0.3}))))
    assert p["ensemble"] == pytest.approx(sum(w * p.get(m, 0.5) for m, w in out["weights"].items()))
    assert out["ensemble_prediction"] == int(p["ensemble"] >= 0.5)
    assert out["ensemble_confidence"] == pytest.approx(max(p["ensemble"], 1 - p["ensemble"]))
    assert out["batch_prediction"] == int(p["batch"] >= 0.5)
    assert out["individual_predictions"] == {m: int(p[m] >= 0.5) for m in ONLINE_MODELS}
    votes = list(out["individual_predictions"].values())
    assert out["online_majority"] == int(sum(votes) >= 2)
    assert out["model_versions"] == {**dict.fromkeys(ONLINE_MODELS, 1), "batch": batch.active()["version"]}
    t = int(candles.open_time.iloc[-6])
    assert (out["symbol"], out["open_time"]) == ("BTCUSDT", t)
    full = compute_inputs(candles.iloc[:-5], spec(validate({}))).iloc[-1]  # from all stored bars, not the tail
    assert out["features"] == pytest.approx(full.to_dict(), rel=1e-9, abs=1e-12)
    assert hybrid.predict("BTCUSDT", store_prediction=False)["probabilities"] == p  # same candle, same answer

    hybrid.predict("BTCUSDT")  # the same candle again: still one row
    [row] = hybrid.history()
    assert row["open_time"] == t and row["outcome"] is None and row["probabilities"] == p
    assert hybrid.score_outcomes() == 0
    store.upsert("BTCUSDT", "1h", candles.iloc[-5:-4])  # the outcome candle arrives
    assert hybrid.score_outcomes() == 1
    up = int(candles.close.iloc[-5] > candles.close.iloc[-6])
    [row] = hybrid.history("BTCUSDT")
    assert row["outcome"] == up and row["correct"]["ensemble"] == (out["ensemble_prediction"] == up)
    summary = hybrid.accuracy_summary()
    assert summary["scored"] == 1 and summary["models"]["ensemble"]["accuracy"] == float(row["correct"]["ensemble"])

    nxt = hybrid.predict("BTCUSDT")  # the new candle is now the latest: a fresh feature row
    assert nxt["open_time"] == int(candles.open_time.iloc[-5]) and nxt["features"] != out["features"]
    assert len(hybrid.history()) == 2

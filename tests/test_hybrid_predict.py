"""HybridEnsemble.predict with the real online and batch models on real candles."""
import numpy as np
import pandas as pd
import pytest

from engine.batch import BatchTrainer
from engine.config import validate
from engine.db import Database
from engine.errors import ValidationError
from engine.features import build_dataset, compute_features
from engine.hybrid import ONLINE_MODELS, HybridEnsemble
from engine.online import OnlineLearningManager
from engine.store import CandleStore

BARS = 640


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
    """585 real hourly samples: every fresh online model is still worse than the majority-class baseline over
    its scored samples, so none may vote; with no batch model the hybrid answers with the baseline."""
    hybrid, online = system[0], system[1]
    train_online(online, system[4])
    out = hybrid.predict("BTCUSDT")
    assert out["status"] == "degraded" and any("no batch model" in n for n in out["notes"])
    p = out["probabilities"]
    assert p["batch"] is None and out["batch_prediction"] is None
    stats = online.stats()
    assert set(out["excluded"]) == set(ONLINE_MODELS)
    for name in ONLINE_MODELS:
        recent = stats["models"][name]["recent"]
        assert recent["log_loss"] > recent["baseline_log_loss"] and out["excluded"][name] in out["notes"]
        assert 0 < p[name] < 1  # still computed and logged, only not voting
    assert out["weights"] == {"majority_class": 1.0} and p["ensemble"] == stats["base_rate"]
    assert any("majority-class baseline" in n for n in out["notes"])


def test_an_online_model_worse_than_its_baseline_gets_weight_0_until_it_recovers(system):
    """Synthetic samples where 90 % of the labels are up: fresh models lose to the majority class until they
    learned the base rate and the rule (label = first feature > -1.28) that then lets them beat it."""
    hybrid, online = system[0], system[1]
    rng = np.random.default_rng(0)
    columns = list(compute_features(system[4]).columns)

    def learn(n, rule):
        X = rng.normal(size=(n, len(columns)))
        y = (X[:, 0] > -1.28) if rule else (rng.random(n) < 0.9)
        online.add_samples(pd.DataFrame(X, columns=columns), y.astype(int), "BTCUSDT", source="api")
        assert online.update_models_incremental()["status"] == "updated"

    learn(400, rule=False)
    models = online.stats()["models"]
    assert models["sgd"]["excluded"] and models["sgd"]["recent"]["n"] == 350  # the first 50 taught it untested
    assert models["sgd"]["excluded_reason"].startswith("sgd: log loss")
    out = hybrid.predict("BTCUSDT")
    assert "sgd" in out["excluded"] and "sgd" not in out["weights"] and out["excluded"]["sgd"] in out["notes"]
    for _ in range(4):
        learn(1000, rule=True)
    models = online.stats()["models"]
    recent = models["sgd"]["recent"]
    assert not models["sgd"]["excluded"] and models["sgd"]["excluded_reason"] is None
    assert recent["n"] == 500 and recent["log_loss"] < recent["baseline_log_loss"]
    out = hybrid.predict("BTCUSDT")
    assert "sgd" not in out["excluded"] and out["weights"]["sgd"] > 0
    voting = [m for m in ONLINE_MODELS if not models[m]["excluded"]]
    assert out["weights"] == pytest.approx(dict.fromkeys(voting, 1 / len(voting)))


def test_full_prediction_shape_weights_logging_and_scoring(system):
    hybrid, online, batch, store, candles = system
    train_online(online, candles)
    assert batch.retrain()["promoted"]
    out = hybrid.predict("BTCUSDT")
    assert out["status"] == "degraded" and out["notes"] == list(out["excluded"].values())
    p = out["probabilities"]
    assert set(p) == {*ONLINE_MODELS, "batch", "ensemble"} and all(0 < v < 1 for v in p.values())
    voting = [m for m in ONLINE_MODELS if m not in out["excluded"]]  # fresh online models lose to the baseline
    share = 0.3 / len(voting) if voting else 0.0
    assert out["weights"] == pytest.approx({**dict.fromkeys(voting, share), "batch": 0.7 if voting else 1.0})
    assert p["ensemble"] == pytest.approx(sum(w * p[m] for m, w in out["weights"].items()))
    assert out["ensemble_prediction"] == int(p["ensemble"] >= 0.5)
    assert out["ensemble_confidence"] == pytest.approx(max(p["ensemble"], 1 - p["ensemble"]))
    assert out["batch_prediction"] == int(p["batch"] >= 0.5)
    assert out["individual_predictions"] == {m: int(p[m] >= 0.5) for m in ONLINE_MODELS}
    votes = list(out["individual_predictions"].values())
    assert out["online_majority"] == int(sum(votes) >= 2)
    assert out["model_versions"] == {**dict.fromkeys(ONLINE_MODELS, 1), "batch": batch.active()["version"]}
    t = int(candles.open_time.iloc[-6])
    assert (out["symbol"], out["open_time"]) == ("BTCUSDT", t)
    full = compute_features(candles.iloc[:-5]).iloc[-1]  # from all stored bars, not just the tail read
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

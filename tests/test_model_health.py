"""Engine support for the dashboard's model views: live health against baselines, paging of the prediction
log and the job log, explicit online updates, every field of a bad sample named at once, feature importance."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.batch.importance import permutation_importance
from engine.batch.model import fit_batch_model
from engine.config import validate
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.health import MIN_SAMPLES, below_baseline_alerts, symbol_health
from engine.jobs import JobRunner
from engine.db import Database
from engine.online.samples import SampleErrors, check_sample
from engine.predictions import PredictionLog
from tests.dashboard_fixtures import HOUR, T0
from tests.system_fixtures import make_system


def _scored(outcomes, **probs) -> pd.DataFrame:
    n = len(outcomes)
    return pd.DataFrame({"open_time": T0 + HOUR * np.arange(n), "outcome": outcomes,
                         **{k: np.asarray(v, dtype=float) for k, v in probs.items()}})


def test_health_scores_each_model_beside_baselines_on_its_own_rows():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.5).astype(int)
    good = np.where(y == 1, 0.7, 0.3)  # knows the answer
    coin = np.full(300, 0.5)
    bad = np.where(y == 1, 0.3, 0.7)  # always wrong, confidently
    batch = np.r_[np.full(250, np.nan), good[250:]]  # answered the last 50 only
    h = symbol_health(_scored(y, ensemble=good, sgd=bad, mlp_online=coin, batch=batch), horizon=1, window=200)
    assert h["n"] == 200 and set(h["models"]) == {"hybrid", "sgd", "mlp_online", "batch"}
    hybrid, sgd, batch_h = h["models"]["hybrid"], h["models"]["sgd"], h["models"]["batch"]
    assert hybrid["accuracy"] == 1.0 and hybrid["beats_baseline"] is True and hybrid["verdict"] == "beats"
    assert sgd["accuracy"] == 0.0 and sgd["beats_baseline"] is False and sgd["verdict"] == "worse"
    assert h["models"]["mlp_online"]["verdict"] == "no_better"  # a coin is no better, and within noise not worse
    assert batch_h["n"] == 50 and batch_h["baselines"]["majority_class"]["n"] == 50  # same rows
    for m in h["models"].values():
        assert {"accuracy_se", "log_loss_se"} <= set(m) and set(m["baselines"]) == {"majority_class", "reversal"}
    alerts = below_baseline_alerts({"symbols": {"BTCUSDT": h}}, now=T0)
    assert [a["kind"] for a in alerts] == ["below_baseline"] and "sgd" in alerts[0]["message"]
    assert "hybrid" not in alerts[0]["message"] and "mlp_online" not in alerts[0]["message"]


def test_beats_baseline_only_beyond_two_standard_errors_and_the_same_rule_everywhere():
    """A model a little better than the baseline (by less than 2 SE of the paired difference) is "no better
    than baseline", not "beats baseline": the verdict the status, the API, the page and evaluate all show."""
    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.5).astype(int)
    slight = np.where(rng.random(500) < 0.53, np.where(y == 1, 0.52, 0.48), np.where(y == 1, 0.48, 0.52))
    m = symbol_health(_scored(y, ensemble=slight), horizon=1, window=500)["models"]["hybrid"]
    assert m["log_loss"] < m["baselines"]["majority_class"]["log_loss"]  # better on the point estimate ...
    assert abs(m["gap"]) < 2 * m["gap_se"] and m["verdict"] == "no_better" and m["beats_baseline"] is False


def test_no_verdict_before_enough_samples():
    y = [1, 0] * ((MIN_SAMPLES - 2) // 2)
    h = symbol_health(_scored(y, ensemble=[0.1, 0.9] * ((MIN_SAMPLES - 2) // 2)), horizon=1)
    assert h["models"]["hybrid"]["beats_baseline"] is None and h["models"]["hybrid"]["verdict"] == "too_few"
    assert below_baseline_alerts({"symbols": {"X": h}}, now=T0) == []
    assert symbol_health(_scored([]), horizon=1)["models"] == {}


def test_prediction_log_pages_newest_first_per_symbol(tmp_path):
    log = PredictionLog(Database(tmp_path / "m.db"))
    probs = {"ensemble": 0.6, "batch": 0.55}
    for i in range(5):  # BTC from 2017, ETH from 2024: each symbol's own newest bar comes first
        log.record("BTCUSDT", "1h", 1_500_000_000_000 + i * HOUR, 1, probs, "ok", created_at=T0 + 2 * i)
        log.record("ETHUSDT", "1h", 1_720_000_000_000 + i * HOUR, 1, probs, "ok", created_at=T0 + 2 * i + 1)
    btc = log.history("BTCUSDT", limit=2, offset=1)
    assert [r["open_time"] for r in btc] == [1_500_000_000_000 + 3 * HOUR, 1_500_000_000_000 + 2 * HOUR]
    every = log.history(None, limit=4)  # all symbols: by the time predicted, so both symbols show
    assert [r["symbol"] for r in every] == ["ETHUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT"]
    assert log.count("BTCUSDT") == 5 and log.count() == 10
    with pytest.raises(ValidationError):
        log.history(None, limit=10, offset=-1)


def test_job_history_filters_and_pages(tmp_path):
    runner = JobRunner(Database(tmp_path / "m.db"), tmp_path / "locks")
    runner.register("collect", lambda: {"new": 1})
    runner.register("evaluate", lambda: {"scored": 0})
    for _ in range(6):
        runner.run("collect", "schedule")
    runner.run("collect", "dashboard")
    runner.run("evaluate", "schedule")
    assert runner.count() == 8 and runner.count(routine=False) == 2
    assert [r["job"] for r in runner.history(routine=False)] == ["evaluate", "collect"]
    assert [r["id"] for r in runner.history(limit=2, offset=2)] == [6, 5]
    assert runner.count(job="collect", outcome="ok") == 7
    with pytest.raises(ValidationError):
        runner.history(outcome="great")


def test_explicit_online_update_runs_below_the_minimum_scheduled_waits(tmp_path):
    system = make_system(tmp_path / "data", collect=True)
    system.run_job("online_update", "cli")
    few = {name: 0.01 for name in FEATURE_COLUMNS} | {"williams_r": -50.0}
    for i in range(3):
        system.online.add_training_data(few, i % 2, "BTCUSDT", open_time=T0 + i * HOUR)
    scheduled = system.run_job("online_update", "schedule")
    assert scheduled["outcome"] == "skipped" and "3 new samples waiting, 20 needed" in scheduled["result"]["reason"]
    record = system.run_job("online_update", "dashboard")
    assert record["outcome"] == "ok" and record["result"]["samples"] == 3
    assert system.run_job("online_update", "cli")["result"]["reason"] == "no new samples waiting"


def test_a_bad_sample_names_every_field_in_words():
    with pytest.raises(SampleErrors) as err:
        check_sample({**{n: 0.1 for n in FEATURE_COLUMNS}, "williams_r": -10, "rsi": None, "atr": "x",
                      "macd": float("inf"), "price": 1.0}, 2, "DOGE", ["BTCUSDT"])
    assert err.value.errors == {"target": "must be 0 or 1", "symbol": "must be one of BTCUSDT",
                                "features.price": "unknown feature", "features.rsi": "required",
                                "features.macd": "must be a finite number", "features.atr": "must be a number"}
    assert err.value.field == "target" and "4 more" not in str(err.value) and "5 more fields" in str(err.value)
    assert check_sample({n: 1 for n in FEATURE_COLUMNS} | {"williams_r": -1}, 1.0, " btcusdt", ["BTCUSDT"])[1:] == \
        (1, "BTCUSDT")


def test_weights_come_out_without_float_noise():
    cfg = validate({"ensemble_weight_batch": 0.9000000000000001})
    assert (cfg["ensemble_weight_batch"], cfg["ensemble_weight_online"]) == (0.9, 0.1)
    assert validate({"ensemble_weight_online": 0.7})["ensemble_weight_batch"] == 0.3
    with pytest.raises(ValidationError) as err:
        validate({"ensemble_weight_batch": 1.5})
    assert err.value.field == "ensemble_weight_batch" and "between 0.0 and 1.0" in err.value.message


def test_retrain_records_permutation_importance(tmp_path):
    system = make_system(tmp_path / "data", collect=True)
    assert system.run_job("batch_retrain", "cli")["outcome"] == "ok"
    importance = system.batch.active()["feature_importance"]
    assert set(importance) == set(system.batch.active()["inputs"]) > set(FEATURE_COLUMNS)
    assert all({"mean", "std"} == set(v) for v in importance.values())
    rng = np.random.default_rng(2)
    X = rng.normal(size=(900, len(FEATURE_COLUMNS)))
    y = (X[:, 5] > 0).astype(int)
    imp = permutation_importance(fit_batch_model(X[:600], y[:600]), X[600:], y[600:])
    assert max(imp, key=lambda k: imp[k]["mean"]) == FEATURE_COLUMNS[5]
    assert imp[FEATURE_COLUMNS[0]]["mean"] < imp[FEATURE_COLUMNS[5]]["mean"] / 10

"""Online learning on the real bundled BTCUSDT hourly features (engine.features.build_dataset)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.config import validate
from engine.db import Database
from engine.features import build_dataset
from engine.online import MODEL_NAMES, OnlineLearners, OnlineLearningManager


@pytest.fixture(scope="module")
def btc_dataset(btc_candles):
    X, y = build_dataset(btc_candles, 1)
    return X.iloc[-4000:], y.iloc[-4000:]


def test_learners_on_real_btc_are_calibrated_and_beat_the_majority_baseline(btc_dataset):
    X, y = btc_dataset[0].to_numpy(), btc_dataset[1].to_numpy()
    ol = OnlineLearners()
    baseline_correct = 0
    for start in range(0, len(X), 50):
        xb, yb = X[start:start + 50], y[start:start + 50]
        if start:  # baseline: the majority label of the previous chunk
            baseline_correct += np.sum((y[start - 50:start].mean() >= 0.5) == yb)
        for name, p in ol.score_then_learn(xb, yb)["probabilities"].items():
            assert p is None or (np.all(p > 0) and np.all(p < 1)), name
    scored = len(X) - 50
    for name in MODEL_NAMES:
        c = ol.counters[name]
        assert c["scored"] == scored
        assert 0.45 < c["correct"] / scored < 0.6, name  # an hour's direction is near a coin flip
        assert c["log_loss_sum"] / scored < math.log(2) + 0.03, name  # not over-confident
    assert ol.counters["sgd"]["correct"] > baseline_correct


def test_manager_learns_real_samples_keyed_by_open_time(btc_dataset, data_dir):
    X, y = btc_dataset[0].iloc[-300:], btc_dataset[1].iloc[-300:]
    m = OnlineLearningManager(Database(data_dir / "market.db"), data_dir / "models", data_dir / "locks",
                              lambda: validate({}))
    assert m.add_samples(X, y.to_numpy(), "BTCUSDT", "candle", X.index) == 300
    assert m.add_samples(X.iloc[-10:], y.to_numpy()[-10:], "BTCUSDT", "candle", X.index[-10:]) == 0
    result = m.update_models_incremental()
    assert result["status"] == "updated" and result["samples"] == 300
    assert all(0.3 < result["update_results"][name] < 0.7 for name in MODEL_NAMES)
    first = m.db.query("SELECT open_time FROM online_samples ORDER BY id LIMIT 1")[0]["open_time"]
    assert first == int(X.index[0])
    p = m.predict_proba(X.iloc[-1:])
    assert all(0 < p[name][0] < 1 for name in MODEL_NAMES)

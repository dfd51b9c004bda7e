"""Online learning, the pure in-memory parts: scaler, drift detector, margin calibration, models, OnlineLearners."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.online import ADWIN, MODEL_NAMES, OnlineLearners, make_model
from engine.online.models import LogisticSGD, PassiveAggressiveProba
from engine.online.probability import PlattCalibrator
from engine.online.scaler import EWMScaler


def linear_stream(n, seed=0, noise=0.5, flip=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 23))
    score = X[:, 0] + 0.5 * X[:, 1] + noise * rng.normal(size=n)
    y = ((score < 0) if flip else (score > 0)).astype(int)
    return X, y


# -- scaler --------------------------------------------------------------------------------------
def test_scaler_matches_explicit_exponential_weights_whatever_the_batching():
    rng = np.random.default_rng(1)
    X = rng.normal(loc=[5.0, -2.0], scale=[3.0, 0.1], size=(300, 2))
    whole = EWMScaler(halflife=50).partial_fit(X)
    pieces = EWMScaler(halflife=50)
    for part in np.array_split(X, [7, 8, 120, 299]):
        pieces.partial_fit(part)
    w = 0.5 ** (np.arange(299, -1, -1) / 50)
    mean = w @ X / w.sum()
    std = np.sqrt(w @ (X - mean) ** 2 / w.sum())
    for s in (whole, pieces):
        np.testing.assert_allclose(s.mean_, mean, rtol=1e-9)
        np.testing.assert_allclose(s.scale_, std, rtol=1e-6)
    np.testing.assert_allclose(whole.transform(X[:3]), (X[:3] - mean) / std, rtol=1e-6)


def test_scaler_follows_a_level_shift_and_handles_constant_columns():
    s = EWMScaler(halflife=20)
    assert np.array_equal(s.transform(np.array([[3.0, 4.0]])), [[3.0, 4.0]])  # identity before any data
    s.partial_fit(np.column_stack([np.zeros(200), np.full(200, 7.0)]))
    s.partial_fit(np.column_stack([np.full(100, 10.0), np.full(100, 7.0)]))
    assert s.mean_[0] > 9.0  # 5 half-lives after the shift: >= 97% of the way
    assert s.scale_[1] == 1.0 and s.transform(np.array([[0.0, 8.0]]))[0, 1] == pytest.approx(1.0)


# -- drift ---------------------------------------------------------------------------------------
def test_adwin_quiet_on_a_stationary_stream():
    rng = np.random.default_rng(42)
    d = ADWIN()
    fired = [d.update_many(rng.random(6) < 0.48).drift_detected for _ in range(2000)]
    assert not any(fired)
    assert d.width == d.max_window  # nothing was cut


def test_adwin_detects_an_abrupt_rise_in_error_soon_after_it():
    rng = np.random.default_rng(7)
    d = ADWIN()
    for _ in range(300):
        assert not d.update_many(rng.random(6) < 0.4).drift_detected
    for batch in range(60):
        if d.update_many(rng.random(6) < 0.75).drift_detected:
            break
    else:
        pytest.fail("no drift detected after 360 samples at the new error rate")
    assert batch * 6 < 200
    assert d.width < 1800 and d.estimation > 0.6  # the old regime was dropped


def test_adwin_improvement_shrinks_the_window_without_raising_degradation():
    rng = np.random.default_rng(3)
    better, both = ADWIN(), ADWIN(degradation_only=False)
    flags = {id(better): [], id(both): []}
    for p in [0.7] * 100 + [0.2] * 100:
        errors = rng.random(6) < p
        for d in (better, both):
            flags[id(d)].append(d.update_many(errors).drift_detected)
    assert not any(flags[id(better)]) and better.width <= 650
    assert any(flags[id(both)])
    assert ADWIN().update(1.0).width == 1


# -- margin -> probability -----------------------------------------------------------------------
def test_platt_is_increasing_bounded_and_recovers_a_known_sigmoid():
    rng = np.random.default_rng(0)
    c = PlattCalibrator(memory=5000)
    for _ in range(10):
        m = rng.normal(scale=2.0, size=400)
        c.update(m, (rng.random(400) < 1 / (1 + np.exp(-(2.0 * m - 0.5)))).astype(int))
    assert c.a == pytest.approx(2.0, rel=0.15) and c.b == pytest.approx(-0.5, abs=0.15)
    grid = np.linspace(-1e6, 1e6, 2001)
    p = c.predict(grid)
    assert np.all(np.diff(p) >= 0) and p[0] > 0 and p[-1] < 1 and p[1000] != p[1100]


def test_platt_slope_stays_positive_on_an_inverted_model():
    c = PlattCalibrator().update(np.linspace(-3, 3, 200), (np.linspace(-3, 3, 200) < 0).astype(int))
    assert c.a > 0
    assert np.all(np.diff(c.predict(np.linspace(-5, 5, 50))) > 0)


def test_passive_aggressive_probabilities_are_calibrated_ish():
    X, y = linear_stream(6000, seed=5, noise=1.0)
    pa = PassiveAggressiveProba(C=10.0)  # big steps: raw margins far from probabilities, the calibrator must map
    predicted, observed = [], []
    for start in range(0, 6000, 50):
        xb, yb = X[start:start + 50], y[start:start + 50]
        if pa.fitted and start >= 1000:
            predicted.append(pa.predict_proba(xb)[:, 1])
            observed.append(yb)
        pa.partial_fit(xb, yb)
    p, o = np.concatenate(predicted), np.concatenate(observed)
    assert 0 < p.min() and p.max() < 1
    order = np.argsort(pa.decision_function(X[:500]))
    assert np.all(np.diff(pa.predict_proba(X[:500])[order, 1]) >= 0)  # monotone in the margin
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    gaps = [abs(p[bins == b].mean() - o[bins == b].mean()) for b in range(5) if (bins == b).sum() > 100]
    assert len(gaps) >= 3 and max(gaps) < 0.1
    raw_sigmoid = 1 / (1 + np.exp(-pa.decision_function(X[1000:])))
    assert np.mean((p - o) ** 2) < np.mean((raw_sigmoid - y[1000:]) ** 2)  # better than sigmoid(margin)


# -- models --------------------------------------------------------------------------------------
def test_the_linear_learners_are_scikit_learns_updates_without_its_per_call_checks():
    """Sample by sample in order, the same weights as SGDClassifier (log loss, constant rate, L2) and as its PA-I."""
    from sklearn.linear_model import SGDClassifier

    X, y = linear_stream(600, seed=2)
    ours, theirs = LogisticSGD(eta0=0.01, alpha=1e-3), SGDClassifier(
        loss="log_loss", learning_rate="constant", eta0=0.01, alpha=1e-3, shuffle=False, random_state=0)
    pa, their_pa = PassiveAggressiveProba(C=0.05), SGDClassifier(loss="hinge", penalty=None, learning_rate="pa1",
                                                                 eta0=0.05, shuffle=False, random_state=0)
    for start in range(0, 600, 50):
        for model in (ours, pa):
            model.partial_fit(X[start:start + 50], y[start:start + 50])
        for model in (theirs, their_pa):
            model.partial_fit(X[start:start + 50], y[start:start + 50], classes=[0, 1])
    np.testing.assert_allclose(ours.coef, theirs.coef_[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pa.coef, their_pa.coef_[0], rtol=1e-9, atol=1e-12)
    assert ours.intercept == pytest.approx(theirs.intercept_[0]) and pa.intercept == pytest.approx(their_pa.intercept_[0])


def test_every_model_learns_from_small_batches_and_answers_probabilities():
    X, y = linear_stream(3000, seed=2)
    for name in MODEL_NAMES:
        model = make_model(name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for start in range(0, 2500, 50):
                model.partial_fit(X[start:start + 50], y[start:start + 50])
            model.partial_fit(X[2500:2506], y[2500:2506])  # fewer rows than the MLP's minibatch
        p = model.predict_proba(X[2506:])
        assert ((p > 0) & (p < 1)).all() and np.allclose(p.sum(axis=1), 1.0)
        assert np.mean((p[:, 1] >= 0.5) == y[2506:]) > 0.75, name
    with pytest.raises(KeyError):
        make_model("svm")


def test_models_saved_by_an_earlier_release_load_as_untrained_without_inputs():
    ol = OnlineLearners()
    X, y = linear_stream(100, seed=1)
    ol.score_then_learn(X, y)
    state = ol.__dict__.copy()
    state["models"] = {name: type("Wrapped", (), {"estimator": object()})() for name in MODEL_NAMES}
    old = OnlineLearners.__new__(OnlineLearners)
    old.__setstate__(state)
    assert old.inputs == () and not any(old.trained(name) for name in MODEL_NAMES)
    assert all(p is None for p in old.predict_proba(X[:3]).values())


# -- OnlineLearners ------------------------------------------------------------------------------
def test_score_then_learn_scores_with_the_model_as_it_was_before_learning():
    X, y = linear_stream(400, seed=3)
    ol = OnlineLearners()
    first = ol.score_then_learn(X[:100], y[:100])
    assert all(r["accuracy"] is None and r["log_loss"] is None for r in first["models"].values())
    assert all(p is None for p in first["probabilities"].values())
    before = ol.predict_proba(X[100:150])
    result = ol.score_then_learn(X[100:150], y[100:150])
    after = ol.predict_proba(X[100:150])
    for name in MODEL_NAMES:
        np.testing.assert_array_equal(result["probabilities"][name], before[name])
        assert result["models"][name]["accuracy"] == np.mean((before[name] >= 0.5) == y[100:150])
        p = np.clip(before[name], 1e-15, 1 - 1e-15)
        expected_loss = -np.mean(y[100:150] * np.log(p) + (1 - y[100:150]) * np.log(1 - p))
        assert result["models"][name]["log_loss"] == pytest.approx(expected_loss)
        assert not np.array_equal(after[name], before[name])  # then it learned the batch
        assert result["models"][name]["samples_seen"] == 150


def test_learners_get_good_on_a_learnable_problem():
    X, y = linear_stream(2400, seed=4, noise=0.3)
    ol = OnlineLearners()
    accuracy = {name: [] for name in MODEL_NAMES}
    for start in range(0, 2400, 50):
        for name, r in ol.score_then_learn(X[start:start + 50], y[start:start + 50])["models"].items():
            accuracy[name].append(r["accuracy"])
    for name in MODEL_NAMES:
        assert accuracy[name][0] is None
        assert np.mean(accuracy[name][-10:]) > 0.8, name
        assert ol.counters[name]["scored"] == 2350


def test_drift_flag_on_a_concept_flip_and_rewarm_restarts_the_model():
    X1, y1 = linear_stream(1500, seed=6, noise=0.3)
    X2, y2 = linear_stream(600, seed=7, noise=0.3, flip=True)
    ol = OnlineLearners()
    for start in range(0, 1500, 25):
        assert not ol.score_then_learn(X1[start:start + 25], y1[start:start + 25])["models"]["sgd"]["drift"]
    drifted_at = None
    for start in range(0, 600, 25):
        if ol.score_then_learn(X2[start:start + 25], y2[start:start + 25])["models"]["sgd"]["drift"]:
            drifted_at = start + 25
            break
    assert drifted_at is not None and drifted_at <= 200
    assert 100 <= ol.regime_length("sgd") < 1500  # the detector dropped the old regime
    seen_mlp = ol.counters["mlp_online"]["samples_seen"]
    ol.rewarm(X2[:drifted_at], y2[:drifted_at], names=["sgd"])
    c = ol.counters["sgd"]
    assert c["samples_seen"] == drifted_at and c["scored"] == 0 and c["drift"] and c["drifts"] == 1
    assert ol.detectors["sgd"].width == 0 and ol.counters["mlp_online"]["samples_seen"] == seen_mlp
    fresh = make_model("sgd")
    Xs, ys = ol.scaler.transform(X2[:drifted_at]), y2[:drifted_at]
    for start in range(0, drifted_at, 50):
        fresh.partial_fit(Xs[start:start + 50], ys[start:start + 50])
    np.testing.assert_allclose(ol.models["sgd"].predict_proba(Xs)[:, 1], fresh.predict_proba(Xs)[:, 1])
    with pytest.raises(ValidationError) as err:
        ol.rewarm(X2[:10], y2[:10], names=["svm"])
    assert err.value.field == "names"


def test_learners_pickle_round_trip_and_reject_bad_input():
    X, y = linear_stream(200, seed=8)
    ol = OnlineLearners()
    ol.score_then_learn(X[:100], y[:100])
    ol.score_then_learn(X[100:], y[100:])
    copy = pickle.loads(pickle.dumps(ol))
    for name, p in ol.predict_proba(X[:5]).items():
        np.testing.assert_array_equal(copy.predict_proba(X[:5])[name], p)
    bad = [(X[:5, :22], y[:5], "X"), (np.where(np.eye(5, 23) == 1, np.inf, X[:5]), y[:5], "X"),
           (X[:5], np.array([0, 1, 2, 0, 1]), "y"), (X[:5], y[:4], "y"), (X[:0], y[:0], "X")]
    for Xb, yb, field in bad:
        with pytest.raises(ValidationError) as err:
            ol.score_then_learn(Xb, yb)
        assert err.value.field == field
    assert ol.counters["sgd"]["samples_seen"] == 200  # nothing learned from bad input


# -- recent health ---------------------------------------------------------------------------------
def test_recent_health_is_the_models_last_scored_samples_beside_the_baseline_known_before_each_batch():
    X, y = linear_stream(700, seed=9, noise=0.3)
    ol = OnlineLearners()
    probabilities, bases = [], []
    for start in range(0, 700, 50):
        ups, n = ol.label_counts
        bases.append(np.full(50, (ups + 1) / (n + 2)))
        probabilities.append(ol.score_then_learn(X[start:start + 50], y[start:start + 50])["probabilities"]["sgd"])
    p, base, labels = np.concatenate(probabilities[-4:]), np.concatenate(bases[-4:]), y[-200:]
    recent = ol.health("sgd", window=200)
    assert recent["n"] == 200 and recent["verdict"] == "beats"  # learnable: far better than the majority class
    loss = -np.where(labels == 1, np.log(p), np.log(1 - p))
    assert recent["log_loss"] == pytest.approx(loss.mean(), rel=1e-5)
    assert recent["log_loss_se"] == pytest.approx(loss.std(ddof=1) / np.sqrt(200), rel=1e-4)
    assert recent["accuracy"] == np.mean((p >= 0.5) == (labels == 1))
    base_loss = -np.where(labels == 1, np.log(base), np.log(1 - base))
    assert recent["baseline_log_loss"] == pytest.approx(base_loss.mean(), rel=1e-5)
    assert recent["baseline_accuracy"] == np.mean((base >= 0.5) == (labels == 1))
    assert ol.health("sgd", window=5000)["n"] == 650  # all it scored (the first batch taught it untested)


def test_a_model_worse_than_the_baseline_is_said_so_until_it_recovers_and_a_rewarm_clears_its_record():
    rng = np.random.default_rng(3)
    ol = OnlineLearners(drift_delta=1e-100)  # no drift re-warm: watch the health window alone
    X1, y1 = linear_stream(1000, seed=10, noise=0.3)
    X2, y2 = linear_stream(300, seed=11, noise=0.3, flip=True)  # the rule flips: it is now confidently wrong
    for X, y in ((X1, y1), (X2, y2)):
        for start in range(0, len(X), 50):
            ol.score_then_learn(X[start:start + 50], y[start:start + 50])
    recent = ol.health("sgd", window=200)
    assert recent["log_loss"] > recent["baseline_log_loss"] and recent["verdict"] == "worse"
    X3, y3 = linear_stream(1500, seed=12, noise=0.3, flip=True)
    for start in range(0, 1500, 50):
        ol.score_then_learn(X3[start:start + 50], y3[start:start + 50])
    assert ol.health("sgd", window=200)["verdict"] == "beats"  # learned the new rule: better than the baseline again
    restored = pickle.loads(pickle.dumps(ol))
    assert restored.health("sgd", window=200) == ol.health("sgd", window=200)
    ol.rewarm(rng.normal(size=(100, 23)), rng.integers(0, 2, 100), names=["sgd"])
    assert ol.health("sgd", window=200) == {"n": 0, **dict.fromkeys(
        ("accuracy", "accuracy_se", "log_loss", "log_loss_se", "baseline_accuracy", "baseline_log_loss")),
        "verdict": "too_few"}


def test_models_saved_before_the_health_window_load_with_an_empty_one():
    X, y = linear_stream(200, seed=13)
    ol = OnlineLearners()
    ol.score_then_learn(X, y)
    state = pickle.dumps(ol)
    old = pickle.loads(state)
    del old.__dict__["recent"], old.__dict__["label_counts"]  # what an older version pickled
    restored = pickle.loads(pickle.dumps(old))
    assert restored.health("sgd", 500)["n"] == 0 and restored.base_rate() == 0.5
    restored.score_then_learn(X[:50], y[:50])
    assert restored.health("sgd", 500)["n"] == 50

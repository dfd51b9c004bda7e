"""The pure batch model (engine.batch.model) and the time split / scores (engine.batch.validation)."""
from __future__ import annotations

import os
import pickle
import select
import signal
import threading

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from engine.batch import model as model_module
from engine.batch.model import HGB_PARAMS, BatchModel, fit_batch_model
from engine.batch.validation import holdout_split, score
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS, build_dataset
from engine.metrics import summarize

WINDOW = 2160  # 90 days of 1h bars


@pytest.fixture(scope="module")
def btc_dataset(btc_candles):
    X, y = build_dataset(btc_candles.iloc[-20_000:], 1)
    return X, y


def test_flat_trees_match_sklearn_including_missing_values(btc_dataset):
    X, y = btc_dataset
    x = X.to_numpy().copy()
    x[::5, 3] = np.nan  # missing values follow each node's learned NaN direction
    x[::7, 10] = np.nan
    est = HistGradientBoostingClassifier(**HGB_PARAMS).fit(x[:WINDOW], y.to_numpy()[:WINDOW])
    model = BatchModel.from_estimator(est)
    rows = slice(WINDOW, WINDOW + 3000)
    np.testing.assert_allclose(model.predict_proba(x[rows]), est.predict_proba(x[rows]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(x[WINDOW]), est.predict_proba(x[WINDOW:WINDOW + 1]), atol=1e-12)


def test_dataframe_columns_are_read_by_name_and_model_pickles(btc_dataset):
    X, y = btc_dataset
    model = fit_batch_model(X.iloc[:WINDOW], y.iloc[:WINDOW])
    test = X.iloc[WINDOW:WINDOW + 200]
    expected = model.predict_proba(test.to_numpy())
    np.testing.assert_array_equal(model.predict_proba(test[list(reversed(FEATURE_COLUMNS))]), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(test), expected)
    assert ((expected > 0) & (expected < 1)).all() and np.allclose(expected.sum(axis=1), 1.0)
    assert expected[:, 1].std() > 0  # it learned something: probabilities vary by row


def test_bad_input_is_rejected_naming_the_field(btc_dataset):
    X, y = btc_dataset
    x, labels = X.to_numpy()[:500], y.to_numpy()[:500]
    with pytest.raises(ValidationError) as err:
        fit_batch_model(x, np.ones(500, dtype=int))
    assert err.value.field == "y" and "both classes" in err.value.message
    with pytest.raises(ValidationError) as err:
        fit_batch_model(x, labels[:-1])
    assert err.value.field == "y"
    with pytest.raises(ValidationError) as err:
        fit_batch_model(x[:, :-1], labels)
    assert err.value.field == "X" and "23" in err.value.message
    model = fit_batch_model(x, labels)
    with pytest.raises(ValidationError) as err:
        model.predict_proba(X.iloc[:3].drop(columns=["rsi"]))
    assert err.value.field == "X" and "rsi" in err.value.message


def test_out_of_sample_no_worse_than_majority_baseline_and_calibrated(btc_dataset):
    """Rolling 90-day fits, each scored on the next 30 days it never saw (real BTC bars)."""
    X, y = btc_dataset
    x, labels = X.to_numpy(), y.to_numpy()
    probs, base, truth = [], [], []
    for start in range(0, len(labels) - WINDOW - 720, 2160):
        train = slice(start, start + WINDOW - 1)  # one-bar purge gap (horizon 1)
        test = slice(start + WINDOW, start + WINDOW + 720)
        probs.append(fit_batch_model(x[train], labels[train]).predict_proba(x[test])[:, 1])
        base.append(np.full(720, labels[train].mean()))
        truth.append(labels[test])
    p, b, t = map(np.concatenate, (probs, base, truth))
    ours, baseline = summarize(t, p), summarize(t, b)
    assert ours["n"] >= 5000
    assert ours["log_loss"] <= baseline["log_loss"]
    assert ours["brier"] <= baseline["brier"]
    assert abs(p.mean() - t.mean()) < 0.02  # no systematic lean
    assert 0.3 < p.min() and p.max() < 0.7  # shrunk towards the base rate, not overconfident


def test_holdout_split_is_time_ordered_with_a_purge_gap():
    rng = np.random.default_rng(3)
    open_time = np.cumsum(rng.integers(1, 4, size=500)) * 3_600_000  # irregular: gaps in the data
    horizon = 3
    label_time = np.append(open_time[horizon:], open_time[-1] + np.arange(1, horizon + 1) * 3_600_000)
    train, test = holdout_split(open_time, label_time, fraction=0.2)
    assert len(test) == 100 and test.tolist() == list(range(400, 500))  # the most recent rows, in order
    assert (np.diff(train) > 0).all() and train.max() < test.min()
    assert (label_time[train] < open_time[test[0]]).all()  # no training label looks into the hold-out
    assert train.tolist() == list(range(400 - horizon))  # exactly `horizon` rows dropped as the gap


def test_score_reports_model_and_majority_baseline_on_the_same_rows():
    y = np.array([1, 1, 1, 0])
    s = score(y, np.array([0.8, 0.7, 0.6, 0.4]), base_rate=0.25)
    assert s["n"] == 4 and s["accuracy"] == 1.0 and s["up_rate"] == 0.75
    assert s["baseline"]["accuracy"] == 0.25  # training majority was "down": wrong on 3 of 4
    assert s["baseline"]["log_loss"] == pytest.approx(-(3 * np.log(0.25) + np.log(0.75)) / 4)
    assert s["log_loss"] < s["baseline"]["log_loss"]


def test_a_child_forked_during_a_fit_in_another_thread_can_fit():
    """A background-callback retrain is forked off a server worker whose scheduler thread may be fitting at
    that moment (the outcome warm-up): the child must not wait for the parent's fit lock (it hung forever)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, len(FEATURE_COLUMNS)))
    y = (X[:, 0] > 0).astype(int)
    fitting, release = threading.Event(), threading.Event()

    def parents_fit():  # holds the fit lock as a running fit does, until the test has forked
        with model_module._FIT_LOCK:
            fitting.set()
            release.wait(60)
    holder = threading.Thread(target=parents_fit)
    holder.start()
    fitting.wait(10)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            p = fit_batch_model(X, y).predict_proba(X[:1])
            os.write(write, b"fitted" if p.shape == (1, 2) else b"wrong")
        finally:
            os._exit(0)
    try:
        os.close(write)
        ready, _, _ = select.select([read], [], [], 60)
        assert ready and os.read(read, 6) == b"fitted", "the forked child's fit waited for the parent's lock"
    finally:
        release.set()
        holder.join()
        os.close(read)
        if not os.waitpid(child, os.WNOHANG)[0]:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)

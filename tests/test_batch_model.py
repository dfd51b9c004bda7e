"""The pure batch model (engine.batch.model), its windows' live record (engine.batch.track), one retrain's
steps (engine.batch.ladder) and the time split / scores (engine.batch.validation)."""
from __future__ import annotations

import os
import pickle
import select
import signal
import threading

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from engine.batch import trees
from engine.batch.ladder import Rows, decide, fit_candidates, score_previous
from engine.batch.model import CLIP, PENALTY, BatchModel, fit_batch_model, fit_ridge_logit
from engine.batch.track import MIN_SCORED, Track, candidates, min_rows
from engine.batch.validation import holdout_split, score
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS, build_dataset
from engine.metrics import summarize

WINDOW = 2160  # 90 days of 1h bars
HOUR = 3_600_000


@pytest.fixture(scope="module")
def btc_dataset(btc_candles):
    X, y = build_dataset(btc_candles.iloc[-20_000:], 1)
    return X, y


def test_the_ridge_fit_is_sklearns_penalised_logistic_regression(btc_dataset):
    """Newton's method lands on the optimum sklearn's solver finds for the same objective (C = 1 / penalty,
    the same standardised and clipped inputs)."""
    X, y = btc_dataset
    x, labels = X.to_numpy()[:WINDOW], y.to_numpy()[:WINDOW]
    ours = fit_ridge_logit(x, labels)
    z = np.clip((x - x.mean(axis=0)) / x.std(axis=0), -CLIP, CLIP)
    theirs = LogisticRegression(C=1.0 / PENALTY, tol=1e-10, max_iter=10_000).fit(z, labels)
    np.testing.assert_allclose(ours.coef, theirs.coef_[0], atol=1e-6)
    assert ours.intercept == pytest.approx(theirs.intercept_[0], abs=1e-6)
    np.testing.assert_allclose(ours.p_up(x[:50]), theirs.predict_proba(z[:50])[:, 1], atol=1e-6)


def test_inputs_are_read_by_name_a_missing_one_counts_as_its_mean_and_the_model_pickles(btc_dataset):
    X, y = btc_dataset
    model = fit_batch_model(X.iloc[:WINDOW], y.iloc[:WINDOW])
    test = X.iloc[WINDOW:WINDOW + 200]
    expected = model.predict_proba(test.to_numpy())
    np.testing.assert_array_equal(model.predict_proba(test[list(reversed(FEATURE_COLUMNS))]), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(test), expected)
    assert ((expected > 0) & (expected < 1)).all() and np.allclose(expected.sum(axis=1), 1.0)
    assert expected[:, 1].std() > 0  # it learned something: probabilities vary by row
    at_mean = test.copy()
    at_mean["rsi"] = X.iloc[:WINDOW]["rsi"].mean()
    np.testing.assert_allclose(model.predict_proba(test.drop(columns=["rsi"])), model.predict_proba(at_mean))


def test_one_absurd_input_moves_a_prediction_by_a_bounded_amount(btc_dataset):
    X, y = btc_dataset
    model = fit_batch_model(X.iloc[:WINDOW], y.iloc[:WINDOW])
    row = X.iloc[[WINDOW]].copy()
    clipped = row.copy()
    clipped["rsi"] = X.iloc[:WINDOW]["rsi"].mean() + CLIP * X.iloc[:WINDOW]["rsi"].std()
    row["rsi"] = 500.0
    assert model.predict_proba(row)[0, 1] == pytest.approx(model.predict_proba(clipped)[0, 1])


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


def test_the_candidates_and_the_rows_a_fit_needs_follow_the_configuration():
    assert candidates(90) == ("7d", "14d", "30d", "90d", "90d trees")
    assert candidates(365)[-3:] == ("180d", "365d", "365d trees") and candidates(7) == ("7d", "7d trees")
    assert min_rows("1h") == 100 and min_rows("1d") == 30  # 1d: a 90-day window (90 rows) can be fitted


def _rows(X, y, symbol="S", start=0):
    t = start + HOUR * np.arange(len(y))
    return Rows(symbol, X, y, t, t + HOUR)


def test_the_live_record_chooses_the_window_that_predicted_the_later_bars_best():
    """Before every window has MIN_SCORED scored rows the longest serves; then the one whose earlier fits
    predicted the bars after them best -- here the market turned, and only the short window saw it."""
    rng = np.random.default_rng(1)
    n_old, n_new = 24 * 80, 24 * 10
    X = rng.normal(size=(n_old + n_new, 3))
    signal = np.r_[X[:n_old, 0], -X[n_old:, 0]]  # the relation flipped 10 days ago
    y = (signal + rng.normal(size=len(signal)) > 0).astype(int)
    part = _rows(X, y)
    fits = fit_candidates([part], ("7d", "90d"), min_rows("1h"))
    track = Track.for_interval("1h")
    assert track.choose(tuple(fits)) is None
    first = decide(track, fits, [part], 20)
    assert first.choice == "90d" and first.evidence == "hold-out"
    later = rng.normal(size=(MIN_SCORED, 3))
    y_later = (-later[:, 0] + rng.normal(size=MIN_SCORED) > 0).astype(int)
    after = _rows(np.vstack([X, later]), np.r_[y, y_later])
    scored = score_previous(track, BatchModel(("a", "b", "c"), fits, "90d"), [after], {"S": int(part.open_time[-1])},
                            float(y.mean()))
    assert scored == MIN_SCORED and track.through == int(after.open_time[-1])
    decision = decide(track, fit_candidates([after], ("7d", "90d"), min_rows("1h")), [after], 20)
    assert decision.choice == "7d" and decision.evidence == "live" and decision.metrics["beats_baseline"]
    assert track.summary("7d")["log_loss"] < track.summary("90d")["log_loss"]
    assert Track.from_dict(track.to_dict(), "1h").to_dict() == track.to_dict()
    assert Track.from_dict(track.to_dict(), "4h").sums == {}  # another bar length: a fresh record


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
    """A background-callback retrain is forked off a server worker whose scheduler thread may be fitting trees at
    that moment (the outcome warm-up): the child must not wait for the parent's fit lock (it hung forever)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, len(FEATURE_COLUMNS)))
    y = (X[:, 0] > 0).astype(int)
    fitting, release = threading.Event(), threading.Event()

    def parents_fit():  # holds the fit lock as a running fit does, until the test has forked
        with trees._FIT_LOCK:
            fitting.set()
            release.wait(60)
    holder = threading.Thread(target=parents_fit)
    holder.start()
    fitting.wait(10)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            p = trees.fit_trees(X, y).p_up(X[:1])
            os.write(write, b"fitted" if p.shape == (1,) else b"wrong")
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


def test_flat_trees_match_sklearn_including_missing_values(btc_dataset):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = btc_dataset
    x = X.to_numpy().copy()
    x[::5, 3] = np.nan  # missing values follow each node's learned NaN direction
    est = HistGradientBoostingClassifier(**trees.HGB_PARAMS).fit(x[:WINDOW], y.to_numpy()[:WINDOW])
    np.testing.assert_allclose(trees.FlatTrees.from_estimator(est).p_up(x[WINDOW:WINDOW + 3000]),
                               est.predict_proba(x[WINDOW:WINDOW + 3000])[:, 1], rtol=0, atol=1e-12)

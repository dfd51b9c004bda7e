"""The outcome model's pure parts: the learner, the threshold choice, its walk over simulated trades."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine.config import validate
from engine.errors import ValidationError
from engine.outcome import INPUT_NAMES, MIN_SAMPLES, OutcomeLearner, choose_threshold, outcome_inputs
from engine.outcome.threshold import MIN_SCORED, MIN_TRADES, NO_TRADE
from engine.outcome.walk import outcome_walk

CONFIG = validate({"outcome_threshold": 0.45})


def stream(n, seed=0, rule=True):
    """Inputs where a trade wins when the first feature is high (if ``rule``), else at a 30 % base rate."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, len(INPUT_NAMES)))
    y = (Z[:, 0] > 0.5).astype(int) if rule else (rng.random(n) < 0.3).astype(int)
    return Z, y


def test_inputs_sign_the_features_by_side_and_carry_the_edge():
    features = np.arange(23, dtype=float).reshape(1, 23)
    z = outcome_inputs(features, np.array([0.3]), np.array([-1]))[0]
    assert len(z) == len(INPUT_NAMES) == 48
    np.testing.assert_array_equal(z[:23], features[0])
    np.testing.assert_array_equal(z[23:46], -features[0])
    assert (z[46], z[47]) == (-1.0, pytest.approx(0.4))  # a SHORT on P(up) 0.3: edge +0.4 in its direction


def test_learner_starts_at_the_base_rate_scores_before_learning_and_learns_a_rule():
    Z, y = stream(3000)
    ol = OutcomeLearner()
    assert ol.score_then_learn(Z[:50], y[:50]) is None and not ol.ready
    p = ol.predict_proba(Z[50:60])
    np.testing.assert_allclose(p, ol.base_rate(), atol=0.05)  # one batch learned: still close to the base rate
    before = ol.predict_proba(Z[50:100])
    np.testing.assert_array_equal(ol.score_then_learn(Z[50:100], y[50:100]), before)  # scored, then learned
    assert ol.ready == (ol.samples_seen >= MIN_SAMPLES) and ol.samples_seen == 100
    for start in range(100, 3000, 20):
        ol.score_then_learn(Z[start:start + 20], y[start:start + 20])
    summary = ol.summary(500)
    recent = summary["recent"]
    assert recent["log_loss"] < recent["baseline_log_loss"] and not summary["excluded"]
    assert summary["scored"] == 2950 and summary["win_share"] == pytest.approx(y.mean())
    restored = pickle.loads(pickle.dumps(ol))
    np.testing.assert_array_equal(restored.predict_proba(Z[:5]), ol.predict_proba(Z[:5]))
    with pytest.raises(ValidationError) as err:
        ol.score_then_learn(Z[:3, :10], y[:3])
    assert err.value.field == "inputs"
    with pytest.raises(ValidationError) as err:
        ol.score_then_learn(Z[:3], np.array([0, 1, 2]))
    assert err.value.field == "target"


def test_a_learner_worse_than_the_base_rate_is_excluded_from_gating():
    Z, y = stream(2000, rule=True)
    ol = OutcomeLearner(eta=0.05)
    for start in range(0, 1200, 20):
        ol.score_then_learn(Z[start:start + 20], y[start:start + 20])
    assert ol.health(300)[1] is None
    flipped = 1 - y  # the rule turns around: the learned weights now point the wrong way
    for start in range(1200, 1500, 20):
        ol.score_then_learn(Z[start:start + 20], flipped[start:start + 20])
    recent, reason = ol.health(300)
    assert recent["log_loss"] > recent["baseline_log_loss"]
    assert reason.startswith("outcome model: log loss") and "no trade until it recovers" in reason


def test_threshold_is_the_past_best_among_thresholds_with_enough_trades():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.2, 0.7, 400)
    returns = np.where(p > 0.55, 1.0, -1.0)  # only the confident ones paid
    threshold, how = choose_threshold(p, returns, fallback=0.45)
    assert threshold == pytest.approx(0.56, abs=0.011) and "chosen on the last 400" in how
    few = np.r_[np.full(MIN_TRADES - 1, 0.9), np.full(200, 0.3)]
    paid = np.r_[np.full(MIN_TRADES - 1, 5.0), np.full(200, -1.0)]
    assert choose_threshold(few, paid, fallback=0.45)[0] == NO_TRADE  # too few above 0.9; all of them lose
    assert choose_threshold(p[:MIN_SCORED - 1], returns[:MIN_SCORED - 1], 0.45)[0] == 0.45
    assert choose_threshold(p, returns, 0.45, auto=False) == (0.45, "outcome_threshold (configured)")
    nan_first = np.r_[np.full(50, np.nan), p]  # scored before the model was trained: ignored
    assert choose_threshold(nan_first, np.r_[np.zeros(50), returns], 0.45) == choose_threshold(p, returns, 0.45)


def test_walk_learns_each_outcome_only_once_its_trade_closed_and_gates_the_losing_looking_ones():
    """Signals whose first feature is low lose: after warming up, the gate blocks them and passes the others."""
    rng = np.random.default_rng(4)
    n = 1500
    bars = np.sort(rng.choice(np.arange(10, 60_000), n, replace=False))
    features = rng.normal(size=(60_100, 23))
    wins = features[bars, 0] > 0
    signals = {"bar": bars, "side": rng.choice([1, -1], n), "p_up": rng.uniform(0.56, 0.7, n),
               "exit_bar": bars + rng.integers(1, 30, n), "pnl": np.where(wins, 10.0, -10.0),
               "return_pct": np.where(wins, 1.0, -1.0)}
    signals["exit_bar"][-3:] = -1  # still open when the data ends: never learned
    walk = outcome_walk(signals, features, CONFIG)
    judged = np.isfinite(walk["p_win"])
    assert not judged[:MIN_SAMPLES // 2].any() and judged[-500:].all()
    late = np.arange(n) >= 1000
    gate = (walk["p_win"] >= walk["threshold"]) & ~walk["excluded"]
    assert gate[late & wins].mean() > 0.8 and gate[late & ~wins].mean() < 0.15
    assert walk["threshold"][-1] != CONFIG["outcome_threshold"]  # chosen on the scored outcomes
    assert np.isnan(walk["scored_p"][-3:]).all() and walk["learner"].samples_seen == n - 3
    # the judgement of signal k uses exactly the outcomes closed by its bar, learned one exit bar at a time
    k = 700
    replay = OutcomeLearner()
    inputs = outcome_inputs(features[bars], signals["p_up"], signals["side"])
    exits = signals["exit_bar"]
    for exit_bar in np.unique(exits[(exits >= 0) & (exits <= bars[k])]):
        group = np.flatnonzero(exits == exit_bar)
        replay.score_then_learn(inputs[group], (signals["pnl"][group] > 0).astype(int))
    assert walk["p_win"][k] == pytest.approx(replay.predict_proba(inputs[k:k + 1])[0], rel=1e-12)

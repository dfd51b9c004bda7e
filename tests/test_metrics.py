"""Scores against hand-computed values and sklearn; baselines cannot peek at future labels."""
import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from engine import metrics

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
P = np.array([0.9, 0.2, 0.4, 0.7, 0.6, 0.1, 0.5, 0.3])


def test_hand_computed_values():
    # predictions (p >= 0.5): 1 0 0 1 1 0 1 0 -> correct: y y n y n y y y = 6/8
    acc, se = metrics.accuracy(Y, metrics.to_prediction(P))
    assert acc == 0.75 and se == pytest.approx(math.sqrt(0.75 * 0.25 / 8))
    # recall up 3/4, recall down 3/4
    bal, bse = metrics.balanced_accuracy(Y, metrics.to_prediction(P))
    assert bal == 0.75 and bse == pytest.approx(math.sqrt(2 * 0.75 * 0.25 / 4) / 2)
    b, _ = metrics.brier([1, 0], [0.8, 0.4])
    assert b == pytest.approx((0.04 + 0.16) / 2)
    ll, _ = metrics.log_loss([1, 0], [0.8, 0.4])
    assert ll == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_matches_sklearn_including_extreme_probabilities():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = rng.random(500)
    p[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]
    pred = metrics.to_prediction(p)
    assert metrics.accuracy(y, pred)[0] == pytest.approx(accuracy_score(y, pred))
    assert metrics.balanced_accuracy(y, pred)[0] == pytest.approx(balanced_accuracy_score(y, pred))
    assert metrics.log_loss(y, p)[0] == pytest.approx(sk_log_loss(y, p, labels=[0, 1]))
    assert metrics.brier(y, p)[0] == pytest.approx(brier_score_loss(y, p))


def test_standard_errors_shrink_with_n_and_match_the_sample_formula():
    y = np.tile([1, 0, 1, 0], 25)
    p = np.tile([0.8, 0.3, 0.4, 0.6], 25)
    losses = (p - y) ** 2
    assert metrics.brier(y, p)[1] == pytest.approx(losses.std(ddof=1) / 10)
    small = metrics.accuracy(y[:20], metrics.to_prediction(p[:20]))[1]
    large = metrics.accuracy(y, metrics.to_prediction(p))[1]
    assert large == pytest.approx(small / math.sqrt(5))


def test_summarize_skips_missing_rows_and_reports_none_when_empty():
    s = metrics.summarize([1, 0, np.nan, 1], [0.7, np.nan, 0.2, 0.1])
    assert s["n"] == 2 and s["accuracy"] == 0.5
    empty = metrics.summarize([], [])
    assert empty["n"] == 0 and empty["accuracy"] is None and empty["log_loss_se"] is None


@pytest.mark.parametrize("horizon", [1, 3])
def test_baselines_do_not_peek(horizon):
    rng = np.random.default_rng(horizon)
    y = rng.integers(0, 2, 300).astype(float)
    before = metrics.baseline_probabilities(y, horizon)
    t = 200
    changed = y.copy()
    changed[t - horizon + 1:] = 1 - changed[t - horizon + 1:]  # labels unknown at bar t
    after = metrics.baseline_probabilities(changed, horizon)
    for name in metrics.BASELINES:
        np.testing.assert_array_equal(before[name][: t + 1], after[name][: t + 1])
    # and the very next bar does see the first changed label
    assert before["persistence"][t + 1] != after["persistence"][t + 1]
    assert before["majority_class"][t + 1] != after["majority_class"][t + 1]


def test_baseline_values():
    y = np.array([1, 1, 1, 0, 0, np.nan])
    b = metrics.baseline_probabilities(y, 1)
    np.testing.assert_allclose(b["majority_class"], [1 / 2, 2 / 3, 3 / 4, 4 / 5, 4 / 6, 4 / 7])
    np.testing.assert_array_equal(b["persistence"], [0.5, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(b["always_up"], np.ones(6))
    np.testing.assert_array_equal(b["reversal"], [0.5, 0, 0, 0, 1, 1])


def test_reversal_scores_on_real_hourly_btc(btc_candles):
    """Hourly BTC mean-reverts: the reversal baseline beats a coin flip on the bundled 2017-2022 bars."""
    from engine.features import make_labels
    y = make_labels(btc_candles["close"], 1).to_numpy()
    s = metrics.summarize(y, metrics.baseline_probabilities(y, 1)["reversal"])
    assert s["accuracy"] - 2 * s["accuracy_se"] > 0.5, s

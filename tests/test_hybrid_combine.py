"""The pure weighting rules (engine.weighting): fixed with its degradation cases, adaptive, exclusion."""
import numpy as np
import pytest

from engine import weighting
from engine.hybrid import majority_vote
from engine.metrics import sample_log_loss

W = {"batch": 0.7, "online": 0.3}
NAN = np.nan


def shares(row) -> dict:
    return {v: w for v, w in zip(weighting.VOTERS, row) if w}


def test_fixed_full_house_weights_batch_07_and_splits_online_share():
    P = np.array([[0.2, 0.5, 0.8, 0.9]])
    w = weighting.fixed(P, W)
    assert shares(w[0]) == pytest.approx({"sgd": 0.1, "passive_aggressive": 0.1, "mlp_online": 0.1, "batch": 0.7})
    assert weighting.combine(P, w)[0] == pytest.approx(0.1 * (0.2 + 0.5 + 0.8) + 0.7 * 0.9)


def test_fixed_weights_are_configurable_and_missing_parts_renormalise():
    assert shares(weighting.fixed(np.array([[0.2, NAN, NAN, 0.9]]), {"batch": 0.4, "online": 0.6})[0]) == \
        pytest.approx({"sgd": 0.6, "batch": 0.4})
    untrained = shares(weighting.fixed(np.array([[0.2, NAN, 0.6, 0.5]]), W)[0])
    assert "passive_aggressive" not in untrained and untrained["sgd"] == pytest.approx(0.15)
    online_only = weighting.fixed(np.array([[0.2, 0.4, 0.9, NAN]]), W)
    assert shares(online_only[0]) == pytest.approx(dict.fromkeys(("sgd", "passive_aggressive", "mlp_online"), 1 / 3))
    assert shares(weighting.fixed(np.array([[NAN, NAN, NAN, 0.3]]), W)[0]) == {"batch": 1.0}


def test_fixed_zero_weight_for_the_only_part_that_answered_and_exclusion_falls_back_to_the_baseline():
    assert shares(weighting.fixed(np.array([[NAN, NAN, NAN, 0.3]]), {"batch": 0.0, "online": 1.0})[0]) == {"batch": 1.0}
    everyone_out = weighting.fixed(np.array([[0.2, 0.4, 0.9, 0.6]]), W, np.ones((1, 4), bool))
    assert shares(everyone_out[0]) == {"abstain": 1.0}
    assert weighting.combine(np.array([[0.2, 0.4, 0.9, 0.6]]), everyone_out)[0] == 0.5


def test_a_model_worse_than_the_baseline_over_its_window_is_excluded_until_it_recovers():
    n = 600
    y = np.tile([1.0, 0.0], n // 2)
    wrong = np.where(y == 1, 0.3, 0.7)  # confidently wrong for the first 300 bars, then right
    p = np.where(np.arange(n) < 300, wrong, 1 - wrong)
    P = np.column_stack([p, np.full(n, 0.5), np.full(n, NAN), np.full(n, 0.5)])
    out = weighting.excluded(P, y, np.full(n, 0.5), window=200, min_judged=100)
    assert not out[:100, 0].any() and out[100:300, 0].all()  # judged once 100 bars are scored
    assert out[350, 0] and not out[-1, 0]  # the window still holds the bad bars, then no longer
    assert not out[:, 1:].any()  # as good as the baseline is not worse; no answer is never judged


def test_adaptive_weights_follow_recent_log_loss_and_abstain_takes_over_where_nothing_is_learnt():
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.5).astype(float)
    good = np.where(y == 1, 0.6, 0.4)  # sees the future: 100 % right
    noise = 0.5 + rng.normal(0, 0.08, n)  # no information at all
    P = np.column_stack([noise, good, noise[::-1], noise])
    w = weighting.adaptive(P, y, weighting.priors(W), halflife=720)
    assert w[0] == pytest.approx(weighting.priors(W))  # no evidence yet: the priors
    assert w[-1, 1] > 0.99  # the model that predicts well takes over
    random = weighting.adaptive(np.column_stack([noise] * 4), y, weighting.priors(W), 720)
    assert random[-1, 4] > 0.8  # nothing to learn: abstain
    p = weighting.combine(np.column_stack([noise] * 4), random)
    assert sample_log_loss(y, p).mean() < sample_log_loss(y, noise).mean()
    assert sample_log_loss(y, p).mean() - np.log(2) < 0.001  # hardly worse than abstaining (log 2)


def test_adaptive_weights_switch_when_the_better_model_changes():
    n = 4000
    y = np.tile([1.0, 0.0], n // 2)
    right, wrong = np.where(y == 1, 0.6, 0.4), np.where(y == 1, 0.4, 0.6)
    first = np.where(np.arange(n) < n // 2, right, wrong)
    P = np.column_stack([first, 1 - first + 0 * y, np.full(n, NAN), np.full(n, NAN)])
    P[:, 1] = np.where(np.arange(n) < n // 2, wrong, right)
    w = weighting.adaptive(P, y, weighting.priors(W), halflife=100)
    assert w[n // 2 - 1, 0] > 0.9 and w[n // 2 + 200, 1] > 0.9  # within two half-lives of the switch
    assert (w[:, 2:4] == 0).all()  # never answered: never weighted


def test_combine_works_on_arrays_elementwise():
    P = np.array([[0.1, NAN, 0.3, 0.6], [0.9, NAN, 0.5, 0.2]])
    w = weighting.fixed(P, W)
    expected = [weighting.combine(P[i:i + 1], w[i:i + 1])[0] for i in range(2)]
    np.testing.assert_allclose(weighting.combine(P, w), expected)


def test_majority_vote():
    assert majority_vote([1, 0, 1]) == 1 and majority_vote([0, 0, 1]) == 0
    assert majority_vote([0, 1]) == 1 and majority_vote([]) is None

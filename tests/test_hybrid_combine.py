"""The pure weighting rule and its degradation cases."""
import numpy as np
import pytest

from engine.hybrid import combine, majority_vote

W = {"batch": 0.7, "online": 0.3}


def test_full_house_weights_batch_07_and_splits_online_share():
    r = combine({"sgd": 0.2, "passive_aggressive": 0.5, "mlp_online": 0.8}, 0.9, W)
    assert r["status"] == "ok" and r["notes"] == []
    assert r["weights"] == pytest.approx({"sgd": 0.1, "passive_aggressive": 0.1, "mlp_online": 0.1, "batch": 0.7})
    assert r["probability"] == pytest.approx(0.1 * (0.2 + 0.5 + 0.8) + 0.7 * 0.9)


def test_configurable_weights():
    r = combine({"sgd": 0.2}, 0.9, {"batch": 0.4, "online": 0.6})
    assert r["probability"] == pytest.approx(0.6 * 0.2 + 0.4 * 0.9)


def test_untrained_online_model_is_left_out_and_said():
    r = combine({"sgd": 0.2, "passive_aggressive": None, "mlp_online": 0.6}, 0.5, W)
    assert r["status"] == "degraded"
    assert "passive_aggressive" not in r["weights"]
    assert r["weights"]["sgd"] == pytest.approx(0.15)
    assert any("passive_aggressive" in n for n in r["notes"])


def test_no_batch_model_means_online_only():
    r = combine({"sgd": 0.2, "passive_aggressive": 0.4, "mlp_online": 0.9}, None, W)
    assert r["status"] == "degraded" and "batch" not in r["weights"]
    assert r["probability"] == pytest.approx(0.5)
    assert any("batch" in n for n in r["notes"])


def test_batch_only_and_nothing_trained():
    r = combine(dict.fromkeys(("sgd", "passive_aggressive", "mlp_online")), 0.3, W)
    assert r["probability"] == pytest.approx(0.3) and r["status"] == "degraded"
    none = combine(dict.fromkeys(("sgd", "passive_aggressive", "mlp_online")), None, W)
    assert none["probability"] is None and none["status"] == "not_ready" and none["notes"]


def test_zero_weight_for_the_only_part_that_answered():
    r = combine({"sgd": None}, 0.3, {"batch": 0.0, "online": 1.0})
    assert r["probability"] == pytest.approx(0.3) and r["status"] == "degraded"


def test_works_on_arrays_elementwise():
    online = {"sgd": np.array([0.1, 0.9]), "mlp_online": np.array([0.3, 0.5])}
    r = combine(online, np.array([0.6, 0.2]), W)
    expected = [combine({k: v[i] for k, v in online.items()}, [0.6, 0.2][i], W)["probability"] for i in range(2)]
    np.testing.assert_allclose(r["probability"], expected)


def test_majority_vote():
    assert majority_vote([1, 0, 1]) == 1 and majority_vote([0, 0, 1]) == 0
    assert majority_vote([0, 1]) == 1 and majority_vote([]) is None

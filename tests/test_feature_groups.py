"""Model inputs beyond the 23 indicators (engine.features.groups/inputs/custom): causal, aligned, checked at start;
a change of inputs restarts the online models on the buffer; absurd samples are refused, and one that gets
through anyway cannot knock a model out."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.config import ConfigError, ConfigStore
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.features.custom import load
from engine.features.groups import GROUPS
from engine.features.inputs import OPTIONAL_GROUPS, InputSpec, compute_inputs, latest_inputs, reserved_names, spec
from engine.online.learners import OnlineLearners
from engine.paths import PROJECT_ROOT
from tests.system_fixtures import make_client, make_system

EXAMPLE = str(PROJECT_ROOT / "docs" / "examples" / "my_features.py")
EVERY = InputSpec(OPTIONAL_GROUPS)


@pytest.fixture(scope="module")
def btc(btc_candles):
    return btc_candles.iloc[30000:31500].reset_index(drop=True)


def test_every_group_uses_past_bars_only_and_the_latest_row_is_the_full_history_one(btc):
    full = compute_inputs(btc, EVERY, reference=btc)
    assert list(full.columns) == list(EVERY.names) and len(EVERY.names) == 23 + sum(map(len, GROUPS.values()))
    part = compute_inputs(btc.iloc[:900], EVERY, reference=btc)  # the reference may run ahead: only its past counts
    pd.testing.assert_frame_equal(part, full.iloc[:900])
    assert full.iloc[:EVERY.warmup].isna().all().all() and np.isfinite(full.iloc[EVERY.warmup:].to_numpy()).all()
    open_time, row = latest_inputs(btc.iloc[:1200], EVERY, reference=btc)
    assert open_time == int(btc.open_time[1199])
    assert row == pytest.approx(full.iloc[1199].to_dict(), rel=1e-9, abs=1e-12)


def test_group_values_mean_what_they_say(btc):
    f = compute_inputs(btc, EVERY, reference=btc).iloc[EVERY.warmup:]
    assert f.taker_buy_share.between(-0.5, 0.5).all() and f.hour_sin.between(-1, 1).all()
    hours = (btc.open_time.iloc[EVERY.warmup:] // 3_600_000 % 24).to_numpy()
    np.testing.assert_allclose(f.hour_sin.to_numpy(), np.sin(2 * np.pi * hours / 24))
    np.testing.assert_allclose(f.ref_zret_1, f.zret_1)  # its own reference: the same returns
    assert abs(f.zret_1.std() - 1) < 0.3  # volatility-scaled: about one standard deviation
    calm = btc.assign(trades=100, quote_volume=5.0)
    g = compute_inputs(calm, InputSpec(("activity",))).iloc[60:]
    assert (g.trades_ratio == 1).all() and (g.quote_volume_ratio == 1).all()


def test_the_cross_group_is_aligned_by_open_time_and_missing_where_the_reference_has_no_bar(btc):
    reference = btc.iloc[::2].reset_index(drop=True)  # every other hour
    f = compute_inputs(btc, InputSpec(("cross",)), reference=reference)
    assert f.ref_zret_1.iloc[200::2].notna().all() and f.ref_zret_1.iloc[201::2].isna().all()
    none = compute_inputs(btc, InputSpec(("cross",)), reference=None)
    assert none.ref_zret_1.isna().all() and np.isfinite(none[list(FEATURE_COLUMNS)].iloc[60:].to_numpy()).all()


def write_module(tmp_path, body: str) -> str:
    path = tmp_path / "custom_inputs.py"
    path.write_text(body)
    return str(path)


BAD_MODULES = [
    ("NAMES = ()\ndef compute(c): return {}", "a tuple of 1-20 feature names"),
    ("NAMES = ('Bad Name',)\ndef compute(c): return {}", "lower-case identifiers"),
    ("NAMES = ('rsi',)\ndef compute(c): return {'rsi': c.close}", "must be new and unique; rsi"),
    ("NAMES = ('x',)\ndef compute(c): raise RuntimeError('boom')", "RuntimeError: boom"),
    ("NAMES = ('x',)\ndef compute(c): return {'x': [1.0]}", "has shape (1,)"),
    ("NAMES = ('x',)\ndef compute(c): return {'x': c.close * float('inf')}", "missing or infinite values"),
    ("NAMES = ('x',)\ndef compute(c): return {'x': c.close.shift(-1) / c.close}", "looks ahead"),
    ("import nonexisting_package_xyz\nNAMES = ('x',)", "cannot import"),
]


@pytest.mark.parametrize("body, message", BAD_MODULES)
def test_an_operators_module_is_checked_before_it_is_used(tmp_path, body, message):
    with pytest.raises(ValidationError) as err:
        load(write_module(tmp_path, body), reserved_names())
    assert err.value.field == "feature_module" and message in err.value.message


def test_an_operators_module_joins_the_inputs_and_a_bad_one_stops_the_start(tmp_path, btc):
    group = load(EXAMPLE, reserved_names())
    inputs = spec({"feature_groups": ["returns"], "feature_module": EXAMPLE})
    assert inputs.names[-2:] == group.names == ("range_24", "close_in_range_24")
    values = compute_inputs(btc, inputs).iloc[inputs.warmup + 24:]
    assert values.close_in_range_24.between(0, 1).all()
    with pytest.raises(ConfigError) as err:  # at start-up, from the environment
        ConfigStore(tmp_path, {"HLS_FEATURE_MODULE": write_module(tmp_path, BAD_MODULES[-2][0])})
    assert err.value.field == "feature_module" and "looks ahead" in err.value.message


def test_the_api_and_the_page_may_not_name_a_module(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system)
    resp = client.post("/ml/hybrid/config", json={"feature_module": EXAMPLE})
    assert resp.status_code == 400 and resp.get_json()["field"] == "feature_module"
    assert "environment" in resp.get_json()["message"] and system.config.current()["feature_module"] == ""
    ok = client.post("/ml/hybrid/config", json={"feature_groups": ["returns", "flow"]})
    assert ok.status_code == 200 and system.config.current()["feature_groups"] == ["returns", "flow"]
    bad = client.post("/ml/hybrid/config", json={"feature_groups": ["returns", "astrology"]})
    assert bad.status_code == 400 and "unknown group 'astrology'" in bad.get_json()["message"]


def test_a_change_of_inputs_restarts_the_online_models_on_the_buffer_and_says_so(data_dir):
    system = make_system(data_dir, collect=True)
    assert system.run_job("online_update", "cli")["outcome"] == "ok"
    before = system.online.stats()
    assert before["inputs"] == list(spec(system.config.current()).names)
    system.config.update({"feature_groups": ["returns", "flow", "calendar"]})
    system.pipeline.add_samples("BTCUSDT", 5, system.config.current())  # new samples carry the new inputs
    system.db.connect().execute("UPDATE online_samples SET learned_at = NULL WHERE id IN "
                                "(SELECT id FROM online_samples ORDER BY id DESC LIMIT 5)")
    run = system.run_job("online_update", "cli")
    assert run["outcome"] == "ok", run
    after = system.online.stats()
    assert after["inputs"][-4:] == list(GROUPS["calendar"])
    [event] = [e for e in after["drift_events"] if e["model"] == "all"]
    assert "inputs changed (added hour_cos, hour_sin, weekday_cos, weekday_sin)" in event["message"]
    assert "restarted on the" in event["message"]
    assert all(m["samples_seen"] > 100 for m in after["models"].values())  # warmed on the buffer, not from zero
    prediction = system.predict("BTCUSDT")
    assert prediction["status"] != "not_ready" and set(GROUPS["calendar"]) <= set(prediction["features"])


def test_an_absurd_sample_is_refused_with_the_range_and_changes_nothing(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system)
    features = {name: 0.01 for name in FEATURE_COLUMNS} | {"williams_r": -50.0}
    for field, value, says in (("rsi", 500, "between 0 and 100"), ("return_1", 3.0, "between -0.9 and 2"),
                               ("zret_4", 1e9, "between -50 and 50"), ("made_up", 1.0, "unknown feature")):
        resp = client.post("/ml/online/add_training_data",
                           json={"features": features | {field: value}, "target": 1, "symbol": "BTCUSDT"})
        body = resp.get_json()
        assert resp.status_code == 400 and body["field"] == f"features.{field}" and says in body["message"], body
    assert system.online.buffer.size() == 0
    good = client.post("/ml/online/add_training_data",
                       json={"features": features | {"zret_4": 1.5}, "target": 1, "symbol": "BTCUSDT"})
    assert good.status_code in (200, 201) and system.online.buffer.size() == 1
    [row] = system.db.query("SELECT features, inputs FROM online_samples")
    assert row["inputs"].endswith("zret_4") and json.loads(row["features"])[-1] == 1.5


def test_one_absurd_sample_cannot_knock_a_learner_out():
    """The scaler winsorises what it learns from and the models see inputs clipped to 4 standard deviations:
    a sample with rsi = 500000 (had it got past validation) moves the models by one bounded step."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 23))
    y = (X[:, 8] + 0.5 * rng.normal(size=3000) > 0).astype(int)
    clean, hit = OnlineLearners(), OnlineLearners()
    for start in range(0, 2000, 50):
        clean.score_then_learn(X[start:start + 50], y[start:start + 50])
        hit.score_then_learn(X[start:start + 50], y[start:start + 50])
    absurd = X[2000:2001].copy()
    absurd[0, 8] = 500_000.0
    hit.score_then_learn(absurd, np.array([0]))
    test_X, test_y = X[2001:], y[2001:]
    for name in ("sgd", "passive_aggressive", "mlp_online"):
        ours = np.mean((hit.predict_proba(test_X)[name] >= 0.5) == test_y)
        theirs = np.mean((clean.predict_proba(test_X)[name] >= 0.5) == test_y)
        assert ours > 0.75 and ours > theirs - 0.02, (name, ours, theirs)
    assert abs(hit.scaler.mean_[8] - clean.scaler.mean_[8]) < 0.1  # the scale the models rely on held

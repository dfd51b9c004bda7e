"""REST API through the Flask test client: shapes, validation (4xx naming the field, nothing changed), OpenAPI."""
from __future__ import annotations

import json

import pytest

from api import NOT_FOUND_RULE
from api.routes import MAX_BODY_BYTES
from engine.features import FEATURE_COLUMNS
from tests.system_fixtures import make_client, make_system


@pytest.fixture(scope="module")
def ready(tmp_path_factory):
    """A system with replayed candles and a learned online update, shared by the read-mostly tests."""
    system = make_system(tmp_path_factory.mktemp("api") / "data", collect=True)
    return system, make_client(system)[1]


@pytest.fixture
def fresh(data_dir):
    system = make_system(data_dir)
    return system, make_client(system)[1]


def features(**over):
    return {name: 0.01 for name in FEATURE_COLUMNS} | {"rsi": 55.0, "stoch_k": 40.0, "stoch_d": 42.0,
                                                      "williams_r": -60.0, "volume_ratio": 1.1} | over


def assert_error(resp, status, field):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["field"] == field and field in body["error"], body


def test_status_has_the_documented_shape(ready):
    _, client = ready
    s = client.get("/ml/hybrid/status").get_json()
    assert {"running", "time", "batch_model", "data_collection", "last_retrain", "next_runs", "jobs", "buffer",
            "alerts", "config"} <= set(s)
    assert set(s["batch_model"]) == {"loaded", "version", "trained_at", "age_s", "metrics", "choice", "evidence",
                                     "serving", "note"}
    assert s["data_collection"]["source"] == "replay" and s["data_collection"]["replaying"] is True
    assert s["data_collection"]["symbols"]["BTCUSDT"]["rows"] > 0
    assert set(s["next_runs"]) == {"collect", "online_update", "batch_retrain", "evaluate", "cleanup"}
    assert s["jobs"]["collect"]["outcome"] == "ok" and s["jobs"]["collect"]["trigger"] == "cli"
    assert s["buffer"]["pending"] > 0 and s["buffer"]["max"] == s["config"]["buffer_size"]
    assert all({"level", "kind", "message", "time"} <= set(a) for a in s["alerts"])


def test_predict_is_case_insensitive_and_rejects_unknown_symbols(ready):
    _, client = ready
    p = client.get("/ml/hybrid/predict?symbol=btcusdt").get_json()
    assert p["symbol"] == "BTCUSDT" and p["open_time"] is not None
    assert {"ensemble_prediction", "ensemble_confidence", "batch_prediction", "individual_predictions",
            "probabilities", "online_majority", "model_versions", "status", "notes"} <= set(p)
    assert_error(client.get("/ml/hybrid/predict?symbol=dogeusdt"), 400, "symbol")
    assert_error(client.get("/ml/hybrid/predictions"), 404, "path")
    assert_error(client.delete("/ml/hybrid/predict"), 404, "path")
    assert_error(client.get("/ml/hybrid/predict"), 400, "symbol")


def test_online_update_learns_and_reports_per_model_results(ready):
    system, client = ready
    pending = system.online.pending_count()
    assert_error(client.post("/ml/online/update?batch_size=abc"), 400, "batch_size")
    assert_error(client.post("/ml/online/update?batch_size=0"), 400, "batch_size")
    assert system.online.pending_count() == pending
    resp = client.post("/ml/online/update?batch_size=50")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "updated" and body["samples"] == pending
    assert set(body["update_results"]) == {"sgd", "passive_aggressive", "mlp_online"}
    assert all(0 <= v <= 1 for v in body["update_results"].values())
    again = client.post("/ml/online/update").get_json()  # nothing new: nothing to learn
    assert again["status"] == "skipped" and again["outcome"] == "skipped" and again["reason"] == "no new samples waiting"
    runs = client.get("/ml/jobs?job=online_update").get_json()["runs"]
    assert [(r["trigger"], r["outcome"]) for r in runs[:2]] == [("api", "skipped"), ("api", "ok")]
    assert_error(client.get("/ml/jobs?job=nope"), 400, "job")
    assert_error(client.get("/ml/jobs?outcome=great"), 400, "outcome")
    page = client.get("/ml/jobs?job=online_update&limit=1&offset=1").get_json()
    assert page["total"] >= 2 and [(r["trigger"], r["outcome"]) for r in page["runs"]] == [("api", "ok")]
    assert client.get("/ml/online/stats").get_json()["models"]["sgd"]["samples_seen"] == pending


def test_add_training_data_validates_every_field_and_changes_nothing_on_error(ready):
    system, client = ready
    before = system.online.pending_count()
    good = {"features": features(), "target": 1, "symbol": "ethusdt"}
    bad_cases = [
        ({**good, "features": {k: v for k, v in features().items() if k != "rsi"}}, "rsi"),
        ({**good, "target": 2}, "target"),
        ({**good, "symbol": "NOPEUSDT"}, "symbol"),
        ({**good, "symbol": 5}, "symbol"),
        ({**good, "features": [0.1] * 23}, "features"),
        ({k: v for k, v in good.items() if k != "target"}, "target"),
        ({**good, "features": features(rsi="high")}, "rsi"),
        ({**good, "extra": 1}, "extra"),
    ]
    for body, field in bad_cases:
        resp = client.post("/ml/online/add_training_data", json=body)
        assert resp.status_code == 400 and field in resp.get_json()["field"], (field, resp.get_json())
    nan_body = json.dumps(good).replace('"rsi": 55.0', '"rsi": NaN')
    assert_error(client.post("/ml/online/add_training_data", data=nan_body, content_type="application/json"),
                 400, "features.rsi")
    inf_body = json.dumps(good).replace('"rsi": 55.0', '"rsi": 1e999')
    assert_error(client.post("/ml/online/add_training_data", data=inf_body, content_type="application/json"),
                 400, "features.rsi")
    assert system.online.pending_count() == before
    # every field at fault is named at once, target first, in words (no Python type names)
    body = client.post("/ml/online/add_training_data",
                       json={"features": features(rsi="high", macd=None), "symbol": ""}).get_json()
    errors = {e["field"]: e["message"] for e in body["errors"]}
    assert body["field"] == "target" and [e["field"] for e in body["errors"]] == ["target", "symbol",
                                                                                 "features.rsi", "features.macd"]
    assert errors["features.rsi"] == "must be a number" and errors["features.macd"] == "required"
    assert "NoneType" not in json.dumps(body) and "str" not in json.dumps(errors)
    assert system.online.pending_count() == before
    resp = client.post("/ml/online/add_training_data", json=good)
    assert resp.status_code == 201 and resp.get_json()["pending"] == before + 1
    # an explicit order (the API) learns what waits, below min_data_points_for_update (50)
    assert 0 < system.online.pending_count() < system.config.current()["min_data_points_for_update"]
    learned = client.post("/ml/online/update").get_json()
    assert learned["status"] == "updated" and learned["samples"] == before + 1


def test_predictions_history_and_collection_stats(ready):
    system, client = ready
    system.run_job("online_update", "cli")  # trained models (if the update test did not run first)
    logged = system.hybrid.predict("BTCUSDT")  # what the collect pipeline stores for each new candle
    body = client.get("/ml/predictions?symbol=BtcUsdt").get_json()
    assert body["symbol"] == "BTCUSDT"
    assert [p["open_time"] for p in body["predictions"]][:1] == [logged["open_time"]]
    assert "accuracy" in body and body["total"] == system.hybrid.log.count("BTCUSDT")
    second = client.get("/ml/predictions?symbol=btcusdt&limit=1&offset=1").get_json()["predictions"]
    assert [p["open_time"] for p in second] == [p["open_time"] for p in body["predictions"][1:2]]
    assert_error(client.get("/ml/predictions?limit=-1"), 400, "limit")
    assert_error(client.get("/ml/predictions?offset=-1"), 400, "offset")
    stats = client.get("/ml/data_collection/stats").get_json()
    assert stats["source"] == "replay" and stats["enabled"] is True and "reason" in stats


@pytest.mark.parametrize("data, field, status", [
    ('{"ensemble_weight_batch": 0.5, "ensemble_weight_online": 0.3}', "ensemble_weight_batch", 400),
    ('{"ensemble_weight_batch": NaN}', "ensemble_weight_batch", 400),
    ('{"ensemble_weight_batch": Infinity}', "ensemble_weight_batch", 400),
    ('{"online_update_interval_minutes": "often"}', "online_update_interval_minutes", 400),
    ('{"no_such_setting": 1}', "no_such_setting", 400),
    ('{"symbols": ["BTCUSDT"', "body", 400),
    ('[1, 2]', "body", 400),
    ('{"x": "' + "a" * MAX_BODY_BYTES + '"}', "body", 413),
])
def test_bad_config_is_rejected_and_nothing_changes(fresh, data, field, status):
    system, client = fresh
    before = client.get("/ml/hybrid/config").get_json()["config"]
    assert_error(client.post("/ml/hybrid/config", data=data, content_type="application/json"), status, field)
    assert client.get("/ml/hybrid/config").get_json()["config"] == before
    assert not (system.data_dir / "config.json").exists()


def test_config_changes_and_named_profiles(fresh):
    system, client = fresh
    resp = client.post("/ml/hybrid/config", json={"ensemble_weight_batch": 0.6, "online_update_interval_minutes": 10})
    cfg = resp.get_json()["config"]
    assert resp.status_code == 200 and cfg["ensemble_weight_online"] == pytest.approx(0.4)
    assert system.config.current()["online_update_interval_minutes"] == 10
    assert client.post("/ml/hybrid/config/profiles/calm").get_json()["profiles"] == ["calm"]
    client.post("/ml/hybrid/config", json={"ensemble_weight_batch": 0.9})
    loaded = client.post("/ml/hybrid/config/profiles/calm/load").get_json()
    assert loaded["config"]["ensemble_weight_batch"] == 0.6
    assert client.get("/ml/hybrid/config/profiles").get_json() == {"profiles": ["calm"]}
    assert_error(client.post("/ml/hybrid/config/profiles/no%20way"), 400, "profile")
    assert_error(client.post("/ml/hybrid/config/profiles/ghost/load"), 400, "profile")
    assert client.post("/ml/hybrid/config/profiles/..%2F..%2Fetc/load").status_code in (400, 404)


def test_every_route_is_in_the_openapi_description(fresh):
    system, _ = fresh
    app, client = make_client(system)
    spec = client.get("/ml/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/ml/") and r.rule != NOT_FOUND_RULE]
    assert len(rules) >= 14
    for rule in rules:
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"].get(path, {}), f"{method} {path} missing from OpenAPI"
    assert spec["paths"]["/ml/hybrid/config"]["post"]["security"] == [{"bearer": []}]


def test_batch_versions_and_rollback_change_what_predicts_and_refuse_bad_input(data_dir):
    system = make_system(data_dir, collect=True)
    _, client = make_client(system)
    assert client.get("/ml/batch/versions").get_json() == {"versions": []}
    assert_error(client.post("/ml/batch/rollback"), 400, "version")  # nothing trained: nothing to roll back to
    for _ in range(2):
        assert system.run_job("batch_retrain", "cli")["outcome"] == "ok"
    versions = client.get("/ml/batch/versions").get_json()["versions"]
    assert [v["version"] for v in versions] == [2, 1] and all(v["available"] for v in versions)
    assert {"metrics", "decision", "trained_at", "active"} <= set(versions[0])

    resp = client.post("/ml/batch/rollback", json={"version": 2})  # v2 active, whether it was promoted or not
    assert resp.status_code == 200 and resp.get_json()["active"]["version"] == 2
    for bad, field in (({"version": 99}, "version"), ({"version": "1"}, "version"), ({"version": True}, "version"),
                       ({"versoin": 1}, "versoin")):
        assert_error(client.post("/ml/batch/rollback", json=bad), 400, field)
    assert_error(client.post("/ml/batch/rollback", data="[1]", content_type="application/json"), 400, "body")
    assert system.batch.active()["version"] == 2  # refused: nothing changed

    resp = client.post("/ml/batch/rollback")  # empty body: back to the previously active version
    assert resp.status_code == 200
    assert resp.get_json()["active"]["version"] == 1 and resp.get_json()["previous_version"] == 2
    predicted = client.get("/ml/hybrid/predict?symbol=BTCUSDT").get_json()
    assert predicted["model_versions"]["batch"] == 1  # predictions use the rolled-back model at once
    assert [v["active"] for v in client.get("/ml/batch/versions").get_json()["versions"]] == [False, True]


def test_backfill_runs_the_job_and_refuses_bad_days(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system)
    for bad, field in (({"days": 0}, "days"), ({"days": 5000}, "days"), ({"days": "30"}, "days"),
                       ({"days": 30, "symbol": "BTCUSDT"}, "symbol")):
        assert_error(client.post("/ml/data_collection/backfill", json=bad), 400, field)
    assert system.jobs.history("backfill") == [] and system.store.counts() == []  # refused: nothing ran
    resp = client.post("/ml/data_collection/backfill", json={"days": 15})
    body = resp.get_json()
    assert resp.status_code == 200 and body["outcome"] == "ok" and body["run"]["trigger"] == "api"
    stored = {c["symbol"]: c["rows"] for c in system.store.counts()}
    assert body["new_candles"] == stored and min(stored.values()) >= 14 * 24
    again = client.post("/ml/data_collection/backfill").get_json()  # empty body: config backfill_days (12)
    assert again["outcome"] == "ok" and sum(again["new_candles"].values()) == 0  # already stored

"""/metrics in-process: what it reports is what the engine has on disk, in Prometheus text format."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

import app as dashboard
from tests.system_fixtures import TEST_ENV


def _samples(client) -> dict[tuple, float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True)) for s in family.samples}


def test_metrics_report_the_engine_state(tmp_path):
    app = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": TEST_ENV})
    system, client = app.system, app.server.test_client()
    for job in ("collect", "online_update", "batch_retrain", "evaluate"):
        assert system.run_job(job, "cli")["outcome"] == "ok"
    system.run_job("collect", "cli")
    for _ in range(3):
        assert client.get("/ml/hybrid/predict?symbol=btcusdt").status_code == 200
    m = _samples(client)

    assert m[("hls_job_runs_total", (("job", "collect"), ("outcome", "ok")))] == 2
    assert m[("hls_job_duration_seconds_count", (("job", "collect"),))] == 2
    runs = system.jobs.history("batch_retrain")
    assert m[("hls_job_duration_seconds_sum", (("job", "batch_retrain"),))] == pytest.approx(runs[0]["duration_ms"] / 1000)
    assert m[("hls_job_last_start_timestamp_seconds", (("job", "evaluate"), ("outcome", "ok")))] == \
        system.jobs.last_run("evaluate")["start"] / 1000
    assert m[("hls_scheduler_up", ())] == 0  # no scheduler in this test
    for row in system.store.counts():
        assert m[("hls_candles_stored", (("interval", "1h"), ("symbol", row["symbol"])))] == row["rows"]
    stats = system.collector.stats()
    assert m[("hls_binance_requests_total", ())] == stats["requests"] and m[("hls_data_source", (("source", "replay"),))] == 1
    for name, model in system.online.stats()["models"].items():
        assert m[("hls_online_accuracy", (("model", name),))] == pytest.approx(model["accuracy"])
        assert m[("hls_online_samples_seen", (("model", name),))] == model["samples_seen"]
    active = system.batch.active()
    assert m[("hls_batch_version", ())] == active["version"]
    assert m[("hls_batch_log_loss", ())] == pytest.approx(active["metrics"]["log_loss"])
    live = system.hybrid.accuracy_summary()
    assert m[("hls_predictions", (("state", "scored"),))] == live["scored"]
    for name, score in live["models"].items():
        if score.get("accuracy") is not None:
            assert m[("hls_live_accuracy", (("model", name),))] == pytest.approx(score["accuracy"])
    assert m[("hls_http_request_duration_seconds_count", (("route", "/ml/hybrid/predict"),))] == 3

"""HybridLearningSystem: jobs wired to the real components, status from disk, cross-process visibility."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from engine import weighting
from engine.batch import ladder
from engine.features.inputs import build_inputs, spec
from engine.jobs import now_ms
from layouts import panels
from tests.dashboard_fixtures import text_of
from tests.fake_binance import FakeBinance
from tests.system_fixtures import make_system

DAY_MS = 86_400_000


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_collect_feeds_buffer_and_pipeline_predicts_and_trades(data_dir):
    system = make_system(data_dir, collect=True)
    pending = system.online.pending_count()
    rows = system.store.counts()
    assert pending > 0 and {r["symbol"] for r in rows} == {"BTCUSDT", "ETHUSDT"}
    assert system.run_job("online_update", "cli")["result"]["samples"] == pending
    retrain = system.run_job("batch_retrain", "cli")
    assert retrain["outcome"] == "ok" and retrain["result"]["promoted"] is True

    summary = system.pipeline.after_candles({"BTCUSDT": 3, "ETHUSDT": 0})
    assert set(summary) == {"BTCUSDT"}
    btc = summary["BTCUSDT"]
    assert btc["samples_added"] == 0  # already buffered: samples are deduplicated by open time
    assert btc["prediction"]["status"] in ("ok", "degraded")  # degraded: an online model lost to its baseline
    assert btc["prediction"]["ensemble_prediction"] in (0, 1)
    logged = system.hybrid.history("BTCUSDT")
    assert logged[0]["open_time"] == system.store.latest("BTCUSDT", "1h")["open_time"]
    if btc["signal"] is not None:  # a confident call opened a paper trade
        assert system.trader.trades(symbol="BTCUSDT")

    status = system.status()
    assert status["batch_model"]["loaded"] and status["batch_model"]["version"] == retrain["result"]["version"]
    assert status["last_retrain"]["promoted"] is True and status["last_retrain"]["outcome"] == "ok"
    assert status["buffer"]["pending"] == 0
    assert status["batch_model"]["serving"] and status["batch_model"]["note"] is None
    kinds = [a["kind"] for a in status["alerts"]]
    assert "no_batch_model" not in kinds and "batch_below_baseline" not in kinds
    assert "model_excluded" not in kinds  # adaptive weights: a model that answers always has a share
    evaluation = system.run_job("evaluate", "cli")
    assert evaluation["outcome"] == "ok" and "accuracy" in evaluation["result"]


def test_a_batch_model_worse_than_its_baseline_never_serves_and_status_says_so(data_dir, monkeypatch):
    system = make_system(data_dir, collect=True)
    system.run_job("online_update", "cli")
    fit = ladder.fit_ridge_logit  # learns the opposite of the truth: worse than the majority class
    monkeypatch.setattr(ladder, "fit_ridge_logit", lambda X, y: fit(X, 1 - np.asarray(y)))
    retrain = system.run_job("batch_retrain", "cli")
    assert retrain["outcome"] == "ok" and retrain["result"]["promoted"] is False
    assert retrain["result"]["decision"].startswith("refused: the 90-day window's hold-out log loss")
    status = system.status()
    model = status["batch_model"]
    assert not model["loaded"] and not model["serving"]
    assert model["note"].startswith("no batch model beats the majority-class baseline (newest v1: hold-out log loss")
    [alert] = [a for a in status["alerts"] if a["kind"] == "batch_below_baseline"]
    assert alert["message"] == model["note"] and "no_batch_model" not in [a["kind"] for a in status["alerts"]]
    prediction = system.predict("BTCUSDT")
    assert prediction["probabilities"]["batch"] is None and "batch" not in prediction["weights"]
    assert model["note"] in prediction["notes"]


def test_buffered_candle_samples_match_full_history_features(data_dir):
    """Incremental collection (a few new bars) must queue the same features the models see elsewhere."""
    system = make_system(data_dir, collect=True)
    system.db.connect().execute("DELETE FROM online_samples WHERE symbol='BTCUSDT' AND open_time IN "
                                "(SELECT open_time FROM online_samples WHERE symbol='BTCUSDT' "
                                "ORDER BY open_time DESC LIMIT 5)")
    assert system.pipeline.add_samples("BTCUSDT", 5, system.config.current()) == 5
    X, y = build_inputs(system.store.range("BTCUSDT", "1h"), 1, spec(system.config.current()))
    rows = system.db.query("SELECT open_time, features, target FROM online_samples "
                           "WHERE symbol='BTCUSDT' AND source='candle' ORDER BY open_time DESC LIMIT 5")
    for row in rows:
        np.testing.assert_allclose(json.loads(row["features"]), X.loc[row["open_time"]].to_numpy(),
                                   rtol=1e-6, atol=1e-9)
        assert row["target"] == y.loc[row["open_time"]]


def test_failed_job_becomes_an_alert_and_never_raises(data_dir):
    system = make_system(data_dir, HLS_DATA_SOURCE="live", HLS_BINANCE_BASE_URL="http://127.0.0.1:9")  # closed port
    system.collector.sleep = lambda s: None  # no back-off waits in the test
    run = system.run_job("collect", "dashboard")
    assert run["outcome"] == "error"
    status = system.status()
    assert any(a["kind"] == "job_failed" and a["level"] == "danger" and "collect" in a["message"]
               for a in status["alerts"])
    assert status["data_collection"]["last_error"]
    assert status["jobs"]["collect"]["trigger"] == "dashboard"
    errors = status["data_collection"]["errors"]  # the collector's counters ride in the status: one read
    assert errors >= 1 and errors == system.data_collection()["errors"]
    assert f"Errors{errors}" in text_of(panels.collection_stats(status)).replace(" ", "")


def test_cleanup_keeps_the_batch_window(data_dir):
    system = make_system(data_dir, collect=True)
    system.config.update({"candle_retention_days": 30, "batch_window_days": 7, "prediction_retention_days": 1})
    latest = system.store.latest("BTCUSDT", "1h")["open_time"]
    run = system.run_job("cleanup", "cli")
    assert run["outcome"] == "ok" and run["result"]["candles"] > 0  # the replayed bars are years old
    kept = system.store.range("BTCUSDT", "1h")
    assert kept["open_time"].iloc[-1] == latest and kept["open_time"].iloc[0] >= latest - 7 * DAY_MS
    assert len(kept) >= 7 * 24 - 5
    assert system.jobs.history(job="collect")  # today's job runs are kept


def test_cleanup_removes_temp_files_of_killed_writers_but_not_fresh_ones(data_dir):
    system = make_system(data_dir)
    models = data_dir / "models"
    models.mkdir(exist_ok=True)
    stale, fresh, model = models / ".batch.pkl.abc.tmp", models / ".batch.pkl.def.tmp", models / "keep.pkl"
    for path in (stale, fresh, model):
        path.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))  # a writer killed two hours ago
    os.utime(model, (time.time() - 7200, time.time() - 7200))
    run = system.run_job("cleanup", "cli")
    assert run["outcome"] == "ok" and run["result"]["temp_files"] == 1
    assert not stale.exists() and fresh.exists() and model.exists()  # a write may be under way in fresh


def test_cleanup_trims_old_online_history(data_dir):
    system = make_system(data_dir, collect=True)
    system.run_job("online_update", "cli")
    assert system.online.performance_history()
    assert system.online.cleanup(now_ms() - DAY_MS) == 0  # today's rows are kept
    assert system.online.cleanup(now_ms() + 1) > 0
    assert system.online.performance_history() == []


def _background_worker(data_dir: str) -> None:
    """What a Dash background callback does: its own system on the same data dir."""
    system = make_system(data_dir)
    system.config.update({"batch_retrain_interval_hours": 2, "ensemble_weight_batch": 0.6})
    for job in ("online_update", "batch_retrain"):
        assert system.run_job(job, "dashboard")["outcome"] == "ok"


def test_work_done_in_another_process_is_seen_by_the_server_process(data_dir):
    server = make_system(data_dir, collect=True)
    server.scheduler.tick()
    assert server.predict("BTCUSDT")["model_versions"] == {}  # not ready: nothing trained yet
    before = server.status()
    assert before["batch_model"]["loaded"] is False and before["last_retrain"] is None

    child = mp.get_context("spawn").Process(target=_background_worker, args=(str(data_dir),))
    child.start()
    child.join(120)
    assert child.exitcode == 0

    status = server.status()
    assert status["config"]["ensemble_weight_batch"] == 0.6
    assert status["batch_model"]["loaded"] and status["last_retrain"]["promoted"] is True
    assert status["jobs"]["online_update"]["trigger"] == "dashboard"
    assert status["buffer"]["pending"] == 0
    assert server.online.stats()["models"]["sgd"]["samples_seen"] > 0
    prediction = server.predict("btcusdt")
    assert prediction["ensemble_prediction"] in (0, 1)
    assert prediction["model_versions"]["batch"] == status["batch_model"]["version"]
    server.scheduler.tick()  # the interval changed by the other process reschedules the retrain
    assert server.scheduler.next_runs()["batch_retrain"] == pytest.approx(now_ms() + 2 * 3_600_000, abs=5_000)


def test_start_runs_the_scheduler_visible_from_other_processes(data_dir):
    system = make_system(data_dir)
    other = make_system(data_dir)  # stands in for a CLI `status` in another process
    assert other.status()["running"] is False
    system.start()
    try:
        wait_for(lambda: other.jobs.last_run("collect") is not None, what="the first collection")
        status = other.status()
        assert status["running"] is True and status["jobs"]["collect"]["trigger"] == "schedule"
        assert status["next_runs"]["collect"] - status["time"] <= 5_000  # replay: collect every few seconds
        wait_for(lambda: other.jobs.last_run("batch_retrain") is not None, what="the first batch model")
    finally:
        system.stop()
    assert other.status()["running"] is False
    assert other.status()["next_runs"]["collect"] is None
    assert other.status()["last_retrain"]["outcome"] == "ok"


def test_predictions_follow_config_changes_at_once(data_dir):
    system = make_system(data_dir, collect=True)
    system.run_job("online_update", "cli")
    system.run_job("batch_retrain", "cli")
    prior = system.predict("BTCUSDT")  # adaptive, nothing scored yet: the configured weights are the priors
    assert prior["weights"]["batch"] == pytest.approx(0.7 * (1 - weighting.ABSTAIN_PRIOR))
    system.config.update({"hybrid_mode": "fixed"})
    assert system.predict("BTCUSDT")["weights"]["batch"] == pytest.approx(0.7)
    system.config.update({"ensemble_weight_batch": 0.2})
    assert system.predict("ethusdt")["weights"]["batch"] == pytest.approx(0.2)
    assert system.predict("BTCUSDT")["weights"]["batch"] == pytest.approx(0.2)


def test_live_collect_reports_progress_across_symbols(data_dir):
    """Backfilling two symbols from a fake Binance on loopback: progress climbs to 1 over both symbols."""
    from engine.candles import load_sample
    btc = load_sample("BTCUSDT").iloc[:1500].reset_index(drop=True)
    eth = load_sample("ETHUSDT").iloc[:1500].reset_index(drop=True)
    eth["open_time"], eth["close_time"] = btc["open_time"], btc["close_time"]  # same clock for both
    with FakeBinance({"BTCUSDT": btc, "ETHUSDT": eth}) as fake:
        system = make_system(data_dir, HLS_DATA_SOURCE="live", HLS_BINANCE_BASE_URL=fake.url,
                             HLS_BACKFILL_DAYS="50")
        seen = []
        record = system.run_job("collect", "dashboard", progress=lambda f, m: seen.append((f, m)))
    assert record["outcome"] == "ok", record
    stored = {c["symbol"]: c["rows"] for c in system.store.counts()}
    assert record["result"]["new_candles"] == stored and min(stored.values()) > 1100  # 50 days, a few gaps
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0.99 < fractions[-1] <= 1.0  # gaps: a few bars fewer than expected
    assert any(f <= 0.5 for f in fractions) and {m.split(":")[0] for _, m in seen} == {"BTCUSDT", "ETHUSDT"}


def test_backfill_job_fetches_only_missing_history_and_rejects_bad_days(data_dir):
    from engine.candles import load_sample
    eth = load_sample("ETHUSDT").iloc[:3000].reset_index(drop=True)
    with FakeBinance({"ETHUSDT": eth}) as fake:
        system = make_system(data_dir, HLS_DATA_SOURCE="live", HLS_BINANCE_BASE_URL=fake.url,
                             HLS_BACKFILL_DAYS="20", HLS_SYMBOLS='["ETHUSDT"]')
        assert system.run_job("collect", "cli")["outcome"] == "ok"
        first = system.store.counts()[0]
        bad = system.run_job("backfill", "dashboard", days=0)
        assert bad["outcome"] == "error" and "days: must be between 1 and 3650" in bad["error"]
        assert system.store.counts()[0] == first  # nothing changed
        seen = []
        run = system.run_job("backfill", "dashboard", days=60, progress=lambda f, m: seen.append(f))
    assert run["outcome"] == "ok", run
    after = system.store.counts()[0]
    assert after["last_open_time"] == first["last_open_time"] and after["first_open_time"] < first["first_open_time"]
    assert after["rows"] == first["rows"] + run["result"]["new_candles"]["ETHUSDT"] >= 59 * 24
    assert seen and seen == sorted(seen) and seen[-1] > 0.99
    assert "backfill" not in system.status()["next_runs"]  # run on demand, never scheduled


def test_a_symbol_failing_in_a_collect_is_named_in_the_run_and_an_alert_until_it_recovers(data_dir):
    from engine.candles import load_sample
    btc = load_sample("BTCUSDT").iloc[:1500].reset_index(drop=True)
    with FakeBinance({"BTCUSDT": btc, "ETHUSDT": btc}) as fake:
        system = make_system(data_dir, HLS_DATA_SOURCE="live", HLS_BINANCE_BASE_URL=fake.url, HLS_BACKFILL_DAYS="5")
        system.collector.sleep = lambda s: None  # the 429s' Retry-After is not waited out in a test
        fake.fail("/api/v3/klines", times=6, status=429, retry_after=1)  # BTC's retries are all used up
        run = system.run_job("collect", "schedule")
        assert run["outcome"] == "ok" and run["result"]["new_candles"] == {"ETHUSDT": 120}
        assert list(run["result"]["failed"]) == ["BTCUSDT"] and "429" in run["result"]["failed"]["BTCUSDT"]
        alerts = [a for a in system.status()["alerts"] if a["kind"] == "collect_failed"]
        assert len(alerts) == 1 and alerts[0]["message"].startswith("BTCUSDT: the last collection failed")
        run = system.run_job("collect", "schedule")
    assert run["result"]["new_candles"] == {"BTCUSDT": 120, "ETHUSDT": 0} and run["result"]["failed"] == {}
    assert not [a for a in system.status()["alerts"] if a["kind"] == "collect_failed"]

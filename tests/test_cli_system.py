"""`python -m engine status | update | retrain | serve-jobs` on a replayed data dir."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine.cli import main
from engine.paths import PROJECT_ROOT
from tests.system_fixtures import TEST_ENV, make_system


@pytest.fixture
def env(monkeypatch):
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **TEST_ENV}


def test_status_update_retrain_print_readable_results(data_dir, env, capsys):
    make_system(data_dir, collect=True)
    assert main(["--data-dir", str(data_dir), "status"]) == 0
    out = capsys.readouterr().out
    assert "scheduler: not running" in out and "batch model: none yet" in out and "BTCUSDT: 288 rows" in out
    assert "[warning] no_batch_model" in out
    assert "outcome model: 0 trade outcomes learned, threshold - (not chosen yet)" in out

    assert main(["--data-dir", str(data_dir), "update", "--batch-size", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("online_update: ok") and "update_results: {'sgd':" in out

    assert main(["--data-dir", str(data_dir), "update"]) == 0
    assert "online_update: skipped" in capsys.readouterr().out

    assert main(["--data-dir", str(data_dir), "retrain"]) == 0
    out = capsys.readouterr().out
    assert "loading candles" in out and "100%" in out and "batch_retrain: ok" in out and "promoted: True" in out

    assert main(["--data-dir", str(data_dir), "status"]) == 0
    out = capsys.readouterr().out
    assert "batch model: v1" in out and "online_update  last skipped" in out


def test_serve_jobs_once_runs_every_job(data_dir, env, capsys):
    assert main(["--data-dir", str(data_dir), "serve-jobs", "--once"]) == 0
    out = capsys.readouterr().out
    for job in ("collect: ok", "online_update: ok", "batch_retrain: ok", "evaluate: ok", "cleanup: ok"):
        assert job in out


@pytest.mark.slow
def test_serve_jobs_runs_until_sigterm(data_dir, env):
    proc = subprocess.Popen([sys.executable, "-m", "engine", "--data-dir", str(data_dir), "serve-jobs"],
                            cwd=PROJECT_ROOT, env=env | {"HLS_AUTO_RETRAIN_ENABLED": "false"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        system = make_system(data_dir)
        deadline = time.monotonic() + 60
        while not (system.status()["running"] and system.jobs.last_run("collect")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "scheduler running" in out and "scheduler stopped" in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    collect = [line for line in lines if line["job"] == "collect"]
    assert [line["event"] for line in collect[:2]] == ["job_start", "job_end"]
    assert collect[1]["trigger"] == "schedule" and collect[1]["outcome"] == "ok" and collect[1]["duration_s"] >= 0
    assert system.status()["running"] is False
    assert system.jobs.last_run("collect")["trigger"] == "schedule"
    assert system.jobs.last_run("batch_retrain") is None  # auto retrain off: no first model trained

"""``python app.py`` under gunicorn with several workers: exactly one scheduler among them (a killed leader is
replaced), graceful SIGTERM (a running job finishes, or is recorded interrupted with nothing written), and
/metrics answering the same from any worker."""
from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest

from engine.db import Database
from tests.browser_fixtures import DashboardServer, wait_until
from tests.deploy_fixtures import request
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.slow
COLLECT_EVERY_S = 5  # engine.scheduler.REPLAY_EVERY_S["collect"]: the plan while replaying
WINDOW_S = 30


def _runs(data_dir, since_ms: int = 0) -> list[dict]:
    db = Database(data_dir / "market.db")
    return [dict(r) for r in db.query("SELECT job, trigger, started_at, duration_ms, outcome, pid FROM job_runs "
                                      "WHERE started_at >= ? ORDER BY id", (since_ms,))]


def _workers(server) -> set[int]:
    return {p.pid for p in psutil.Process(server.proc.pid).children()}


def _stopped(server, timeout: float) -> int:
    """SIGTERM the server (master) and wait for it to exit; its exit code."""
    server.proc.send_signal(signal.SIGTERM)
    return wait_until(lambda: server.proc.poll() is not None and (server.proc.returncode,), timeout,
                      "the server to shut down")[0]


def test_three_workers_run_one_scheduler_and_a_dead_leader_is_replaced(tmp_path):
    server = DashboardServer(tmp_path / "data", env={"HLS_AUTO_RETRAIN_ENABLED": "false"}, args=("--workers", "3"))
    try:
        server.wait_ready()
        wait_until(lambda: len(_workers(server)) == 3, 60, "three workers")
        wait_until(lambda: any(r["job"] == "collect" and r["outcome"] == "ok" for r in _runs(server.data_dir)), 90,
                   "the first scheduled collection")
        t0 = int(time.time() * 1000)
        wait_until(lambda: time.time() * 1000 >= t0 + WINDOW_S * 1000, WINDOW_S + 5, "the observation window")
        window = [r for r in _runs(server.data_dir, t0) if r["started_at"] < t0 + WINDOW_S * 1000]
        scheduled = [r for r in window if r["trigger"] == "schedule"]
        collects = [r for r in scheduled if r["job"] == "collect"]
        planned = WINDOW_S // COLLECT_EVERY_S
        assert planned - 2 <= len(collects) <= planned + 1, collects  # one scheduler's plan, not three
        assert not [r for r in scheduled if r["outcome"] == "busy"], scheduled  # nobody else tried
        leaders = {r["pid"] for r in scheduled}
        assert len(leaders) == 1 and leaders <= _workers(server), (leaders, _workers(server))
        for job in {r["job"] for r in scheduled}:  # no job ever ran twice at once
            runs = sorted((r for r in _runs(server.data_dir) if r["job"] == job), key=lambda r: r["started_at"])
            for a, b in zip(runs, runs[1:]):
                assert b["started_at"] >= a["started_at"] + a["duration_ms"], (a, b)

        leader = leaders.pop()
        os.kill(leader, signal.SIGKILL)
        killed_at = int(time.time() * 1000)
        successor = wait_until(lambda: {r["pid"] for r in _runs(server.data_dir, killed_at)
                                        if r["trigger"] == "schedule" and r["outcome"] != "running"} - {leader},
                               60, "another worker to take over the schedule")
        assert len(successor) == 1
        status, _, body = request(server.port, "GET", "/ml/hybrid/status")
        assert status == 200 and b'"running":true' in body.replace(b" ", b"")
    finally:
        server.stop()


def test_sigterm_lets_a_running_job_finish(tmp_path):
    with FakeBinance() as fake:
        server = _server_inside_a_collect(tmp_path, fake, shutdown_timeout=30)
        try:
            server.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "Handling signal: term" in server.log(), 30, "the shutdown to begin")
            assert server.proc.poll() is None  # waiting for the job, still inside its request
            fake.release()
            assert wait_until(lambda: server.proc.poll() is not None, 60, "the server to exit") and \
                server.proc.returncode == 0
        finally:
            server.stop()
    collects = [r for r in _runs(server.data_dir) if r["job"] == "collect"]
    assert [r["outcome"] for r in collects] == ["ok"], collects
    assert Database(server.data_dir / "market.db").query("SELECT COUNT(*) AS n FROM candles")[0]["n"] > 0


def test_sigterm_records_a_job_that_outlasts_the_wait_as_interrupted_and_writes_nothing(tmp_path):
    with FakeBinance() as fake:
        server = _server_inside_a_collect(tmp_path, fake, shutdown_timeout=2)
        try:
            started = time.monotonic()
            assert _stopped(server, 60) == 0
            assert time.monotonic() - started < 2 + 15  # bounded: the wait, then exit
        finally:
            fake.release()
            server.stop()
    db = Database(server.data_dir / "market.db")
    rows = [dict(r) for r in db.query("SELECT job, outcome, error FROM job_runs WHERE job='collect'")]
    assert rows and rows[0]["outcome"] == "interrupted" and "process stopped" in rows[0]["error"], rows
    assert db.query("SELECT COUNT(*) AS n FROM candles")[0]["n"] == 0  # nothing half-written
    assert re.search(r'"event": "job_start", .*"job": "collect"', server.log())  # the lines reach stdout
    assert re.search(r'"event": "job_end", .*"job": "collect", .*"outcome": "interrupted"', server.log())


def _server_inside_a_collect(tmp_path, fake, shutdown_timeout: float) -> DashboardServer:
    """A server whose scheduler's first collection is held inside a request to the fake Binance."""
    env = {"HLS_DATA_SOURCE": "live", "HLS_BINANCE_BASE_URL": fake.url, "HLS_SYMBOLS": '["ETHUSDT"]',
           "HLS_AUTO_RETRAIN_ENABLED": "false"}
    fake.fail("/api/v3/klines", hold=True)
    server = DashboardServer(tmp_path / "data", env=env, args=("--workers", "2", "--shutdown-timeout",
                                                               str(shutdown_timeout)))
    try:
        server.wait_ready()
        assert fake.holding.wait(90), "the first collection never reached Binance"
    except BaseException:
        server.stop()
        raise
    return server


def test_metrics_are_the_same_from_every_worker(tmp_path):
    server = DashboardServer(tmp_path / "data", env={"HLS_DATA_COLLECTION_ENABLED": "false"}, args=("--workers", "2"))
    try:
        server.wait_ready()
        assert request(server.port, "POST", "/ml/data_collection/backfill", {"days": 5})[0] == 200
        stored = Database(server.data_dir / "market.db").query(
            "SELECT COUNT(*) AS n FROM candles WHERE symbol='BTCUSDT'")[0]["n"]
        metrics_dir = server.data_dir / "metrics" / str(server.proc.pid)
        sent = 0

        def both_workers_served():
            nonlocal sent
            for _ in range(10):  # a new connection each: the kernel spreads them over the workers
                assert request(server.port, "GET", "/ml/hybrid/predict?symbol=btcusdt")[0] in (200, 503)
                sent += 1
            return len(list(metrics_dir.glob("histogram_*.db"))) >= 2
        wait_until(both_workers_served, 60, "both workers to answer predictions")
        pattern = r'hls_http_request_duration_seconds_count\{route="/ml/hybrid/predict"\} ([0-9.]+)'
        scrapes = [request(server.port, "GET", "/metrics")[2].decode() for _ in range(6)]
        assert {float(re.search(pattern, s).group(1)) for s in scrapes} == {sent}
        candles = {float(re.search(r'hls_candles_stored\{interval="1h",symbol="BTCUSDT"\} ([0-9.]+)', s).group(1))
                   for s in scrapes}
        assert candles == {stored}  # read from disk: whichever worker answers
    finally:
        server.stop()

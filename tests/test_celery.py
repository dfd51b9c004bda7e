"""Scale-out with REDIS_URL: a real redis-server (free loopback port, no persistence), a real Celery worker
(``python app.py worker``) and the server. Jobs clicked on the page and scheduled jobs run in the worker's
processes; progress and results reach the page through Redis; Cancel terminates the task (the run reads
interrupted, nothing is written); the server sees what the worker wrote."""
from __future__ import annotations

import json

import psutil
import pytest

from callbacks.jobs import POLL_MS
from engine.db import Database
from tests.browser_fixtures import (DashboardServer, browser, click_job, require_chromium, screenshot,  # noqa: F401 (fixture)
                                    wait_until)
from tests.deploy_fixtures import CeleryWorker, RedisServer, request
from tests.fake_binance import FakeBinance
from tests.test_dashboard_cancel import _gone, _worker_talking_to

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(fake Binance, redis, Celery worker, server) on one data dir; the scheduler collects nothing itself."""
    require_chromium()
    work = tmp_path_factory.mktemp("celery")
    env = {"HLS_DATA_SOURCE": "live", "HLS_SYMBOLS": '["ETHUSDT"]', "HLS_BACKFILL_DAYS": "60",
           "HLS_DATA_COLLECTION_ENABLED": "false", "HLS_AUTO_RETRAIN_ENABLED": "false"}
    with FakeBinance() as fake:
        env["HLS_BINANCE_BASE_URL"] = fake.url
        redis = RedisServer(work)
        worker = server = None
        try:
            worker = CeleryWorker(work / "data", redis.url, concurrency=2, env=env).wait_ready()
            server = DashboardServer(work / "data", env=env | {"REDIS_URL": redis.url}).wait_ready()
            yield fake, redis, worker, server
        finally:
            for proc in (server, worker, redis):
                if proc is not None:
                    proc.stop()


def _open(browser, server):  # noqa: F811
    """A new page on the dashboard, ready to click; on failure say what the page shows."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    seen = []
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: seen.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("response", lambda r: seen.append(f"{r.status} {r.url[-70:]}"))
    page.goto(server.url)
    try:
        page.wait_for_selector("#collect-run:enabled", timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "celery_not_ready")
        button = page.evaluate("(document.querySelector('#collect-run') || {}).outerHTML")
        context.close()
        raise AssertionError(f"page not ready: {button}\n" + "\n".join(seen[-40:]) + "\n" + server.log()[-3000:])
    return context, page


def _runs(server, job: str) -> list[dict]:
    db = Database(server.data_dir / "market.db")
    return [dict(r) for r in db.query("SELECT id, trigger, outcome, pid, duration_ms FROM job_runs WHERE job=? "
                                      "ORDER BY id", (job,))]


def _pool(worker) -> set[int]:
    return {p.pid for p in psutil.Process(worker.proc.pid).children(recursive=True)}


def _server_pids(server) -> set[int]:
    return {server.proc.pid} | {p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)}


def test_scheduled_jobs_are_enqueued_and_run_by_the_worker(stack):
    _, _, worker, server = stack
    run = wait_until(lambda: next((r for r in _runs(server, "online_update") if r["trigger"] == "schedule"), None),
                     90, "the scheduler's first online update")
    assert run["pid"] in _pool(worker) and run["pid"] not in _server_pids(server)
    assert "hls.run_jobs" in worker.log()


def test_page_jobs_run_in_the_worker_with_progress_and_the_server_sees_the_result(browser, stack):  # noqa: F811
    _, _, worker, server = stack
    context, page = _open(browser, server)
    try:
        page.click("#collect-run")
        wait_until(lambda: "ok" in page.inner_text("#collect-result"), 120, "the collect to finish")
        labels = click_job(page, "batch_retrain")
        assert "ok" in page.inner_text("#batch_retrain-result")
        run = _runs(server, "batch_retrain")[-1]
        assert run["outcome"] == "ok" and run["trigger"] == "dashboard"
        if run["duration_ms"] > 3 * POLL_MS:  # (a quicker one ends before the page's first progress poll)
            assert any("%" in label for label in labels), (labels, run)
        assert run["pid"] in _pool(worker) and run["pid"] not in _server_pids(server)  # ran in the worker
        status, _, body = request(server.port, "GET", "/ml/batch/versions")  # the server reads what it wrote
        versions = json.loads(body)["versions"]
        assert status == 200 and versions and versions[0]["trigger"] == "dashboard"  # promoted or not on merit
    finally:
        context.close()


def test_cancel_terminates_the_task_and_writes_nothing(browser, stack):  # noqa: F811
    fake, _, worker, server = stack
    db = Database(server.data_dir / "market.db")
    candles = lambda: db.query("SELECT COUNT(*) AS n FROM candles")[0]["n"]  # noqa: E731
    context, page = _open(browser, server)
    try:
        before, runs_before = candles(), len(_runs(server, "backfill"))
        fake.holding.clear()
        fake.fail("/api/v3/klines", hold=True)
        page.fill("#backfill-days", "365")
        page.click("#backfill-run")
        assert fake.holding.wait(60), "the backfill never reached Binance"
        task = wait_until(lambda: _worker_talking_to(worker, int(fake.url.rsplit(":", 1)[1])), 30,
                          "the worker process running the backfill")
        page.wait_for_selector("#backfill-cancel:enabled", timeout=TIMEOUT_MS)
        wait_until(lambda: page.locator("#backfill-progress").inner_text().strip(), 30, "progress on the page")

        page.click("#backfill-cancel")
        page.wait_for_selector("#backfill-run:enabled", timeout=TIMEOUT_MS)
        wait_until(lambda: _gone(task), 30, "the task's process to be terminated")
        status, _, body = request(server.port, "GET", "/ml/jobs?job=backfill")
        run = json.loads(body)["runs"][0]
        assert status == 200 and run["outcome"] == "interrupted" and run["trigger"] == "dashboard"
        assert len(_runs(server, "backfill")) == runs_before + 1 and candles() == before  # nothing written
    finally:
        fake.release()
        context.close()

"""Live jobs from the page, in headless Chromium, against a fake Binance server on loopback.

Cancel: a collect job is held inside a klines request; the operator clicks Cancel; the job's worker
process is stopped and nothing is written. Released, the same button then collects normally (no lock
or half-written state left). Backfill: bad days are refused with a message, good ones fetch history."""
from __future__ import annotations

import psutil
import pytest

from engine.db import Database
from tests.browser_fixtures import DashboardServer, browser, require_chromium, wait_until  # noqa: F401 (fixture)
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def fake():
    with FakeBinance() as f:
        yield f


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, fake):
    """Collects from the fake server only when asked (the scheduler's collection is switched off)."""
    require_chromium()
    env = {"HLS_DATA_SOURCE": "live", "HLS_BINANCE_BASE_URL": fake.url, "HLS_SYMBOLS": '["ETHUSDT"]',
           "HLS_DATA_COLLECTION_ENABLED": "false", "HLS_AUTO_RETRAIN_ENABLED": "false"}
    srv = DashboardServer(tmp_path_factory.mktemp("cancel") / "data", env=env).wait_ready()
    yield srv
    srv.stop()


def _worker_talking_to(server, port: int) -> psutil.Process | None:
    """The server's child process with a connection open to ``port``: the job's background worker."""
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if any(c.raddr and c.raddr.port == port for c in child.net_connections(kind="tcp")):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_stops_the_job_and_writes_nothing_then_a_rerun_collects(browser, live_server, fake):  # noqa: F811
    db = Database(live_server.data_dir / "market.db")
    candles = lambda: db.query("SELECT COUNT(*) AS n FROM candles")[0]["n"]  # noqa: E731
    collect_runs = lambda: [dict(r) for r in db.query(  # noqa: E731
        "SELECT trigger, outcome FROM job_runs WHERE job='collect' ORDER BY id")]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        page.goto(live_server.url)
        page.wait_for_selector("#collect-run:enabled", timeout=TIMEOUT_MS)
        fake.fail("/api/v3/klines", hold=True)
        page.click("#collect-run")
        page.wait_for_selector("#collect-cancel:enabled", timeout=TIMEOUT_MS)
        assert fake.holding.wait(60), "the job never reached Binance"
        worker = wait_until(lambda: _worker_talking_to(live_server, int(fake.url.rsplit(":", 1)[1])), 30,
                            "the job's worker process")
        assert page.locator("#collect-run").is_disabled() and page.locator("#collect-progress").is_visible()

        page.click("#collect-cancel")
        page.wait_for_selector("#collect-run:enabled", timeout=TIMEOUT_MS)
        wait_until(lambda: _gone(worker), 30, "the cancelled worker to exit")
        assert page.locator("#collect-cancel").is_disabled()
        assert not page.locator("#collect-progress").is_visible()
        assert page.inner_text("#collect-result").strip() == ""
        assert candles() == 0  # nothing stored
        wait_until(lambda: "interrupted" in page.inner_text("#job-log-table"), 30, "the job log to show it")
        assert collect_runs() == [{"trigger": "dashboard", "outcome": "interrupted"}]  # logged, not as done

        fake.release()
        page.click("#collect-run")
        wait_until(lambda: page.inner_text("#collect-result").strip(), 120, "the second collect to finish")
        assert "ok" in page.inner_text("#collect-result")
        assert collect_runs()[-1] == {"trigger": "dashboard", "outcome": "ok"} and candles() > 0
    finally:
        context.close()


def test_backfill_refuses_bad_days_and_fetches_the_history_asked_for(browser, live_server):  # noqa: F811
    db = Database(live_server.data_dir / "market.db")
    stored = lambda: db.query("SELECT COUNT(*) AS n, MIN(open_time) AS first FROM candles")[0]  # noqa: E731
    backfills = lambda: db.query("SELECT COUNT(*) AS n FROM job_runs WHERE job='backfill'")[0]["n"]  # noqa: E731
    before = stored()
    assert before["n"] > 0  # the previous test collected the default 30 days
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        page.goto(live_server.url)
        page.wait_for_selector("#backfill-run:enabled", timeout=TIMEOUT_MS)
        page.fill("#backfill-days", "0")
        page.click("#backfill-run")
        page.wait_for_function("document.querySelector('#backfill-result').textContent.includes('days:')",
                               timeout=TIMEOUT_MS)
        assert page.inner_text("#backfill-result").strip() == "days: must be between 1 and 3650"
        assert backfills() == 0 and stored()["n"] == before["n"]  # refused: nothing ran, nothing stored

        page.fill("#backfill-days", "90")
        page.click("#backfill-run")
        wait_until(lambda: "ok" in page.inner_text("#backfill-result"), 120, "the backfill to finish")
        after = stored()
        assert backfills() == 1 and after["n"] >= 89 * 24 and after["first"] < before["first"]
    finally:
        context.close()

"""The dashboard in headless Chromium against a real ``python app.py`` (replay data, own data dir).

One server and one page for the module; the tests run in order on that page, like a user would.
Screenshots of every tab go to artifacts/screenshots/.
"""
from __future__ import annotations

import json

import pytest

from engine.config import ConfigStore
from engine.db import Database
from callbacks.figures import TRACE_TYPES
from callbacks.jobs import POLL_MS
from engine.features import FEATURE_COLUMNS
from layouts.plotly_bundle import choose
from tests.browser_fixtures import browser, click_job, page, screenshot, server, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
LOAD_TIMEOUT_MS = 90_000  # generous: CI machines are shared; every wait ends as soon as its condition holds


def _form_samples(server) -> int:
    db = Database(server.data_dir / "market.db")
    return db.query("SELECT COUNT(*) AS n FROM online_samples WHERE source='dashboard'")[0]["n"]


def _job_runs(server, job: str) -> list[dict]:
    db = Database(server.data_dir / "market.db")
    return [dict(r) for r in db.query("SELECT trigger, outcome, duration_ms FROM job_runs WHERE job=? ORDER BY id",
                                      (job,))]


def _open_tab(page, label: str) -> None:
    page.click(f"#tabs a.nav-link:text-is('{label}')")


def test_page_loads_without_console_errors(page, server):
    page.wait_for_selector("#status-cards .hls-status-card", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector("#accuracy-graph .main-svg", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector("#online-models-table", timeout=LOAD_TIMEOUT_MS)
    assert "Replaying bundled candles (offline)" in page.inner_text("#status-cards")
    assert "Replaying bundled candles (offline)" in page.inner_text("#source-badge")
    assert "data source replay: " in server.log().splitlines()[0]  # the start-up line says it replays too
    assert page.locator("#logout").count() == 0  # loopback: no login, so nothing to log out of
    for title in ("Accuracy over time (bar time, per symbol)", "Online models", "Model health: live, against the baselines",
                  "Jobs", "Real-time prediction", "Configuration", "Add training data", "Prediction history",
                  "Data collection", "Job log"):
        assert page.locator(f".card-title-text:text-is('{title}')").count() == 1, title
    assert page.errors == []


def test_first_tab_draws_without_callback_round_trips(browser, server):
    """A fresh visitor: the status cards and the accuracy chart come with the layout; before the chart is
    drawn no callback is requested but the periodic poll, plotly.js is the chosen bundle loaded with the
    page (not fetched lazily), and the preloaded layout and callback map are each requested once."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    callbacks, requests = [], []
    pg.on("request", lambda r: callbacks.append(json.loads(r.post_data)["output"])
          if "_dash-update-component" in r.url else requests.append(r.url))
    try:
        pg.goto(server.url)
        # drawn: its lines, or (nothing scored yet on a fresh server) its note saying so
        pg.wait_for_selector("#accuracy-graph .main-svg .scatterlayer .trace, #accuracy-graph .main-svg .annotation",
                             timeout=LOAD_TIMEOUT_MS)
        drawn = list(callbacks)
        assert pg.locator("#status-cards .hls-status-card").count() > 0
        assert set(drawn) <= {"state-version.data"}, drawn
        assert [u for u in requests if "plotly" in u] == [server.url.rstrip("/") + choose(TRACE_TYPES).url]
        for path in ("/_dash-layout", "/_dash-dependencies"):
            url = server.url.rstrip("/") + path
            assert [u for u in requests if u.endswith(path)] == [url]  # the renderer took the preloaded answer
            assert pg.evaluate("""url => performance.getEntriesByName(url)[0].startTime
                < performance.getEntriesByType('navigation')[0].domInteractive""", url)  # asked before scripts ran
    finally:
        context.close()


def test_each_tab_renders(page, server):
    screenshot(page, "hybrid_learning")
    _open_tab(page, "Market")
    page.wait_for_selector("#market-graph .main-svg .trace", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#market-summary').textContent.includes('Last close')",
                           timeout=LOAD_TIMEOUT_MS)
    assert page.locator("#market-graph .legendtext:text-is('SMA 20')").count() == 1
    assert page.locator("#market-graph .legendtext:text-is('RSI 14')").count() == 1
    screenshot(page, "market")
    _open_tab(page, "Trades")
    page.wait_for_function("document.querySelector('#trades-performance').innerText.trim().length > 0",
                           timeout=LOAD_TIMEOUT_MS)
    screenshot(page, "trades")
    _open_tab(page, "Hybrid Learning")
    assert page.errors == []


def test_form_rejects_bad_input_and_accepts_good_input(page, server):
    for name in FEATURE_COLUMNS:
        page.fill(f"[id='{{\"name\":\"{name}\",\"type\":\"feature-input\"}}']",
                  "-50" if name == "williams_r" else "0.0125")  # a plausible value for every field
    rsi = page.locator("[id='{\"name\":\"rsi\",\"type\":\"feature-input\"}']")
    rsi.fill("abc")
    page.select_option("#form-target", "1")
    before = _form_samples(server)
    page.click("#form-submit")
    page.wait_for_selector("#form-error", timeout=LOAD_TIMEOUT_MS)
    assert "rsi: must be a number" in page.inner_text("#form-error")
    assert "is-invalid" in rsi.get_attribute("class")
    assert _form_samples(server) == before  # nothing stored
    rsi.fill("55")
    page.click("#form-submit")
    page.wait_for_selector("#form-ok", timeout=LOAD_TIMEOUT_MS)
    assert "stored" in page.inner_text("#form-ok")
    assert _form_samples(server) == before + 1


def test_manual_online_update_changes_the_stats(page, server):
    def seen_on_page() -> int:
        row = page.locator("#online-models-table tr", has_text="sgd").first.inner_text()
        return int(row.split()[1].replace(",", ""))
    page.wait_for_selector("#online-models-table", timeout=LOAD_TIMEOUT_MS)

    def run_ok():  # a scheduled update may have taken the pending samples a moment before: click again
        page.click("#online_update-run")
        page.wait_for_function("document.querySelector('#online_update-result').innerText.trim().length > 0 && "
                               "!document.querySelector('#online_update-run').disabled", timeout=LOAD_TIMEOUT_MS)
        return "ok" in page.inner_text("#online_update-result")
    wait_until(run_ok, 120, "a manual online update with outcome ok", interval=1)
    assert any(r["trigger"] == "dashboard" and r["outcome"] == "ok" for r in _job_runs(server, "online_update"))
    from engine.system import HybridLearningSystem
    on_disk = HybridLearningSystem(server.data_dir, environ={}).online.stats()["models"]["sgd"]["samples_seen"]
    assert on_disk > 0
    wait_until(lambda: seen_on_page() >= on_disk, 30, "the page to show the new samples-seen count")
    page.wait_for_function("document.querySelector('#job-log-table').innerText.includes('dashboard')",
                           timeout=LOAD_TIMEOUT_MS)


def test_weight_slider_changes_and_persists_the_weights(page, server):
    page.wait_for_function("document.querySelector('#weight-label').innerText.includes('batch')",
                           timeout=LOAD_TIMEOUT_MS)
    thumb = page.locator("#weight-slider [role=slider]")
    thumb.focus()
    thumb.press("ArrowLeft")
    thumb.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#weight-label').innerText === 'batch 60 % / online 40 %'",
                           timeout=LOAD_TIMEOUT_MS)
    saved = json.loads((server.data_dir / "config.json").read_text())
    assert saved["ensemble_weight_batch"] == pytest.approx(0.6)
    assert saved["ensemble_weight_online"] == pytest.approx(0.4)
    fresh = ConfigStore(server.data_dir, environ={}).current()  # what a restarted server reads
    assert fresh["ensemble_weight_batch"] + fresh["ensemble_weight_online"] == pytest.approx(1.0)


def test_batch_retrain_shows_progress_and_finishes(page, server):
    runs_before = len(_job_runs(server, "batch_retrain"))
    labels = click_job(page, "batch_retrain")
    assert "ok" in page.inner_text("#batch_retrain-result")
    runs = _job_runs(server, "batch_retrain")
    assert len(runs) == runs_before + 1
    assert {k: runs[-1][k] for k in ("trigger", "outcome")} == {"trigger": "dashboard", "outcome": "ok"}
    if runs[-1]["duration_ms"] > 3 * POLL_MS:  # a retrain that outlasts a few progress polls shows its progress
        assert any("%" in label for label in labels), (labels, runs[-1])
    assert not page.locator("#batch_retrain-progress").is_visible()


def test_prediction_panel_shows_every_model(page, server):
    page.select_option("#predict-symbol", "BTCUSDT")
    page.click("#predict-run")
    page.wait_for_selector("#predict-votes", timeout=LOAD_TIMEOUT_MS)
    votes = page.inner_text("#predict-votes")
    for model in ("batch", "sgd", "passive_aggressive", "mlp_online"):
        assert model in votes
    assert page.inner_text("#predict-ensemble").strip() in ("▲ UP", "▼ DOWN")
    screenshot(page, "hybrid_learning_after_actions")
    assert page.errors == []

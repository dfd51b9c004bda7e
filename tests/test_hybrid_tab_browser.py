"""The Hybrid Learning and Models tabs in headless Chromium, as an operator uses them, against a real
``python app.py``: Binance unreachable (a closed loopback port, data_source auto), so it replays the bundled
candles; a year-old history of scored predictions seeded through the engine before the server starts; a high
min_data_points_for_update so scheduled online updates wait while a button press does not.

One server and one page for the module; the tests run in order on that page. Screenshots go to
artifacts/screenshots/.
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.system import HybridLearningSystem
from layouts.panels import UNREACHABLE_TEXT
from tests.browser_fixtures import (browser, open_page, screenshot, seeded_server,  # noqa: F401
                                    wait_until)
from tests.fake_binance import closed_port

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000
SEEDED = 120  # scored predictions per symbol before the server starts
ENV = {"HLS_DATA_SOURCE": "auto", "HLS_BINANCE_BASE_URL": f"http://127.0.0.1:{closed_port()}",
       "HLS_MIN_DATA_POINTS_FOR_UPDATE": "5000", "HLS_BACKFILL_DAYS": "40"}


def seed(data_dir) -> None:
    """Candles, a batch model, and SEEDED scored predictions per symbol, through the engine's own calls."""
    system = HybridLearningSystem(data_dir, environ=ENV)
    assert system.run_job("collect", "cli")["outcome"] == "ok"
    assert system.run_job("batch_retrain", "cli")["outcome"] == "ok"
    cfg = system.config.current()
    for symbol in cfg["symbols"]:
        bars = system.store.tail(symbol, cfg["interval"], SEEDED + 1)["open_time"].tolist()[:-1]
        for i, t in enumerate(bars):
            p = 0.45 + 0.1 * (i % 3) / 2
            system.hybrid.log.record(symbol, cfg["interval"], t, 1, {"ensemble": p, "batch": p, "sgd": 1 - p,
                                                                     "passive_aggressive": 0.5, "mlp_online": p},
                                     "ok", close=1.0)
    assert system.hybrid.score_outcomes() == SEEDED * len(cfg["symbols"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from seeded_server(tmp_path_factory, "hybrid-tab", seed, ENV)


@pytest.fixture(scope="module")
def page(browser, server):  # noqa: F811
    pg = open_page(browser, server.url)
    pg.wait_for_selector("#accuracy-graph .main-svg .scatterlayer .trace", timeout=TIMEOUT_MS)
    yield pg
    pg.context.close()


def _pick(page, symbol: str) -> None:
    page.select_option("#symbol-picker", symbol)


def _graph(page, id: str) -> dict:
    """The drawn figure's traces (name, x axis, first x, visible) and layout axes, read from plotly's DOM node."""
    return page.evaluate("""id => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
        return {traces: gd.data.map(t => ({name: t.name, xaxis: t.xaxis || 'x', x0: t.x && t.x.length ? String(t.x[0]) : null,
                                           n: t.x ? t.x.length : 0, visible: t.visible === undefined ? true : t.visible,
                                           opacity: t.opacity})),
                axes: Object.keys(gd._fullLayout).filter(k => k.startsWith('xaxis'))}; }""", id)


def _config(server) -> dict:
    with urllib.request.urlopen(server.url + "ml/hybrid/config", timeout=10) as resp:
        return json.load(resp)["config"]


def test_network_failure_reads_in_words_with_the_detail_behind_a_toggle(page):
    line = page.locator("#status-source-line")
    assert line.locator("summary").inner_text() == UNREACHABLE_TEXT
    assert not line.locator(".hls-detail").is_visible()  # the raw error waits behind the toggle
    assert "Errno" not in page.inner_text("#status-cards") and "ConnectionError" not in page.inner_text("#status-cards")
    line.locator("summary").click()
    assert "Binance unreachable at http://127.0.0.1" in line.locator(".hls-detail").inner_text()
    assert UNREACHABLE_TEXT in page.inner_text("#collection-source")


def test_accuracy_is_on_bar_time_per_symbol_with_bands_baselines_and_faded_start(page):
    _pick(page, "BTCUSDT")
    fig = wait_until(lambda: (f := _graph(page, "accuracy-graph")) and
                     any(t["name"] == "hybrid" and t["n"] >= SEEDED for t in f["traces"]) and f, 60,
                     "the seeded accuracy to be drawn")
    names = {t["name"] for t in fig["traces"]}
    assert {"hybrid", "hybrid ±2 SE", "baseline: majority class", "baseline: reversal",
            "hybrid (< 30 samples)"} <= names
    hybrid = next(t for t in fig["traces"] if t["name"] == "hybrid")
    assert hybrid["x0"].startswith("2017")  # BTC's bars replay 2017: market time, not the wall clock
    assert next(t for t in fig["traces"] if t["name"] == "hybrid (< 30 samples)")["opacity"] < 0.5
    _pick(page, "ALL")
    fig = wait_until(lambda: (f := _graph(page, "accuracy-graph")) and "xaxis2" in f["axes"] and f, 30,
                     "one panel per symbol")
    years = {t["xaxis"]: t["x0"][:4] for t in fig["traces"] if t["name"] == "hybrid"}
    assert years == {"x": "2017", "x2": "2024"}  # two time axes, never one joining 2017 and 2024
    screenshot(page, "hybrid_learning_all_symbols")
    _pick(page, "BTCUSDT")


def test_model_health_stands_beside_the_baselines(page):
    page.wait_for_selector("#health-BTCUSDT table", timeout=TIMEOUT_MS)
    head = page.inner_text("#health-BTCUSDT thead")
    for column in ("ACCURACY", "MAJORITY", "REVERSAL", "LOG LOSS", "BASELINE LOG LOSS", "VERDICT"):
        assert column in head.upper()
    hybrid = page.locator("#health-BTCUSDT tbody tr", has_text="hybrid").first.inner_text()
    assert hybrid.count("±") >= 4 and any(said in hybrid for said in ("beats baseline", "no better than baseline",
                                                                       "worse than baseline"))
    status = json.load(urllib.request.urlopen(page.url + "ml/hybrid/status", timeout=10))
    health = status["model_health"]["symbols"]["BTCUSDT"]["models"]["hybrid"]
    assert health["n"] >= SEEDED and {"accuracy_se", "log_loss_se", "baselines"} <= set(health)
    if health["verdict"] == "worse":  # the operator is told, not left to guess
        assert "Below baseline" in page.inner_text("#alerts")


def test_prediction_history_follows_the_symbol_newest_first_with_pages(page):
    _pick(page, "ETHUSDT")
    page.wait_for_function("document.querySelector('#prediction-history-note').innerText.includes('ETHUSDT')",
                           timeout=TIMEOUT_MS)
    rows = page.locator("#prediction-history-table tbody tr").all_inner_texts()
    assert rows and all("ETHUSDT" in r and "BTCUSDT" not in r for r in rows)
    bars = [r.split(" UTC")[0] for r in rows]
    assert bars == sorted(bars, reverse=True) and bars[0].startswith("2024")
    page.locator("#history-pages").get_by_text("2", exact=True).click()
    page.wait_for_function(f"!document.querySelector('#prediction-history-table tbody').innerText"
                           f".includes('{bars[0]}')", timeout=TIMEOUT_MS)
    older = [r.split(" UTC")[0] for r in page.locator("#prediction-history-table tbody tr").all_inner_texts()]
    assert older[0] <= bars[-1]  # equal when a prediction made meanwhile shifted the pages by one row
    _pick(page, "BTCUSDT")
    page.wait_for_function("document.querySelector('#prediction-history-note').innerText.includes('BTCUSDT')",
                           timeout=TIMEOUT_MS)


def test_manual_online_update_learns_what_waits_and_says_so_before(page, server):
    note = page.locator("#online_update-waiting")
    wait_until(lambda: "waiting: a manual update learns them now" in note.inner_text(), 60,
               "the page to say how many samples wait")
    assert "scheduled updates wait for 5,000" in note.inner_text()
    waiting = int(note.inner_text().split()[0].replace(",", ""))
    assert 0 < waiting < 5000
    page.click("#online_update-run")
    page.wait_for_function("document.querySelector('#online_update-result').innerText.includes('learned')",
                           timeout=TIMEOUT_MS)
    result = page.inner_text("#online_update-result")
    assert "skipped" not in result and "ok" in result
    runs = Database(server.data_dir / "market.db").query(
        "SELECT outcome, result FROM job_runs WHERE job='online_update' AND trigger='dashboard'")
    assert [r["outcome"] for r in runs] == ["ok"] and json.loads(runs[0]["result"])["samples"] >= waiting


def test_form_names_every_bad_field_next_to_it_in_words(page, server):
    for name in FEATURE_COLUMNS:
        assert page.get_attribute(f"[id='{{\"name\":\"{name}\",\"type\":\"feature-input\"}}']", "placeholder") in (None, "")
    page.fill("#form-symbol", "")
    page.click("#form-submit")
    page.wait_for_selector("#form-error", timeout=TIMEOUT_MS)
    feedback = page.locator(".invalid-feedback:visible")
    assert feedback.count() == len(FEATURE_COLUMNS) + 2  # every field at once, beside it
    assert page.locator("#form-target-error").inner_text() == "required"
    assert page.locator("#form-target").get_attribute("class").count("is-invalid") == 1
    summary = page.inner_text("#form-error")
    assert summary.index("target") < summary.index("symbol") < summary.index("return_1")  # target first
    for name in FEATURE_COLUMNS:
        page.fill(f"[id='{{\"name\":\"{name}\",\"type\":\"feature-input\"}}']",
                  "-50" if name == "williams_r" else "0.0125")  # a plausible value for every field
    page.fill("[id='{\"name\":\"rsi\",\"type\":\"feature-input\"}']", "high")
    page.select_option("#form-target", "1")
    page.fill("#form-symbol", "BTCUSDT")
    page.click("#form-submit")
    page.wait_for_function("document.querySelector('#form-error') && "
                           "document.querySelector('#form-error').innerText.includes('1 field needs')",
                           timeout=TIMEOUT_MS)
    assert page.locator(".invalid-feedback:visible").all_inner_texts() == ["must be a number"]
    text = page.inner_text("#tab-hybrid")
    assert "NoneType" not in text and " got " not in text


def test_typed_weight_out_of_range_is_refused_with_the_range(page, server):
    before = _config(server)["ensemble_weight_batch"]
    label = page.inner_text("#weight-label")
    page.fill("#weight-input", "1.5")
    page.press("#weight-input", "Enter")
    page.wait_for_selector("#settings-error", timeout=TIMEOUT_MS)
    assert "must be between 0.0 and 1.0" in page.inner_text("#settings-error")
    assert _config(server)["ensemble_weight_batch"] == before and page.inner_text("#weight-label") == label


def test_weight_slider_moves_under_a_mouse_drag(page, server):
    track = page.locator("#weight-slider .dash-slider-track")
    track.scroll_into_view_if_needed()
    assert track.bounding_box()["height"] >= 8  # a control a mouse can take (was 4 px)
    thumb = page.locator("#weight-slider [role=slider]").bounding_box()
    box = track.bounding_box()
    page.mouse.move(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + box["height"] / 2, steps=12)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#weight-label').innerText.startsWith('batch 4')",
                           timeout=TIMEOUT_MS)
    label = page.inner_text("#weight-label")
    batch = int(label.split()[1])
    assert label == f"batch {batch} % / online {100 - batch} %"
    cfg = _config(server)
    assert (round(100 * cfg["ensemble_weight_batch"]), round(100 * cfg["ensemble_weight_online"])) == (batch, 100 - batch)
    assert len(repr(cfg["ensemble_weight_online"])) <= 6  # 0.6, never 0.6000000000000001
    assert page.input_value("#weight-input") == repr(cfg["ensemble_weight_batch"])


def test_retrain_result_is_a_readable_card(page):
    page.click("#batch_retrain-run")
    page.wait_for_selector("#retrain-card", timeout=TIMEOUT_MS)
    card = page.inner_text("#retrain-card")
    assert "promoted" in card and "hold-out log loss" in card and "majority baseline".upper() in card.upper()
    assert "rows_hol" not in page.inner_text("body") and "promoted=True" not in page.inner_text("body")


def test_job_log_hides_routine_collects_filters_and_pages(page):
    page.wait_for_function("document.querySelector('#job-log-note').innerText.includes('routine scheduled "
                           "collects hidden')", timeout=TIMEOUT_MS)
    rows = page.locator("#job-log-table tbody tr").all_inner_texts()
    assert not [r for r in rows if r.startswith("collect") and "schedule" in r and "\tok\t" in r]
    page.click("#joblog-routine")
    page.wait_for_function("!document.querySelector('#job-log-note').innerText.includes('hidden')",
                           timeout=TIMEOUT_MS)
    assert any(r.startswith("collect") for r in page.locator("#job-log-table tbody tr").all_inner_texts())
    page.select_option("#joblog-job", "batch_retrain")
    page.wait_for_function("[...document.querySelectorAll('#job-log-table tbody tr')].every("
                           "r => r.innerText.startsWith('batch retrain'))", timeout=TIMEOUT_MS)
    assert "v" in page.inner_text("#job-log-table tbody tr") and "log loss" in page.inner_text("#job-log-table")
    page.select_option("#joblog-job", "any")
    page.click("#joblog-routine")
    assert page.locator("#joblog-pages").is_visible()
    screenshot(page, "hybrid_learning_tab")
    assert page.errors == []


def test_models_tab_compares_versions_and_rolls_back(page, server):
    _pick(page, "BTCUSDT")  # whatever an earlier test left picked
    page.click("#tabs a.nav-link:text-is('Models')")
    page.wait_for_selector("#versions-table tbody tr", timeout=TIMEOUT_MS)
    assert page.locator("#versions-table tbody tr").count() >= 2  # seeded + the retrain pressed above
    page.wait_for_selector("#importance-graph .main-svg .barlayer .point", timeout=TIMEOUT_MS)
    assert page.locator("#importance-graph .barlayer .point").count() > len(FEATURE_COLUMNS)  # + the returns group
    page.wait_for_function("document.querySelector('#calibration-graph').innerText.includes('hybrid · BTCUSDT')",
                           timeout=TIMEOUT_MS)
    button = page.locator("#versions-table button").first
    version = int(button.inner_text().split()[1].removeprefix("v"))
    before = HybridLearningSystem(server.data_dir, environ={}).batch.active()["version"]
    rollbacks: list[str] = []  # the rollback callback's requests: only an OK in the dialog may send one
    page.on("request", lambda r: rollbacks.append(r.url)
            if '"output":"rollback-message.children"' in (r.post_data or "") else None)
    with page.expect_event("dialog", timeout=TIMEOUT_MS) as asked:
        button.click()
    question = asked.value.message
    asked.value.dismiss()  # Cancel: nothing changes
    assert question.startswith(f"Make v{version} the active batch model?") and f"v{before} stays stored" in question
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.wait_for_selector("#rollback-ok", timeout=TIMEOUT_MS)
    assert len(rollbacks) == 1  # the OK's; the Cancel before it sent none
    active = HybridLearningSystem(server.data_dir, environ={}).batch.active()["version"]
    assert active == version
    page.wait_for_function(f"[...document.querySelectorAll('#versions-table tbody tr')].some("
                           f"r => r.innerText.startsWith('v{version}') && r.innerText.includes('active'))",
                           timeout=TIMEOUT_MS)
    screenshot(page, "models")
    page.click("#tabs a.nav-link:text-is('Hybrid Learning')")
    assert page.errors == []

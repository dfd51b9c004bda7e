"""The dashboard's callbacks as plain functions against a real HybridLearningSystem (replay data), and the app factory."""
from __future__ import annotations

import json
import re
import threading

import dash
import pytest

import app as dashboard
from api.security import InsecureBind
from callbacks.jobs import job_options, run_from_page
from callbacks.prediction import form_feedback, submit_sample
from callbacks.settings import apply_change, weight_label
from callbacks.status import fingerprint
from engine.config import ConfigStore
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.system import HybridLearningSystem
from tests.dashboard_fixtures import text_of

REPLAY = {"HLS_DATA_SOURCE": "replay", "HLS_BACKFILL_DAYS": "20"}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """One system with replayed candles collected (shared: collecting is the slow part)."""
    sys_ = HybridLearningSystem(tmp_path_factory.mktemp("dash") / "data", environ=REPLAY)
    record = sys_.run_job("collect", "cli")
    assert record["outcome"] == "ok", record
    return sys_


@pytest.fixture
def fresh(tmp_path):
    return HybridLearningSystem(tmp_path / "data", environ=REPLAY)


def test_app_serves_only_local_assets_and_bootstrap_from_the_package(tmp_path):
    app = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": REPLAY})
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert dashboard.BOOTSTRAP_URL in urls
    remote = [u for u in urls if re.match(r"(https?:)?//", u) and not re.match(r"(https?:)?//127\.0\.0\.1", u)]
    assert remote == []
    css = client.get(dashboard.BOOTSTRAP_URL)
    assert css.status_code == 200 and b"Bootstrap" in css.data[:200]
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/ml/hybrid/status").status_code == 200  # the REST API is mounted on the same server


def test_apps_do_not_share_callbacks(tmp_path):
    a = dashboard.create_app({"data_dir": tmp_path / "a", "start_scheduler": False, "environ": REPLAY})
    b = dashboard.create_app({"data_dir": tmp_path / "b", "start_scheduler": False, "environ": REPLAY})
    assert not dash._callback.GLOBAL_CALLBACK_LIST and not dash._callback.GLOBAL_CALLBACK_MAP
    assert set(a.callback_map) == set(b.callback_map) and len(a.callback_map) >= 10
    assert a.callback_map is not b.callback_map
    for job in ("collect", "online_update", "batch_retrain"):  # long jobs: worker process, progress, cancel
        background = a.callback_map[f"..{job}-result.children...{job}-finished.data.."]["background"]
        assert background["cancel"] == [{"id": f"{job}-cancel", "property": "n_clicks"}]
        assert [str(o) for o in background["progress"]] == [f"{job}-progress.value", f"{job}-progress.label"]


def _by_id(node, found=None) -> dict:
    """Every component with a string id in a /_dash-layout JSON tree: {id: props}."""
    found = {} if found is None else found
    if isinstance(node, list):
        for child in node:
            _by_id(child, found)
    elif isinstance(node, dict) and "props" in node:
        if isinstance(node["props"].get("id"), str):
            found[node["props"]["id"]] = node["props"]
        _by_id(node["props"].get("children"), found)
    return found


def test_page_load_needs_no_callback_round_trip(tmp_path):
    """The first tab's panels come filled inside the layout; no callback fires on load."""
    app = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": REPLAY})
    assert app.system.run_job("collect", "cli")["outcome"] == "ok"
    client = app.server.test_client()
    initial = [d["output"] for d in client.get("/_dash-dependencies").get_json() if not d["prevent_initial_call"]]
    assert initial == []
    components = _by_id(client.get("/_dash-layout").get_json())
    assert "Replaying bundled candles (offline)" in json.dumps(components["status-cards"]["children"])
    assert "Replaying bundled candles (offline)" in json.dumps(components["source-badge"]["children"])
    assert "online-models-table" in json.dumps(components["online-stats"]["children"])
    assert components["job-log"]["children"] and components["collection-stats"]["children"]
    assert components["state-version"]["data"] == fingerprint(app.system.status())  # the poll sees no change
    assert components["accuracy-graph"]["figure"]["layout"] and components["accuracy-version"]["data"]
    assert components["weight-label"]["children"] == weight_label(app.system.config.current())
    assert components["profile-select"]["options"] == []
    assert "figure" not in components["market-graph"]  # other tabs draw when opened


def test_scripts_are_cacheable_and_plotly_loads_with_the_page(tmp_path):
    app = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": REPLAY})
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert not [u for u in scripts if "dash_table" in u]  # no DataTable on the page: its bundle is left out
    assert "DataTable" not in client.get("/_dash-layout").get_data(as_text=True)
    plotly = [u for u in scripts if "plotly" in u]
    assert plotly == [app.plotly_js.url] and re.fullmatch(r"/vendor/plotly[-\w]*\.[0-9a-f]{16}\.min\.js", plotly[0])
    renderer = next(i for i, u in enumerate(scripts) if "dash_renderer" in u)
    assert scripts.index(plotly[0]) < renderer  # window.Plotly exists before any graph mounts
    for url in scripts:
        assert client.get(url).cache_control.max_age >= 86400, url
    served = client.get(plotly[0])
    assert served.data == app.plotly_js.path.read_bytes() and served.mimetype == "text/javascript"
    assert served.cache_control.max_age == dashboard.VERSIONED_MAX_AGE
    preloads = re.findall(r'<link rel="preload" href="([^"]+)" as="script">', page)
    assert set(preloads) == set(dashboard.PRELOAD)
    for url in preloads:
        resp = client.get(url)
        assert resp.status_code == 200 and resp.cache_control.max_age == dashboard.UNVERSIONED_MAX_AGE
    fetches = re.findall(r'<link rel="preload" href="([^"]+)" as="fetch" crossorigin="anonymous">', page)
    assert fetches == ["/_dash-layout", "/_dash-dependencies"]  # the renderer's first two requests


def test_refuses_a_public_host_without_token(tmp_path):
    with pytest.raises(InsecureBind):
        dashboard.create_app({"data_dir": tmp_path / "x", "start_scheduler": False, "host": "0.0.0.0"})
    args = dashboard.parse_args([], environ={"HOST": "::1", "PORT": "8123", "DATA_DIR": "/tmp/x", "HLS_API_TOKEN": "t"})
    assert (args.host, args.port, args.data_dir, args.api_token) == ("::1", 8123, "/tmp/x", "t")
    assert dashboard.parse_args(["--port", "9000"], environ={"PORT": "8123"}).port == 9000
    assert dashboard.main(["--host", "0.0.0.0", "--data-dir", str(tmp_path / "y")]) == 2


def test_fingerprint_ignores_clock_fields_and_sees_real_changes(system):
    status = system.status()
    again = system.status()
    assert fingerprint(status) == fingerprint(again)
    changed = json.loads(json.dumps(status))
    changed["buffer"]["pending"] = (changed["buffer"]["pending"] or 0) + 1
    assert fingerprint(changed) != fingerprint(status)


def _good_form():
    values = ["0.01"] * len(FEATURE_COLUMNS)
    values[FEATURE_COLUMNS.index("williams_r")] = "-50"
    return values


@pytest.mark.parametrize("field, value, target, symbol", [
    ("rsi", "abc", "1", "BTCUSDT"),
    ("macd", "", "1", "BTCUSDT"),
    (None, None, "", "BTCUSDT"),
    (None, None, "1", "DOGEUSDT"),
])
def test_form_rejects_bad_input_naming_the_field_and_stores_nothing(fresh, field, value, target, symbol):
    values = _good_form()
    if field:
        values[FEATURE_COLUMNS.index(field)] = value
    before = fresh.online.pending_count()
    message, errors = submit_sample(fresh, values, target, symbol)
    expected = f"features.{field}" if field else ("target" if target == "" else "symbol")
    assert list(errors) == [expected] and expected.removeprefix("features.") in text_of(message)
    assert fresh.online.pending_count() == before


def test_form_shows_every_error_next_to_its_field_in_words(fresh):
    values = _good_form()
    values[FEATURE_COLUMNS.index("rsi")] = "abc"
    values[FEATURE_COLUMNS.index("atr")] = ""
    message, errors = submit_sample(fresh, values, None, "")
    assert list(errors) == ["target", "symbol", "features.rsi", "features.atr"]  # target first
    invalid, texts, target_bad, target_text, symbol_bad, symbol_text = form_feedback(errors)
    assert [n for n, bad in zip(FEATURE_COLUMNS, invalid) if bad] == ["rsi", "atr"]
    assert texts[FEATURE_COLUMNS.index("rsi")] == "must be a number" and texts[FEATURE_COLUMNS.index("atr")] == "required"
    assert target_bad and target_text == "required" and symbol_bad and symbol_text.startswith("required")
    shown = text_of(message)
    assert "4 fields need attention" in shown and "NoneType" not in shown and "got" not in shown


def test_form_accepts_good_input(fresh):
    before = fresh.online.pending_count()
    message, errors = submit_sample(fresh, _good_form(), "1", "btcusdt")
    assert errors == {} and "stored" in text_of(message)
    assert fresh.online.pending_count() == before + 1
    last = fresh.db.query("SELECT symbol, source FROM online_samples ORDER BY rowid DESC LIMIT 1")[0]
    assert (last["symbol"], last["source"]) == ("BTCUSDT", "dashboard")  # told apart from API and candle samples


def test_weight_slider_persists_both_weights_summing_to_one(fresh):
    cfg, text = apply_change(fresh.config, "weight-slider", 0.35, {}, {}, None, None)
    assert (cfg["ensemble_weight_batch"], cfg["ensemble_weight_online"]) == pytest.approx((0.35, 0.65))
    assert weight_label(cfg) == "batch 35 % / online 65 %"
    reread = ConfigStore(fresh.data_dir, environ={}).current()  # a restart sees it
    assert reread["ensemble_weight_batch"] == pytest.approx(0.35) and reread["ensemble_weight_online"] == pytest.approx(0.65)


def test_typed_weight_out_of_range_is_refused_not_clamped(fresh):
    before = fresh.config.current()["ensemble_weight_batch"]
    with pytest.raises(ValidationError) as err:
        apply_change(fresh.config, "weight-input", 1.5, {}, {}, None, None)
    assert err.value.field == "ensemble_weight_batch" and "between 0.0 and 1.0" in err.value.message
    assert fresh.config.current()["ensemble_weight_batch"] == before
    cfg, text = apply_change(fresh.config, "weight-input", 0.9000000000000001, {}, {}, None, None)
    assert (cfg["ensemble_weight_batch"], cfg["ensemble_weight_online"]) == (0.9, 0.1) and "batch 90 %" in text


def test_intervals_switches_and_profiles_go_through_the_config_store(fresh):
    path = fresh.data_dir / "config.json"
    intervals = {"data_collection_interval_minutes": 2, "online_update_interval_minutes": 10,
                 "batch_retrain_interval_hours": 12}
    cfg, _ = apply_change(fresh.config, "cfg-apply", None, {}, intervals, None, None)
    assert cfg["online_update_interval_minutes"] == 10
    before = path.read_text()
    with pytest.raises(ValidationError) as err:
        apply_change(fresh.config, "cfg-apply", None, {}, {**intervals, "batch_retrain_interval_hours": None}, None, None)
    assert err.value.field == "batch_retrain_interval_hours" and path.read_text() == before
    cfg, _ = apply_change(fresh.config, "cfg-auto_retrain_enabled", None, {"auto_retrain_enabled": False}, {}, None, None)
    assert cfg["auto_retrain_enabled"] is False
    apply_change(fresh.config, "profile-save", None, {}, {}, "quiet", None)
    apply_change(fresh.config, "cfg-auto_retrain_enabled", None, {"auto_retrain_enabled": True}, {}, None, None)
    cfg, text = apply_change(fresh.config, "profile-load", None, {}, {}, None, "quiet")
    assert cfg["auto_retrain_enabled"] is False and "quiet" in text
    with pytest.raises(ValidationError) as err:
        apply_change(fresh.config, "profile-save", None, {}, {}, "bad name!", None)
    assert err.value.field == "profile"


def test_jobs_from_the_page_are_recorded_with_trigger_and_progress(system):
    seen = []
    record = run_from_page(system, "batch_retrain", seen.append)
    assert record["trigger"] == "dashboard" and record["outcome"] == "ok", record
    assert seen[0] == (0, "starting") and seen[-1][0] == 100 and len(seen) > 2
    assert all(0 <= pct <= 100 for pct, _ in seen)
    assert system.jobs.history("batch_retrain", 1)[0]["trigger"] == "dashboard"
    seen.clear()
    record = run_from_page(system, "online_update", seen.append)
    assert record["trigger"] == "dashboard" and record["outcome"] in ("ok", "skipped")
    record = run_from_page(system, "collect", seen.append)  # every job button's job runs from the page
    assert record["trigger"] == "dashboard" and record["outcome"] == "ok", record
    record = run_from_page(system, "backfill", seen.append, **job_options("backfill", [40]))
    assert record["trigger"] == "dashboard" and record["outcome"] == "ok", record


@pytest.mark.parametrize("days", [None, 0, -5, 3651, "ten", 2.5])
def test_backfill_days_from_the_page_are_checked_like_the_setting(days):
    with pytest.raises(ValidationError) as err:
        job_options("backfill", [days])
    assert err.value.field == "days"


def test_job_options_map_page_inputs_to_job_keywords():
    assert job_options("backfill", [90]) == {"days": 90}
    assert job_options("collect", []) == {}


def test_a_fresh_worker_serves_concurrent_first_requests(tmp_path):
    """Several script requests reaching a fresh server process at once (a new gunicorn worker) all succeed."""
    first = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": REPLAY})
    page = first.server.test_client().get("/").get_data(as_text=True)
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert len(scripts) >= 5
    fresh = dashboard.create_app({"data_dir": tmp_path / "d", "start_scheduler": False, "environ": REPLAY})
    start, statuses = threading.Barrier(len(scripts)), []

    def get(url):
        client = fresh.server.test_client()
        start.wait()
        statuses.append(client.get(url).status_code)
    threads = [threading.Thread(target=get, args=(url,)) for url in scripts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * len(scripts)

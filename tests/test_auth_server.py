"""The guard against a real server bound off loopback (0.0.0.0, reached through 127.0.0.1).

Every Dash callback the app registers (read from its own /_dash-dependencies, so a new callback is covered
without touching this file), posted without a session, is refused 403 and changes nothing: config file,
profiles, job runs started from the page, the online buffer. With a session the same requests work; with
the session but from another site they are refused again. Every other route needs credentials too.
"""
from __future__ import annotations

import json

import pytest

from engine.db import Database
from tests.browser_fixtures import DashboardServer, wait_until
from tests.deploy_fixtures import AUTH_ENV, BEARER, TOKEN, callback_body, login, request

pytestmark = pytest.mark.slow
# no collection or retrain of its own: whatever changes, a request did it
ENV = AUTH_ENV | {"HLS_DATA_COLLECTION_ENABLED": "false", "HLS_AUTO_RETRAIN_ENABLED": "false"}
# trigger values a user would send: a click, a slider move, a switch, a filled-in field
TRIGGERS = {"n_clicks": 1, "value": 0.2}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = DashboardServer(tmp_path_factory.mktemp("guarded") / "data", env=ENV, host="0.0.0.0")
    try:
        yield srv.wait_ready(headers=BEARER)
    finally:
        srv.stop()


def _dependencies(server) -> list[dict]:
    status, _, body = request(server.port, "GET", "/_dash-dependencies", headers=BEARER)
    assert status == 200
    return json.loads(body)


def _state(server) -> dict:
    """Everything a callback could change."""
    db = Database(server.data_dir / "market.db")
    config = server.data_dir / "config.json"
    return {"config": config.read_bytes() if config.exists() else None,
            "profiles": sorted(p.name for p in (server.data_dir / "profiles").glob("*")),
            "runs": [dict(r) for r in db.query("SELECT id, job, trigger, outcome FROM job_runs "
                                               "WHERE trigger != 'schedule'")],
            "buffer": db.query("SELECT COUNT(*) AS n FROM online_samples")[0]["n"],
            "candles": db.query("SELECT COUNT(*) AS n FROM candles")[0]["n"]}


def _bodies(server) -> list[dict]:
    deps = _dependencies(server)
    assert len(deps) >= 10  # collect, backfill, update, retrain, settings, form, fill, predict, panels, ...
    return [callback_body(dep, {f"{i['id']}.{i['property']}": TRIGGERS.get(i["property"])
                                for i in dep["inputs"] + dep["state"]}) for dep in deps]


def test_every_callback_is_refused_without_a_session_and_changes_nothing(server):
    before = _state(server)
    bodies = _bodies(server)
    outputs = {b["output"] for b in bodies}
    for needed in ("collect-result.children", "batch_retrain-result.children", "settings-message.children",
                   "form-message.children"):
        assert any(needed in o for o in outputs), needed
    for body in bodies:
        for headers in ({}, {"Cookie": "hls_session=forged"}, {"Authorization": "Bearer wrong"}):
            status, _, answer = request(server.port, "POST", "/_dash-update-component", body, headers)
            assert status == 403, (body["output"], headers, status, answer[:200])
    assert _state(server) == before


def test_with_a_session_callbacks_work_but_not_from_another_site(server):
    cookie = login(server.port)
    deps = {d["output"]: d for d in _dependencies(server)}
    slider = next(d for o, d in deps.items() if "weight-label.children" in o)
    body = callback_body(slider, {"weight-slider.value": 0.2})
    before = _state(server)
    for cross in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                  {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1.nip.io"}):
        status, _, _ = request(server.port, "POST", "/_dash-update-component", body, {"Cookie": cookie, **cross})
        assert status == 403, cross
    assert _state(server) == before

    same_origin = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    status, _, answer = request(server.port, "POST", "/_dash-update-component", body, same_origin)
    assert status == 200, answer[:300]
    assert json.loads((server.data_dir / "config.json").read_text())["ensemble_weight_batch"] == pytest.approx(0.2)

    collect = next(d for o, d in deps.items() if "collect-result.children" in o)
    status, _, answer = request(server.port, "POST", "/_dash-update-component",
                                callback_body(collect, {"collect-run.n_clicks": 1}), same_origin)
    assert status in (200, 202), answer[:300]  # a background job: started, answered with its key
    db = Database(server.data_dir / "market.db")
    wait_until(lambda: db.query("SELECT COUNT(*) AS n FROM job_runs WHERE job='collect' AND trigger='dashboard' "
                                "AND outcome != 'running'")[0]["n"], 90, "the page's collect to run")


def test_every_route_needs_credentials_off_loopback(server):
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/assets/dashboard.css", "/metrics",
                 "/ml/hybrid/status", "/ml/openapi.json", "/_dash-component-suites/dash/dcc/async-graph.js"):
        status, headers, _ = request(server.port, "GET", path)
        assert status in (401, 403), (path, status)
        assert request(server.port, "GET", path, headers=BEARER)[0] == 200, path
    status, headers, _ = request(server.port, "GET", "/", headers={"Accept": "text/html"})
    assert status == 302 and headers["Location"] == "/login?next=%2F"
    assert request(server.port, "GET", "/vendor/bootstrap.min.css")[0] == 200  # the login page's stylesheet
    status, _, page = request(server.port, "GET", "/login")
    assert status == 200 and b"/vendor/bootstrap.min.css" in page and b"cdn" not in page.lower()

    status, _, _ = request(server.port, "POST", "/ml/hybrid/config", {"ensemble_weight_batch": 0.5})
    assert status == 401
    status, _, _ = request(server.port, "POST", "/login", f"token=wrong{TOKEN}",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401
    status, headers, _ = request(server.port, "POST", "/login", f"token={TOKEN}&next=//evil.example/x",
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302 and headers["Location"] == "/"  # never redirected off-site
    flags = {f.strip().lower() for f in headers["Set-Cookie"].split(";")[1:]}
    assert {"httponly", "samesite=strict"} <= flags and "secure" not in flags  # plain http
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    assert request(server.port, "GET", "/metrics", headers={"Cookie": cookie})[0] == 200

    # behind a TLS proxy on this host (gunicorn trusts X-Forwarded-Proto from 127.0.0.1): a Secure cookie
    _, headers, _ = request(server.port, "POST", "/login", f"token={TOKEN}",
                            {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"})
    assert "secure" in {f.strip().lower() for f in headers["Set-Cookie"].split(";")[1:]}

    status, headers, _ = request(server.port, "POST", "/logout", "", {"Cookie": cookie})
    assert status == 302 and headers["Location"] == "/login"
    assert request(server.port, "GET", "/metrics", headers={"Cookie": headers["Set-Cookie"].split(";", 1)[0]})[0] == 401
    assert request(server.port, "GET", "/metrics", headers={"Cookie": cookie})[0] == 401  # a kept copy is void too

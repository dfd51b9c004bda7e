"""Credentials and the guard (server.auth) on the API app in-process: bind check, bearer token, login
session, logout, cross-site refusal, loopback Host check. Real servers: tests/test_auth_server.py."""
from __future__ import annotations

import pytest

from api.security import InsecureBind, bearer_ok, check_bind, is_loopback
from server.auth import Access, cross_site
from tests.deploy_fixtures import SECRET, TOKEN
from tests.system_fixtures import make_client, make_system

OPEN = Access("0.0.0.0", TOKEN, SECRET)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("127.1.2.3", True), ("0.0.0.0", False),
                                            ("", False), ("192.168.1.5", False), ("example.com", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_check_bind_names_the_missing_variable():
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN, SECRET)
    with pytest.raises(InsecureBind, match="HLS_API_TOKEN"):
        check_bind("0.0.0.0", None, SECRET)
    with pytest.raises(InsecureBind, match="HLS_API_TOKEN .at least 16"):
        check_bind("10.0.0.2", "short", SECRET)
    with pytest.raises(InsecureBind, match="HLS_SECRET_KEY"):
        check_bind("0.0.0.0", TOKEN, None)
    with pytest.raises(InsecureBind, match="HLS_SECRET_KEY"):
        check_bind("::", TOKEN, "x" * 31)


def test_bearer_comparison():
    assert bearer_ok("Bearer s3cret", "s3cret") and bearer_ok("bearer s3cret", "s3cret")
    assert not bearer_ok("Bearer s3cre", "s3cret") and not bearer_ok(None, "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret")


def test_loopback_needs_no_login_but_refuses_other_sites_and_foreign_host_names(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system)
    assert client.get("/ml/hybrid/status").status_code == 200
    body = {"ensemble_weight_batch": 0.6}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        resp = client.post("/ml/hybrid/config", json=body, headers=headers)
        assert resp.status_code == 403 and resp.get_json()["field"] == "Origin", headers
    assert client.get("/ml/hybrid/status", headers={"Host": "rebound.example:8050"}).status_code == 403
    assert system.config.current()["ensemble_weight_batch"] == 0.7
    ok = client.post("/ml/hybrid/config", json=body, headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200 and system.config.current()["ensemble_weight_batch"] == 0.6


def test_off_loopback_every_request_needs_the_token_or_a_session(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system, OPEN)
    body = {"ensemble_weight_batch": 0.6}
    resp = client.get("/ml/hybrid/status")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/ml/hybrid/config", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 403
    assert system.config.current()["ensemble_weight_batch"] == 0.7
    ok = client.post("/ml/hybrid/config", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and system.config.current()["ensemble_weight_batch"] == 0.6

    assert client.post("/login", data={"token": "wrong" + TOKEN}, headers=FORM).status_code == 401
    resp = client.post("/login", data={"token": TOKEN, "next": "/ml/hybrid/status"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/ml/hybrid/status"
    assert client.get("/ml/hybrid/status").status_code == 200  # the session cookie
    resp = client.post("/ml/hybrid/config", json={"ensemble_weight_batch": 0.3}, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 403 and system.config.current()["ensemble_weight_batch"] == 0.6

    other = make_client(system, Access("0.0.0.0", TOKEN + "-rotated", SECRET))[1]
    other.set_cookie("hls_session", client.get_cookie("hls_session").value)
    assert other.get("/ml/hybrid/status").status_code == 401  # a new token ends the sessions of the old one

    assert client.post("/logout").status_code == 302
    assert client.get("/ml/hybrid/status").status_code == 401


def test_https_requests_get_a_secure_cookie(data_dir):
    _, client = make_client(make_system(data_dir), OPEN)
    resp = client.post("/login", data={"token": TOKEN}, base_url="https://hls.example")
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_cross_site_detection():
    class Req:
        scheme, host = "http", "10.0.0.5:8050"

        def __init__(self, **headers):
            self.headers = headers
    assert cross_site(Req()) is None  # a non-browser client
    assert cross_site(Req(**{"Sec-Fetch-Site": "same-origin", "Origin": "http://10.0.0.5:8050"})) is None
    assert cross_site(Req(**{"Sec-Fetch-Site": "none"})) is None  # typed into the address bar
    assert "same-site" in cross_site(Req(**{"Sec-Fetch-Site": "same-site"}))
    assert "Origin" in cross_site(Req(Origin="https://10.0.0.5:8050"))  # another scheme is another origin

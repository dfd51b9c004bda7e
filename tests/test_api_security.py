"""API security: bind check, bearer token on POSTs, refusal off loopback without a token; a real server."""
from __future__ import annotations

import http.client
import json
import threading

import pytest
from werkzeug.serving import make_server

from api.security import InsecureBind, bearer_ok, check_bind, is_loopback
from tests.system_fixtures import make_client, make_system


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("127.1.2.3", True), ("0.0.0.0", False),
                                            ("", False), ("192.168.1.5", False), ("example.com", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_check_bind_refuses_open_addresses_without_token():
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(InsecureBind, match="HLS_API_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(InsecureBind):
        check_bind("10.0.0.2", "")


def test_bearer_comparison():
    assert bearer_ok("Bearer s3cret", "s3cret") and bearer_ok("bearer s3cret", "s3cret")
    assert not bearer_ok("Bearer s3cre", "s3cret") and not bearer_ok(None, "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret")


def test_token_guards_posts_only(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system, token="s3cret")
    assert client.get("/ml/hybrid/config").status_code == 200
    body = {"ensemble_weight_batch": 0.6}
    resp = client.post("/ml/hybrid/config", json=body)
    assert resp.status_code == 401 and resp.get_json()["field"] == "Authorization"
    assert client.post("/ml/hybrid/config", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert system.config.current()["ensemble_weight_batch"] == 0.7
    ok = client.post("/ml/hybrid/config", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and system.config.current()["ensemble_weight_batch"] == 0.6


def test_without_token_posts_are_refused_off_loopback(data_dir):
    system = make_system(data_dir)
    _, client = make_client(system)
    resp = client.post("/ml/hybrid/config", json={"ensemble_weight_batch": 0.6},
                       environ_overrides={"SERVER_NAME": "0.0.0.0"})
    assert resp.status_code == 403
    assert system.config.current()["ensemble_weight_batch"] == 0.7


def test_real_server_on_loopback(data_dir):
    system = make_system(data_dir)
    app, _ = make_client(system, token="s3cret")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def call(method, path, body=None, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            out = resp.status, json.loads(resp.read())
            conn.close()
            return out

        status, body = call("GET", "/ml/hybrid/status")
        assert status == 200 and body["config"]["data_source"] == "replay"
        assert call("POST", "/ml/hybrid/config", '{"ensemble_weight_online": 0.5}')[0] == 401
        status, body = call("POST", "/ml/hybrid/config", '{"ensemble_weight_online": 0.5}',
                            {"Authorization": "Bearer s3cret"})
        assert status == 200 and body["config"]["ensemble_weight_batch"] == 0.5
        status, body = call("POST", "/ml/hybrid/config", "not json", {"Authorization": "Bearer s3cret"})
        assert status == 400 and body["field"] == "body"
    finally:
        server.shutdown()
        thread.join(5)

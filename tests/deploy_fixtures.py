"""Deployment test helpers: credentials, a real redis-server and Celery worker, Dash callback requests.

redis-server (Debian's package; .ci/run installs it) runs on a free loopback port with no persistence and
is stopped by its pid; tests needing it skip with a reason when it is missing outside CI.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.paths import PROJECT_ROOT
from tests.browser_fixtures import SERVER_ENV, end_process, free_port, wait_until

TOKEN = "test-token-0123456789abcdef"
SECRET = "test-secret-0123456789abcdef-0123456789abcdef"
AUTH_ENV = {"HLS_API_TOKEN": TOKEN, "HLS_SECRET_KEY": SECRET}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def request(port: int, method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, body bytes) of one HTTP request to 127.0.0.1:``port``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
    hdrs = {"Content-Type": "application/json"} if body is not None and not isinstance(body, str) else {}
    conn.request(method, path, body=data, headers={**hdrs, **(headers or {})})
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


def login(port: int) -> str:
    """Log in through POST /login; the session cookie ("name=value") it sets."""
    status, headers, _ = request(port, "POST", "/login", f"token={TOKEN}&next=/",
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302, status
    return headers["Set-Cookie"].split(";", 1)[0]


def _spec(key: str) -> tuple:
    """'id.prop' of Dash's dependency strings -> (id, prop); a pattern id is JSON."""
    cid, prop = key.rsplit(".", 1)
    return (json.loads(cid) if cid.startswith("{") else cid), prop


def callback_body(dep: dict, values: dict[str, object] | None = None) -> dict:
    """A /_dash-update-component body for dependency ``dep`` (from /_dash-dependencies), triggered by its
    first input, with ``values`` ({"id.prop": value}) for inputs and states (None otherwise)."""
    values = values or {}
    out = dep["output"]
    outputs = [_spec(k) for k in out.strip(".").split("...")] if out.startswith("..") else [_spec(out)]

    def item(spec):
        cid, prop = spec["id"], spec["property"]
        if cid.startswith("{"):  # a pattern (ALL): a list of matching components
            return []
        return {"id": cid, "property": prop, "value": values.get(f"{cid}.{prop}")}
    first = dep["inputs"][0]
    return {"output": out,
            "outputs": [{"id": c, "property": p} for c, p in outputs] if out.startswith("..")
            else {"id": outputs[0][0], "property": outputs[0][1]},
            "inputs": [item(i) for i in dep["inputs"]], "state": [item(s) for s in dep["state"]],
            "changedPropIds": [f"{first['id']}.{first['property']}"]}


def require_redis() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing but CI is set: .ci/run installs it")
        pytest.skip("redis-server not installed (Debian package redis-server; .ci/run installs it)")
    return path


class RedisServer:
    """A throw-away redis-server on a free loopback port (no persistence); stop() ends that process."""

    def __init__(self, work_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen([require_redis(), "--port", str(self.port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", str(work_dir)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._pong, 30, "redis-server to answer PING")

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        end_process(self.proc)


class CeleryWorker:
    """``python app.py worker`` on ``data_dir`` (REDIS_URL ``redis_url``); ready once Celery says so."""

    def __init__(self, data_dir: Path, redis_url: str, concurrency: int = 1, env: dict | None = None):
        self.log_path = data_dir.parent / f"worker-{free_port()}.log"
        self._log = open(self.log_path, "w")
        environ = ({k: v for k, v in os.environ.items() if not k.startswith("HLS_")} | SERVER_ENV | (env or {})
                   | {"REDIS_URL": redis_url})
        self.proc = subprocess.Popen([sys.executable, "app.py", "worker", "--data-dir", str(data_dir),
                                      "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"],
                                     cwd=PROJECT_ROOT, env=environ, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 90) -> "CeleryWorker":
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            return " ready." in self.log()
        wait_until(ready, timeout, "the Celery worker to be ready")
        return self

    def stop(self) -> None:
        end_process(self.proc)
        self._log.close()

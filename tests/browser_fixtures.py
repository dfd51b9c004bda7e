"""A real dashboard server (``python app.py`` in a subprocess, replay data) and a headless Chromium page.

Browser tests skip only when /usr/bin/chromium is missing and $CI is unset; in CI they must run.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from engine.paths import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
# Replay the bundled candles; a small minimum so a manual online update always has work after a collect.
SERVER_ENV = {"HLS_DATA_SOURCE": "replay", "HLS_BACKFILL_DAYS": "30", "HLS_MIN_DATA_POINTS_FOR_UPDATE": "1"}


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing but CI is set: browser tests must run in CI")
        pytest.skip(f"{CHROMIUM} not installed (install Debian's chromium; CI installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition()`` until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def click_job(page, job: str, timeout: float = 180) -> set[str]:
    """Click a job's button on the page and wait until its run finished (while it runs, its progress bar shows
    and Cancel is live); returns the progress labels seen."""
    page.click(f"#{job}-run")
    page.wait_for_selector(f"#{job}-run:disabled", timeout=timeout * 1000)
    assert page.locator(f"#{job}-progress").is_visible() and page.locator(f"#{job}-cancel").is_enabled()
    labels: set[str] = set()

    def finished():
        text = page.locator(f"#{job}-progress").inner_text().strip()
        if text:
            labels.add(text)
        return page.locator(f"#{job}-run").is_enabled() and page.inner_text(f"#{job}-result").strip()
    wait_until(finished, timeout, f"the {job} run to finish", interval=0.05)
    return labels


def _answers(url: str | urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class DashboardServer:
    """``python app.py`` with its own data dir on a port the kernel picks when it binds (``port``/``url`` are
    known after wait_ready(): no other process on this shared machine can take it in between), reached
    through 127.0.0.1 (bound to ``host``: 0.0.0.0 exercises the off-loopback guard); ``args`` are more
    app.py options. stop() ends exactly that process (SIGTERM: gunicorn's graceful stop)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, host: str = "127.0.0.1",
                 args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.port: int | None = None
        self.url: str | None = None
        self.log_path = data_dir.parent / "server.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("HLS_")} | SERVER_ENV | (env or {})
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", host, "--port", "0", "--data-dir", str(data_dir), *args],
            cwd=PROJECT_ROOT, env=environ, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90, path: str = "_dash-layout",
                   headers: dict[str, str] | None = None) -> "DashboardServer":
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if self.port is None:
                self.port = self._listening_port()
                self.url = self.port and f"http://127.0.0.1:{self.port}/"
            return self.port and _answers(urllib.request.Request(self.url + path, headers=headers or {}))
        wait_until(ready, timeout, "the dashboard server to answer")
        return self

    def _listening_port(self) -> int | None:
        import psutil
        try:
            return next((c.laddr.port for c in psutil.Process(self.proc.pid).net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN), None)
        except psutil.NoSuchProcess:
            return None

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        end_process(self.proc)
        self._log.close()


def end_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM exactly this process, SIGKILL if it is still there after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def seeded_server(tmp_path_factory, name: str, seed: Callable[[Path], None], env: dict[str, str]):
    """A server whose data dir ``seed(data_dir)`` filled before it started; a module's ``server`` fixture body
    (``yield from seeded_server(...)``): stopped when the module is done."""
    require_chromium()
    data_dir = tmp_path_factory.mktemp(name) / "data"
    seed(data_dir)
    srv = DashboardServer(data_dir, env=env).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    srv = DashboardServer(tmp_path_factory.mktemp("browser") / "data").wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str):
    """A new page on ``url`` in its own context, with every console error and page error collected in
    ``page.errors``; close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda msg: pg.errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.errors.append(f"pageerror: {exc}"))
    pg.goto(url)
    return pg


@pytest.fixture(scope="module")
def page(browser, server):
    """One page for the module (see open_page)."""
    pg = open_page(browser, server.url)
    yield pg
    pg.context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""Headless Chromium against a server bound off loopback: the page asks for a login, the token opens it,
the weight slider then changes the config, and logging out closes it again."""
from __future__ import annotations

import json

import pytest

from tests.browser_fixtures import DashboardServer, browser, require_chromium, screenshot  # noqa: F401 (fixture)
from tests.deploy_fixtures import AUTH_ENV, BEARER, TOKEN

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    require_chromium()
    srv = DashboardServer(tmp_path_factory.mktemp("login") / "data", env=AUTH_ENV, host="0.0.0.0")
    try:
        yield srv.wait_ready(headers=BEARER)
    finally:
        srv.stop()


def test_login_then_the_slider_changes_the_config_then_logout(browser, guarded):  # noqa: F811
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(guarded.url)
        page.wait_for_selector("input#token", timeout=TIMEOUT_MS)
        assert page.url.startswith(guarded.url + "login")
        page.fill("#token", "not-the-token")
        page.click("button[type=submit]")
        page.wait_for_selector(".alert-danger", timeout=TIMEOUT_MS)
        assert "Wrong token" in page.inner_text(".alert-danger")
        screenshot(page, "login")

        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelector('#weight-label') && "
                               "document.querySelector('#weight-label').innerText.includes('batch')", timeout=TIMEOUT_MS)
        thumb = page.locator("#weight-slider [role=slider]")
        thumb.focus()
        thumb.press("ArrowLeft")
        page.wait_for_function("document.querySelector('#weight-label').innerText === 'batch 65 % / online 35 %'",
                               timeout=TIMEOUT_MS)
        saved = json.loads((guarded.data_dir / "config.json").read_text())
        assert saved["ensemble_weight_batch"] == pytest.approx(0.65)
        screenshot(page, "logged_in")

        assert page.locator(".hls-navbar #logout").is_visible()
        page.click("#logout")
        page.wait_for_selector("input#token", timeout=TIMEOUT_MS)
        page.goto(guarded.url)
        page.wait_for_selector("input#token", timeout=TIMEOUT_MS)  # the dashboard is closed again
        assert errors == []
    finally:
        context.close()

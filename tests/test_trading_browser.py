"""The Market and Trades tabs in headless Chromium against a real ``python app.py`` (replay data, own data dir),
as an operator uses them: per-symbol charts following the picker, zoom synced across a tab's charts, paged
and filtered tables, force exit, the pause switch and the dark theme. Screenshots (light and dark) go to
artifacts/screenshots/.

The data dir is seeded before the server starts with closed paper trades on the first replayed month (so
paging has pages); the server then trades every prediction (threshold 0.5, wide levels: its trades stay
open until force-exited) on the candles it keeps replaying.
"""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from engine.candles import load_sample
from engine.config import validate
from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.system import HybridLearningSystem
from engine.trading import PaperTrader
from trading_fixtures import NO_GATES
from tests.browser_fixtures import (SERVER_ENV, browser, page, screenshot, seeded_server,  # noqa: F401
                                    wait_until)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000
ENV = SERVER_ENV | NO_GATES | {"HLS_OUTCOME_WARMUP_DAYS": "0", "HLS_REPLAY_SPEED": "3600",
                               "HLS_SIGNAL_CONFIDENCE_THRESHOLD": "0.5", "HLS_MAX_OPEN_TRADES_PER_SYMBOL": "100",
                               "HLS_TAKE_PROFIT_PCT": "50", "HLS_STOP_LOSS_PCT": "50", "HLS_MAX_HOLDING_BARS": "10000"}
SEED_RULES = {"take_profit_pct": 1.0, "stop_loss_pct": 0.5, "max_holding_bars": 6, "max_open_trades_per_symbol": 100}
YEARS = {"BTCUSDT": "2017", "ETHUSDT": "2024"}


def seed(data_dir) -> None:
    """The month a replay starts with, per symbol, and a closed paper trade from every third bar of it."""
    system = HybridLearningSystem(data_dir, environ={k: v for k, v in ENV.items()})
    features = {name: 0.01 for name in FEATURE_COLUMNS} | {"williams_r": -50.0}
    seed_config = validate(SEED_RULES, system.config.current())
    trader = PaperTrader(system.db, system.store, lambda: seed_config)  # learning events wait for the server
    for symbol in YEARS:
        candles = load_sample(symbol).iloc[:30 * 24]
        system.store.upsert(symbol, "1h", candles)
        for i in range(100, len(candles) - 10, 3):
            trader.on_prediction({"symbol": symbol, "open_time": int(candles["open_time"].iat[i]),
                                  "ensemble_prediction": (i // 3) % 2, "ensemble_confidence": 0.9, "status": "ok",
                                  "features": features})
            trader.on_candles(symbol)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from seeded_server(tmp_path_factory, "trading_browser", seed, ENV)


def _db(server) -> Database:
    return Database(server.data_dir / "market.db")


def _rows(server, sql: str, params: tuple = ()) -> list[dict]:
    return [dict(r) for r in _db(server).query(sql, params)]


def _open_tab(page, label: str) -> None:
    page.click(f"#tabs a.nav-link:text-is('{label}')")


def _pick(page, symbol: str) -> None:
    page.select_option("#symbol-picker", symbol)


# the axes of a graph that are not matched to another, each with its symbol, range and first x value drawn
# (_fullData: the figure's arrays come as binary, decoded there)
GRAPH_JS = """id => {
    const gd = document.getElementById(id).querySelector('.js-plotly-plot');
    if (!gd || !gd._fullLayout || !gd.layout.meta) return null;
    const sync = gd.layout.meta.xsync;
    return Object.keys(sync).filter(a => !gd._fullLayout[a].matches).map(a => ({
        axis: a, symbol: sync[a], range: gd._fullLayout[a].range.map(String),
        first: (v => typeof v === 'number' ? new Date(v).toISOString() : String(v))(
            (gd._fullData.find(t => t.xaxis === 'x' + a.slice(5) && t.x && t.x.length) || {x: ['']}).x[0])}));
}"""


def _axes(page, graph: str) -> list[dict] | None:
    return page.evaluate(GRAPH_JS, graph)


def _shows(page, graph: str, symbols: list[str]) -> bool:
    """The graph's time axes are those of ``symbols``, each drawn in its own era."""
    axes = _axes(page, graph)
    return bool(axes) and [a["symbol"] for a in axes] == symbols and all(
        a["range"][0].startswith(YEARS[a["symbol"]]) and a["first"].startswith(YEARS[a["symbol"]]) for a in axes)


def _wait_shows(page, graph: str, symbols: list[str]) -> None:
    wait_until(lambda: _shows(page, graph, symbols), TIMEOUT_MS / 1000, f"{graph} to show {symbols}", interval=0.2)


def test_open_trades_table_fits_its_card_with_the_entry_column_visible(page, server):
    page.wait_for_selector("#status-cards .hls-status-card", timeout=TIMEOUT_MS)
    _pick(page, "BTCUSDT")
    _open_tab(page, "Trades")
    page.wait_for_selector("#open-trades-table .hls-exit-button", timeout=TIMEOUT_MS)  # a filled open trade
    fit = page.evaluate("""() => {
        const box = document.querySelector('#open-trades-table');
        const card = box.closest('.card-body').getBoundingClientRect();
        const heads = [...box.querySelectorAll('th')];
        const entry = heads.find(th => th.innerText.trim().toLowerCase() === 'entry').getBoundingClientRect();
        const cells = [...box.querySelectorAll('tbody tr')].map(r => r.lastElementChild.getBoundingClientRect());
        return {overflow: box.scrollWidth - box.clientWidth, entryRight: entry.right, cardRight: card.right,
                lastCellRight: Math.max(...cells.map(c => c.right))};
    }""")
    assert fit["overflow"] <= 0, fit  # nothing hidden behind a scroll bar
    assert fit["entryRight"] <= fit["cardRight"] and fit["lastCellRight"] <= fit["cardRight"], fit
    assert page.errors == []


def test_the_symbol_picker_changes_every_chart_and_table(page, server):
    _open_tab(page, "Market")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        _pick(page, symbol)
        _wait_shows(page, "market-graph", [symbol])
        _wait_shows(page, "market-equity-graph", [symbol])
        page.wait_for_function(f"document.querySelector('#market-summary').innerText.includes('Replay: {symbol}')",
                               timeout=TIMEOUT_MS)
        screenshot(page, f"market_{symbol.lower()}_light")
    _open_tab(page, "Trades")
    _wait_shows(page, "trades-equity-graph", ["ETHUSDT"])
    _wait_shows(page, "trades-pnl-graph", ["ETHUSDT"])
    page.wait_for_function("[...document.querySelectorAll('#performance-table tbody tr')].map(r => "
                           "r.cells[0].innerText).join() === 'ETHUSDT'", timeout=TIMEOUT_MS)
    page.wait_for_function("[...document.querySelectorAll('#closed-trades-table tbody tr')].every(r => "
                           "r.cells[1].innerText === 'ETHUSDT')", timeout=TIMEOUT_MS)
    _pick(page, "ALL")  # one small chart per symbol, each in its own era; per-symbol rows and a total
    for graph in ("trades-equity-graph", "trades-pnl-graph"):
        _wait_shows(page, graph, ["BTCUSDT", "ETHUSDT"])
    page.wait_for_function("[...document.querySelectorAll('#performance-table tbody tr')].map(r => "
                           "r.cells[0].innerText).join() === 'BTCUSDT,ETHUSDT,All symbols'", timeout=TIMEOUT_MS)
    assert "Each symbol replays its own period (they do not overlap)" in page.inner_text("#trades-performance")
    screenshot(page, "trades_all_symbols_light")
    _open_tab(page, "Market")
    _wait_shows(page, "market-graph", ["BTCUSDT", "ETHUSDT"])
    _wait_shows(page, "market-equity-graph", ["BTCUSDT", "ETHUSDT"])
    screenshot(page, "market_all_symbols_light")
    assert page.errors == []


def _drag_zoom(page, graph: str) -> None:
    """Drag across the middle of the graph's first plot area, as a user zooms in."""
    box = page.locator(f"#{graph} .nsewdrag").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()


def _same_range(page, a: str, b: str) -> bool:
    ra, rb = _axes(page, a), _axes(page, b)
    return bool(ra and rb) and [x["range"] for x in ra] == [x["range"] for x in rb]


@pytest.mark.parametrize("tab, source, follower", [("Market", "market-graph", "market-equity-graph"),
                                                   ("Trades", "trades-pnl-graph", "trades-equity-graph")])
def test_zooming_one_chart_moves_the_other(page, server, tab, source, follower):
    _pick(page, "BTCUSDT")
    _open_tab(page, tab)
    _wait_shows(page, source, ["BTCUSDT"])
    _wait_shows(page, follower, ["BTCUSDT"])
    before = _axes(page, source)[0]["range"]
    assert not _same_range(page, source, follower)  # each fits its own data at first
    _drag_zoom(page, source)
    wait_until(lambda: _axes(page, source)[0]["range"] != before and _same_range(page, source, follower), 30,
               f"{follower} to follow the zoom of {source}", interval=0.2)
    assert all(r.startswith("2017") for r in _axes(page, follower)[0]["range"])
    assert page.errors == []


def test_force_exit_closes_exactly_that_trade(page, server):
    _pick(page, "BTCUSDT")
    _open_tab(page, "Trades")
    button = page.locator("#open-trades-table .hls-exit-button").first
    button.wait_for(timeout=TIMEOUT_MS)
    trade_id = int(button.locator("xpath=ancestor::tr").locator("td").first.inner_text().strip("#"))
    others = {r["id"] for r in _rows(server, "SELECT id FROM trading_trades WHERE status='open' AND id != ?",
                                     (trade_id,))}
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.wait_for_selector("#force-exit-result", timeout=TIMEOUT_MS)
    assert f"Trade #{trade_id} (" in page.inner_text("#force-exit-result")
    [trade] = _rows(server, "SELECT status, exit_reason FROM trading_trades WHERE id=?", (trade_id,))
    assert trade == {"status": "closed", "exit_reason": "force_exit"}
    forced = _rows(server, "SELECT id FROM trading_trades WHERE exit_reason='force_exit'")
    assert [r["id"] for r in forced] == [trade_id]  # exactly that one
    still_open = {r["id"] for r in _rows(server, "SELECT id FROM trading_trades WHERE status='open'")}
    assert others <= still_open and not _rows(server, "SELECT id FROM trading_learning_events WHERE trade_id=?",
                                              (trade_id,))
    wait_until(lambda: f"#{trade_id}" not in _column(page, "open-trades-table", "#"), 30,
               "the trade to leave the open trades table")
    assert page.errors == []


def test_pause_switch_stops_new_trades_and_keeps_the_open_ones(page, server):
    _open_tab(page, "Trades")
    page.click("#trading-enabled")
    page.wait_for_function("document.querySelector('#trading-state').innerText === 'paused'", timeout=TIMEOUT_MS)
    assert "open trades are still managed" in page.inner_text("#trading-notice")
    config = json.loads((server.data_dir / "config.json").read_text())
    assert config["trading_enabled"] is False
    paused_at = int(time.time() * 1000) + 500  # a collect already past its config read may still open one
    open_before = {r["id"] for r in _rows(server, "SELECT id FROM trading_trades WHERE status='open'")}
    wait_until(lambda: len(_rows(server, "SELECT id FROM trading_signals WHERE created_at > ?", (paused_at,))) >= 3,
               TIMEOUT_MS / 1000, "new signals while paused", interval=0.5)
    assert not _rows(server, "SELECT id FROM trading_trades WHERE opened_at > ?", (paused_at,))  # no new trade
    notes = {r["note"] for r in _rows(server, "SELECT note FROM trading_signals WHERE created_at > ?", (paused_at,))}
    assert notes == {"trading paused (trading_enabled is off): no trade opened"}
    assert open_before <= {r["id"] for r in _rows(server, "SELECT id FROM trading_trades WHERE status='open'")}
    page.wait_for_function("document.querySelector('#signals-counts').innerText.includes('trading paused') && "
                           "document.querySelector('#signals-table').innerText.includes('held: trading paused')",
                           timeout=TIMEOUT_MS)  # the Signals card says what held them back
    screenshot(page, "trades_paused_light")
    page.click("#trading-enabled")
    page.wait_for_function("document.querySelector('#trading-state').innerText === 'trading on'", timeout=TIMEOUT_MS)
    resumed_at = int(time.time() * 1000)
    wait_until(lambda: _rows(server, "SELECT id FROM trading_trades WHERE opened_at > ?", (resumed_at,)),
               TIMEOUT_MS / 1000, "a new trade once trading is on again", interval=0.5)
    for enabled, state in ((False, "paused"), (True, "trading on")):  # changed through the API: the page follows
        _post_config(server, {"trading_enabled": enabled})
        page.wait_for_function(f"document.querySelector('#trading-state').innerText === '{state}' && "
                               f"document.querySelector('#trading-enabled').checked === {str(enabled).lower()}",
                               timeout=TIMEOUT_MS)
    assert page.errors == []


def _post_config(server, changes: dict) -> None:
    request = urllib.request.Request(server.url + "ml/hybrid/config", data=json.dumps(changes).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _pager_text(page, pager: str) -> str:
    return page.inner_text(f"#{pager}-text")


def _column(page, table: str, name: str) -> list[str]:
    return page.evaluate("""([table, name]) => {
        const t = document.querySelector('#' + table);
        const i = [...t.querySelectorAll('thead th')].findIndex(th => th.innerText.trim().toLowerCase() === name);
        return [...t.querySelectorAll('tbody tr')].map(r => r.cells[i].innerText.trim());
    }""", [table, name])


def test_closed_trades_and_learning_events_page_and_filter(page, server):
    _pick(page, "ETHUSDT")  # only seeded trades close there: the pages hold still
    _open_tab(page, "Trades")
    page.wait_for_function("document.querySelector('#closed-pager-text').innerText.startsWith('1–20 of ')",
                           timeout=TIMEOUT_MS)
    total = int(_pager_text(page, "closed-pager").split(" of ")[1].split()[0])
    assert total > 40
    first = _column(page, "closed-trades-table", "#")
    page.click("#closed-pager a.page-link:text-is('2')")
    page.wait_for_function(f"document.querySelector('#closed-pager-text').innerText === '21–40 of {total} closed "
                           f"trades'", timeout=TIMEOUT_MS)
    second = _column(page, "closed-trades-table", "#")
    assert len(second) == 20 and not set(first) & set(second)
    page.select_option("#closed-side", "SHORT")
    page.wait_for_function("document.querySelector('#closed-pager-text').innerText.startsWith('1–20 of ')",
                           timeout=TIMEOUT_MS)
    wait_until(lambda: set(_column(page, "closed-trades-table", "side")) == {"▼ SHORT"}, 30, "only SHORT trades")
    page.select_option("#closed-exit", "take_profit")
    wait_until(lambda: set(_column(page, "closed-trades-table", "exit")) == {"take profit"}, 30,
               "only take-profit exits")
    assert set(_column(page, "closed-trades-table", "side")) == {"▼ SHORT"}
    status = _column(page, "learning-events-table", "status")
    target = _column(page, "learning-events-table", "target")
    assert status and set(status) <= {"delivered", "pending", "failed"} and set(target) <= {"▲ up", "▼ down"}
    page.select_option("#events-status", "failed")
    page.wait_for_function("document.querySelector('#events-pager-text').innerText === '0 learning events'",
                           timeout=TIMEOUT_MS)
    screenshot(page, "trades_filtered_light")
    assert page.errors == []


THEME_JS = """graph => {
    const luminance = el => {
        for (; el; el = el.parentElement) {
            const m = getComputedStyle(el).backgroundColor.match(/[\\d.]+/g);
            if (m && (m.length < 4 || +m[3] > 0)) return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255;
        }
        return 1;  // the canvas: white
    };
    const svg = document.querySelector('#' + graph + ' .main-svg');
    const tick = document.querySelector('#' + graph + ' .xaxislayer-above text');
    const m = getComputedStyle(tick).fill.match(/[\\d.]+/g);
    return {theme: document.documentElement.getAttribute('data-bs-theme'), page: luminance(document.body),
            chart: luminance(svg), ink: (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255};
}"""


def test_theme_toggle_darkens_page_and_charts_and_is_remembered(page, server):
    _pick(page, "BTCUSDT")
    _open_tab(page, "Market")
    _wait_shows(page, "market-graph", ["BTCUSDT"])
    light = page.evaluate(THEME_JS, "market-graph")
    assert light["theme"] == "light" and light["page"] > 0.8 and light["chart"] > 0.8 and light["ink"] < 0.5
    page.click("#theme-toggle")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'", timeout=TIMEOUT_MS)
    dark = page.evaluate(THEME_JS, "market-graph")
    assert dark["page"] < 0.2 and dark["chart"] < 0.2 and dark["ink"] > 0.6, dark
    screenshot(page, "market_dark")
    page.reload()
    page.wait_for_selector("#status-cards .hls-status-card", timeout=TIMEOUT_MS)
    assert page.evaluate("document.documentElement.getAttribute('data-bs-theme')") == "dark"  # remembered
    _open_tab(page, "Trades")
    _wait_shows(page, "trades-equity-graph", ["BTCUSDT"])
    trades = page.evaluate(THEME_JS, "trades-equity-graph")
    assert trades["chart"] < 0.2 and trades["ink"] > 0.6, trades
    assert page.inner_text("#theme-toggle").strip() == "☀ Light"
    screenshot(page, "trades_dark")
    _open_tab(page, "Hybrid Learning")
    page.wait_for_selector("#accuracy-graph .main-svg", timeout=TIMEOUT_MS)
    screenshot(page, "hybrid_learning_dark")
    page.click("#theme-toggle")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'light'", timeout=TIMEOUT_MS)
    assert page.inner_text("#theme-toggle").strip() == "☾ Dark"
    assert page.errors == []


def test_trades_are_marked_on_the_candles(page, server):
    _pick(page, "BTCUSDT")
    _open_tab(page, "Market")
    page.wait_for_function("[...document.querySelectorAll('#market-graph .legendtext')].some(t => "
                           "t.textContent.endsWith(' entry'))", timeout=TIMEOUT_MS)
    marks = page.evaluate("""() => {
        const gd = document.querySelector('#market-graph .js-plotly-plot');
        return gd._fullData.filter(t => / entry$|^exit, /.test(t.name)).map(t => ({name: t.name, n: t.x.length}));
    }""")
    stored = _rows(server, "SELECT COUNT(*) AS n FROM trading_trades WHERE symbol='BTCUSDT' AND entry_time IS NOT "
                           "NULL")[0]["n"]
    assert marks and 0 < sum(m["n"] for m in marks if m["name"].endswith("entry")) <= stored
    screenshot(page, "market_light")
    assert page.errors == []

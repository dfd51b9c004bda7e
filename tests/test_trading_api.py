"""The trading endpoints on a real HybridLearningSystem: a closed trade's sample lands in the online buffer."""
from __future__ import annotations

import pytest

from tests.system_fixtures import make_client, make_system
from trading_fixtures import FEATURES, HOUR, NO_GATES, T0, bars

FLAT = (100, 100.5, 99.5, 100)


@pytest.fixture(scope="module")
def traded(tmp_path_factory):
    """One closed SHORT (take-profit) on BTCUSDT and one open LONG on ETHUSDT, through the system's trader."""
    system = make_system(tmp_path_factory.mktemp("trading_api") / "data", **NO_GATES)  # gates: test_outcome_live
    system.store.upsert("BTCUSDT", "1h", bars([FLAT, FLAT, (100, 100.2, 97.5, 97.8), FLAT]))
    system.store.upsert("ETHUSDT", "1h", bars([FLAT, FLAT]))
    for symbol, up in (("BTCUSDT", 0), ("ETHUSDT", 1)):
        system.trader.on_prediction({"symbol": symbol, "open_time": T0, "ensemble_prediction": up,
                                     "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
        system.trader.on_candles(symbol)
    return system, make_client(system)[1]


def test_closed_trade_became_an_online_sample_with_the_up_label(traded):
    system, _ = traded
    rows = system.db.query("SELECT symbol, source, target FROM online_samples WHERE source='trade'")
    assert [tuple(r) for r in rows] == [("BTCUSDT", "trade", 0)]  # a winning SHORT teaches "down"


def test_trades_endpoint_filters_and_shows_learning_events(traded):
    _, client = traded
    body = client.get("/ml/trades").get_json()
    assert body["count"] == 2
    closed = client.get("/ml/trades?symbol=btcusdt&status=closed").get_json()["trades"]
    assert len(closed) == 1
    [trade] = closed
    assert (trade["side"], trade["exit_reason"], trade["entry_time"], trade["exit_time"]) == \
           ("SHORT", "take_profit", T0 + HOUR, T0 + 2 * HOUR)
    assert trade["learning_event"]["target"] == 0 and trade["learning_event"]["status"] == "delivered"
    [open_] = client.get("/ml/trades?status=open").get_json()["trades"]
    assert (open_["symbol"], open_["side"], open_["learning_event"]) == ("ETHUSDT", "LONG", None)


def test_trades_endpoint_rejects_bad_filters(traded):
    _, client = traded
    for query, field in (("status=pending", "status"), ("symbol=DOGEUSDT", "symbol"), ("limit=0", "limit")):
        resp = client.get(f"/ml/trades?{query}")
        assert resp.status_code == 400 and resp.get_json()["field"] == field


def test_stats_endpoint_answers_per_symbol_with_totals(traded):
    _, client = traded
    body = client.get("/ml/trading/stats").get_json()
    assert list(body["symbols"]) == ["BTCUSDT", "ETHUSDT"] and body["trading_enabled"] is True
    s = body["symbols"]["BTCUSDT"]
    assert (s["trades"], s["open_trades"], s["wins"], s["win_rate"]) == (1, 0, 1, 1.0)
    assert body["totals"]["open_trades"] == 1 and body["totals"]["pnl_usdt"] == pytest.approx(s["pnl_usdt"])
    assert "buy_and_hold" not in body["totals"]  # BTC and ETH trade in different eras: never one buy-and-hold
    assert client.get("/ml/trading/stats?symbol=btcusdt").get_json() == {"trading_enabled": True, **s}
    entry = 100 * (1 - 0.0005)  # default costs: slippage 0.05 %, fee 0.1 % per side, take-profit 2 %
    exit_ = entry * 0.98 * 1.0005
    qty = 1000 / entry
    assert s["pnl_usdt"] == pytest.approx(qty * (entry - exit_) - (1000 + qty * exit_) * 0.001)
    assert s["learning_events"] == {"pending": 0, "delivered": 1, "failed": 0}
    assert s["buy_and_hold"]["pnl_usdt"] is not None and "max_drawdown_pct" in s and "exposure" in s
    assert s["span"] == [T0 + HOUR, T0 + 3 * HOUR] and s["profit_factor"] is None
    eth = client.get("/ml/trading/stats?symbol=ETHUSDT").get_json()
    assert (eth["trades"], eth["open_trades"], eth["win_rate"]) == (0, 1, None)
    spec = client.get("/ml/openapi.json").get_json()
    assert {"/ml/trades", "/ml/trading/stats"} <= set(spec["paths"])


@pytest.fixture
def many(tmp_path):
    """Six BTCUSDT trades: five closed (alternating LONG/SHORT, all at max holding), the last one open."""
    system = make_system(tmp_path / "data", **NO_GATES)
    system.store.upsert("BTCUSDT", "1h", bars([FLAT] * 7))
    for i in range(6):
        system.config.update({"max_holding_bars": 1 if i < 5 else 24})  # each trade keeps the rules it opened with
        system.trader.on_prediction({"symbol": "BTCUSDT", "open_time": T0 + i * HOUR, "ensemble_prediction": i % 2,
                                     "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
        system.trader.on_candles("BTCUSDT")
    return system, make_client(system)[1]


def test_trades_endpoint_pages_and_filters_with_a_total(many):
    _, client = many
    first = client.get("/ml/trades?status=closed&limit=2").get_json()
    second = client.get("/ml/trades?status=closed&limit=2&offset=2").get_json()
    assert (first["count"], first["total"], second["total"]) == (2, 5, 5)
    ids = [t["id"] for t in first["trades"] + second["trades"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4  # newest first, no overlap
    shorts = client.get("/ml/trades?side=SHORT&exit_reason=max_holding").get_json()
    assert shorts["total"] == 3 and {t["side"] for t in shorts["trades"]} == {"SHORT"}
    for query, field in (("side=UP", "side"), ("exit_reason=luck", "exit_reason"), ("offset=-1", "offset")):
        resp = client.get(f"/ml/trades?{query}")
        assert resp.status_code == 400 and resp.get_json()["field"] == field


def test_force_exit_endpoint_closes_exactly_that_trade_once(many):
    system, client = many
    [open_] = system.trader.trades(status="open")
    before = {t["id"]: t for t in system.trader.trades(status="closed")}
    resp = client.post(f"/ml/trades/{open_['id']}/exit")
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["status"], body["forced"], body["trade"]["id"], body["trade"]["exit_reason"]) == \
           ("closed", True, open_["id"], "force_exit")
    assert {t["id"]: t for t in system.trader.trades(status="closed") if t["id"] != open_["id"]} == before
    again = client.post(f"/ml/trades/{open_['id']}/exit")
    assert again.status_code == 409 and again.get_json()["trade"]["exit_reason"] == "force_exit"
    missing = client.post("/ml/trades/999/exit")
    assert missing.status_code == 404 and missing.get_json()["field"] == "trade_id"
    bad = client.post("/ml/trades/first/exit")
    assert bad.status_code == 400 and bad.get_json()["field"] == "trade_id"
    assert "/ml/trades/{trade_id}/exit" in client.get("/ml/openapi.json").get_json()["paths"]


def test_trading_can_be_paused_through_the_config_endpoint(many):
    system, client = many
    resp = client.post("/ml/hybrid/config", json={"trading_enabled": "off"})
    assert resp.status_code == 400 and resp.get_json()["field"] == "trading_enabled"
    assert client.post("/ml/hybrid/config", json={"trading_enabled": False}).status_code == 200
    assert client.get("/ml/trading/stats").get_json()["trading_enabled"] is False
    system.store.upsert("BTCUSDT", "1h", bars([FLAT], start=T0 + 7 * HOUR))
    signal = system.trader.on_prediction({"symbol": "BTCUSDT", "open_time": T0 + 7 * HOUR, "ensemble_prediction": 1,
                                          "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
    assert signal["status"] == "skipped" and system.trader.count_trades() == 6


def test_signals_endpoint_says_what_traded_and_what_held_signals_back(traded):
    system, client = traded
    system.config.update({"trading_enabled": False})
    try:
        system.trader.on_prediction({"symbol": "ETHUSDT", "open_time": T0 + HOUR, "ensemble_prediction": 0,
                                     "ensemble_confidence": 0.9, "status": "ok", "features": FEATURES})
    finally:
        system.config.update({"trading_enabled": True})
    body = client.get("/ml/signals?symbol=ethusdt").get_json()
    assert body["total"] == 2 and body["counts"]["traded"] == 1 and body["counts"]["held_by"]["paused"] == 1
    newest = body["signals"][0]
    assert (newest["side"], newest["status"], newest["held_by"]) == ("SHORT", "skipped", "paused")
    assert "features" not in newest and "trading paused" in newest["note"]
    page = client.get("/ml/signals?limit=1&offset=1").get_json()
    assert page["total"] == 3 and len(page["signals"]) == 1
    assert client.get("/ml/signals?limit=0").status_code == 400

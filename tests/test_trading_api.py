"""The trading endpoints on a real HybridLearningSystem: a closed trade's sample lands in the online buffer."""
from __future__ import annotations

import pytest

from tests.system_fixtures import make_client, make_system
from trading_fixtures import FEATURES, HOUR, T0, bars

FLAT = (100, 100.5, 99.5, 100)


@pytest.fixture(scope="module")
def traded(tmp_path_factory):
    """One closed SHORT (take-profit) on BTCUSDT and one open LONG on ETHUSDT, through the system's trader."""
    system = make_system(tmp_path_factory.mktemp("trading_api") / "data", HLS_COST_GATE_ENABLED="false",
                         HLS_OUTCOME_GATE_ENABLED="false")  # every confident call trades (gates: test_outcome_live)
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


def test_stats_endpoint(traded):
    _, client = traded
    s = client.get("/ml/trading/stats").get_json()
    assert (s["trades"], s["open_trades"], s["wins"], s["win_rate"]) == (1, 1, 1, 1.0)
    entry = 100 * (1 - 0.0005)  # default costs: slippage 0.05 %, fee 0.1 % per side, take-profit 2 %
    exit_ = entry * 0.98 * 1.0005
    qty = 1000 / entry
    assert s["pnl_usdt"] == pytest.approx(qty * (entry - exit_) - (1000 + qty * exit_) * 0.001)
    assert s["learning_events"] == {"pending": 0, "delivered": 1, "failed": 0}
    assert s["buy_and_hold"]["pnl_usdt"] is not None and "max_drawdown_pct" in s and "exposure" in s
    eth = client.get("/ml/trading/stats?symbol=ETHUSDT").get_json()
    assert (eth["trades"], eth["open_trades"], eth["win_rate"]) == (0, 1, None)
    spec = client.get("/ml/openapi.json").get_json()
    assert {"/ml/trades", "/ml/trading/stats"} <= set(spec["paths"])

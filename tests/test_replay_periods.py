"""Replaying several symbols: each plays its own period, and the data-collection stats say so."""
from __future__ import annotations

from tests.system_fixtures import make_client, make_system


def test_data_collection_stats_say_each_symbol_replays_its_own_period(tmp_path):
    system = make_system(tmp_path / "data", collect=True)
    replay = make_client(system)[1].get("/ml/data_collection/stats").get_json()["replay"]
    assert set(replay["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    assert replay["periods"] == ("Each symbol replays its own period (they do not overlap): "
                                 "BTCUSDT 2017-08-17 → 2023-01-01, ETHUSDT 2024-05-13 → 2026-05-13.")
    single = make_system(tmp_path / "one", collect=True, HLS_SYMBOLS="ETHUSDT")
    assert single.data_collection()["replay"]["periods"] is None  # one symbol: nothing to explain

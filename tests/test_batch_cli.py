"""`python -m engine batch-versions | batch-rollback` on a data dir with two trained versions."""
from __future__ import annotations

import pytest

from engine.batch import BatchTrainer
from engine.candles import load_sample
from engine.cli import main
from engine.config import validate
from engine.db import Database
from engine.store import CandleStore


@pytest.fixture
def trained(data_dir, monkeypatch):
    monkeypatch.setenv("HLS_DATA_SOURCE", "replay")  # never the internet
    db = Database(data_dir / "market.db")
    store = CandleStore(db)
    store.upsert("BTCUSDT", "1h", load_sample("BTCUSDT").iloc[-1200:])
    trainer = BatchTrainer(db, store, data_dir / "models", data_dir / "locks", lambda: validate({}))
    for days in (20, 45):  # windows whose model beats the majority-class baseline on its hold-out
        trainer.config = lambda days=days: validate({"symbols": ["BTCUSDT"], "batch_window_days": days})
        trainer.rollback(trainer.retrain(trigger=f"days{days}")["version"])
    return trainer


def test_versions_lists_newest_first_with_the_active_one_marked(trained, data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "batch-versions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("*       2") and "days45" in lines[1]
    assert lines[2].startswith("        1") and "days20" in lines[2] and "promoted: the 20-day window's hold-out" in lines[2]
    assert f"{trained.active()['metrics']['log_loss']:9.5f}" in lines[1]


def test_rollback_to_previous_then_to_a_given_version(trained, data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "batch-rollback"]) == 0
    assert capsys.readouterr().out.strip() == "active batch model: v1 (was v2)"
    assert trained.active()["version"] == 1  # seen by another BatchTrainer on the same files
    assert main(["--data-dir", str(data_dir), "batch-rollback", "--version", "7"]) == 2
    assert "version: no stored model file for version 7" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "batch-rollback", "--version", "2"]) == 0
    assert capsys.readouterr().out.strip() == "active batch model: v2 (was v1)"

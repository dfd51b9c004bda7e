"""BatchTrainer on the real bundled candles in a real CandleStore: the window ladder, purge gap, the live
record, versions, rollback, pruning, progress, cross-process reload."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from engine.batch import BatchTrainer, ladder, trainer as trainer_module
from engine.batch.track import describe
from engine.candles import INTERVAL_MS, load_sample, resample
from engine.config import validate
from engine.db import Database
from engine.errors import NotReady, ValidationError
from engine.features import FEATURE_COLUMNS, build_dataset
from engine.locks import LockBusy, ProcessLock
from engine.store import CandleStore

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BARS = 2600  # 90 days of 1h bars plus feature history
HOUR = INTERVAL_MS["1h"]
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A data dir whose market.db holds the last BARS real 1h candles of each bundled symbol."""
    root = tmp_path_factory.mktemp("batch_market")
    db = Database(root / "market.db")
    store = CandleStore(db)
    for symbol in SYMBOLS:
        store.upsert(symbol, "1h", load_sample(symbol).iloc[-BARS:])
    return root, db, store


@pytest.fixture
def make_trainer(market, tmp_path):
    """BatchTrainer(settings) over the shared store with this test's own model and lock dirs."""
    _, db, store = market

    def make(**settings) -> BatchTrainer:
        config = validate(settings)
        return BatchTrainer(db, store, tmp_path / "models", tmp_path / "locks", lambda: config)
    return make


@pytest.fixture(scope="module")
def sample_rows(market):
    X, _ = build_dataset(market[2].range("ETHUSDT", "1h"), 1)
    return X.iloc[-50:]


@pytest.fixture
def invert_labels(monkeypatch):
    """Call it to make later retrains fit on 1 - y (models that learned the opposite of the truth);
    ``monkeypatch.undo()`` restores honest training."""
    ridge, trees = ladder.fit_ridge_logit, ladder.fit_trees

    def invert():
        monkeypatch.setattr(ladder, "fit_ridge_logit", lambda X, y: ridge(X, 1 - np.asarray(y)))
        monkeypatch.setattr(ladder, "fit_trees", lambda X, y: trees(X, 1 - np.asarray(y)))
    return invert


def test_retrain_fits_every_window_and_judges_the_longest_on_its_purged_holdout_first(make_trainer, market,
                                                                                      sample_rows):
    trainer = make_trainer()
    assert trainer.active() is None and trainer.versions() == [] and trainer.predict_proba(sample_rows) is None
    result = trainer.retrain(trigger="test")
    assert result["version"] == 1 and result["promoted"] and result["champion_version"] is None
    assert result["evidence"] == "hold-out" and result["choice"] == "90d"  # no live record yet: the longest window
    assert list(result["candidates"]) == ["7d", "14d", "30d", "90d", "90d trees"]
    rows = [result["candidates"][d]["rows"] for d in ("7d", "14d", "30d", "90d")]
    assert rows == sorted(rows) and rows[-1] == result["candidates"]["90d trees"]["rows"]
    store = market[2]
    for symbol in SYMBOLS:
        part = result["by_symbol"][symbol]
        latest = store.latest(symbol, "1h")["open_time"]
        assert part["window"][0] > latest - 90 * 86_400_000  # only the last batch_window_days
        assert part["window"][1] == latest - HOUR  # the newest bar has no label yet (horizon 1)
        assert part["rows"] == (part["window"][1] - part["window"][0]) // HOUR + 1  # no gaps in these bars
        assert part["holdout_window"][1] == part["window"][1]  # hold-out = the newest labeled rows
    assert result["rows"] == sum(p["rows"] for p in result["by_symbol"].values()) == result["candidates"]["90d"]["rows"]
    assert result["rows_train"] + result["rows_holdout"] == result["rows"] - 2  # one purge-gap row per symbol
    metrics = result["metrics"]
    assert metrics["n"] == result["rows_holdout"] and 0 < metrics["log_loss"] < 1
    assert metrics["baseline"]["n"] == metrics["n"]
    assert metrics["beats_baseline"] == (metrics["log_loss"] <= metrics["baseline"]["log_loss"])
    assert result["decision"].startswith("promoted: the 90-day window's hold-out log loss")
    active = trainer.active()
    assert {k: active[k] for k in ("version", "choice", "metrics", "rows", "duration_s", "trigger")} == {
        "version": 1, "choice": "90d", "metrics": metrics, "rows": result["rows"],
        "duration_s": result["duration_s"], "trigger": "test"}
    p = trainer.predict_proba(sample_rows)
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all()


def test_holdout_is_the_most_recent_rows_after_a_purge_gap_of_horizon_bars(make_trainer, market):
    horizon = 3
    result = make_trainer(label_horizon=horizon).retrain()
    store = market[2]
    for symbol in SYMBOLS:
        part = result["by_symbol"][symbol]
        times = store.range(symbol, "1h")["open_time"].to_numpy()
        last_train, first_test = part["train_window"][1], part["holdout_window"][0]
        label_bar = times[np.searchsorted(times, last_train) + horizon]
        assert label_bar < first_test  # the last training label was decided before the hold-out began
        assert first_test - last_train == (horizon + 1) * HOUR  # exactly `horizon` bars left out between
        assert part["holdout_window"][1] == part["window"][1]  # hold-out = the newest labeled rows


def test_once_the_bars_after_a_version_are_scored_its_windows_live_record_chooses_and_judges(tmp_path):
    """The first version is judged on its hold-out; the next one on how the first's fits predicted the bars
    that closed since (both symbols pooled), and the window with the best record serves."""
    db = Database(tmp_path / "market.db")
    store = CandleStore(db)
    for symbol in SYMBOLS:
        store.upsert(symbol, "1h", load_sample(symbol).iloc[-BARS:-100])
    config = validate({})
    trainer = BatchTrainer(db, store, tmp_path / "models", tmp_path / "locks", lambda: config)
    first = trainer.retrain()
    assert first["evidence"] == "hold-out" and all(w["n"] == 0 for w in first["candidates"].values())
    for symbol in SYMBOLS:
        store.upsert(symbol, "1h", load_sample(symbol).iloc[-100:])
    second = trainer.retrain()
    records = second["candidates"]
    assert second["evidence"] == "live" and all(w["n"] == 200 for w in records.values())  # 100 new rows x 2
    best = min(records, key=lambda d: records[d]["log_loss"])
    assert second["choice"] == best
    assert second["metrics"]["log_loss"] == records[best]["log_loss"]
    assert second["metrics"]["beats_baseline"] == (records[best]["log_loss"] <= records[best]["baseline_log_loss"])
    assert ("promoted" if second["promoted"] else "refused") + f": the {describe(best)}" in second["decision"]
    third = trainer.retrain()  # nothing new: the record is carried, not counted twice
    assert {d: w["n"] for d, w in third["candidates"].items()} == {d: w["n"] for d, w in records.items()}


def test_a_model_worse_than_the_baseline_is_never_promoted_not_even_the_first(make_trainer, invert_labels,
                                                                               monkeypatch, sample_rows):
    trainer = make_trainer()
    invert_labels()
    bad = trainer.retrain()
    assert bad["metrics"]["log_loss"] > bad["metrics"]["baseline"]["log_loss"]
    assert not bad["promoted"] and not bad["metrics"]["beats_baseline"]
    assert bad["decision"] == (f"refused: the 90-day window's hold-out log loss {bad['metrics']['log_loss']:.5f} over "
                               f"{bad['metrics']['n']} rows is worse than the majority-class baseline "
                               f"{bad['metrics']['baseline']['log_loss']:.5f}")
    assert trainer.active() is None and trainer.predict_proba(sample_rows) is None
    serving = trainer.serving()
    assert not serving["serving"] and serving["below_baseline"]
    assert "no batch model beats the majority-class baseline" in serving["note"] and "online models only" in \
        serving["note"] and "v1" in serving["note"] and "hold-out log loss" in serving["note"]
    with pytest.raises(ValidationError, match="lost to the majority-class baseline"):
        trainer.rollback(1)
    monkeypatch.undo()
    good = trainer.retrain()
    assert good["promoted"] and good["decision"].startswith("promoted: the 90-day window's hold-out log loss")
    assert trainer.serving() == {"serving": True, "note": None, "below_baseline": False}
    assert trainer.predict_proba(sample_rows) is not None


def test_an_active_version_below_its_baseline_does_not_serve_and_any_good_one_replaces_it(
        make_trainer, invert_labels, monkeypatch, sample_rows):
    """A version an earlier rule promoted (the first model always was) although it loses to its baseline."""
    trainer = make_trainer()
    invert_labels()
    monkeypatch.setattr(trainer_module, "judge", lambda *args: (True, "promoted: no active model"))
    legacy = trainer.retrain()
    assert legacy["promoted"] and not legacy["metrics"]["beats_baseline"]
    assert trainer.active()["version"] == 1 and trainer.predict_proba(sample_rows) is None
    assert not trainer.serving()["serving"]
    monkeypatch.undo()
    good = trainer.retrain()
    assert good["promoted"] and trainer.serving()["serving"] and trainer.predict_proba(sample_rows) is not None
    with pytest.raises(ValidationError, match="no earlier model"):
        trainer.rollback()  # v1 was active before, but it cannot serve


def test_a_model_file_of_an_earlier_release_does_not_serve_and_the_next_retrain_replaces_it(make_trainer, tmp_path,
                                                                                          sample_rows):
    trainer = make_trainer()
    trainer.retrain()
    (tmp_path / "models" / "batch" / "v000001.pkl").write_bytes(pickle.dumps({"trees": "of another kind"}))
    fresh = make_trainer()
    assert fresh.predict_proba(sample_rows) is None
    serving = fresh.serving()
    assert not serving["serving"] and "earlier release" in serving["note"] and "v1" in serving["note"]
    assert fresh.retrain()["promoted"] and fresh.predict_proba(sample_rows) is not None


def test_daily_bars_work_the_rows_a_fit_needs_scale_with_the_interval(tmp_path):
    db = Database(tmp_path / "market.db")
    store = CandleStore(db)
    for symbol in SYMBOLS:
        store.upsert(symbol, "1d", resample(load_sample(symbol).iloc[-24 * 200:], "1d"))
    config = validate({"interval": "1d"})
    result = BatchTrainer(db, store, tmp_path / "models", tmp_path / "locks", lambda: config).retrain()
    assert result["choice"] == "90d" and set(result["candidates"]) == {"30d", "90d", "90d trees"}  # 7, 14: too few
    assert 170 <= result["rows"] <= 180  # 90 daily bars of each symbol, less the newest without a label


def test_rollback_to_previous_and_to_a_given_version(make_trainer, sample_rows):
    trainer = make_trainer()
    predictions = {}
    for days in (60, 75, 90):  # three different models, each promoted or not on merit
        trainer.config = lambda days=days: validate({"batch_window_days": days})
        version = trainer.retrain()["version"]
        trainer.rollback(version)  # force it active so that the history is 1, 2, 3
        predictions[version] = trainer.predict_proba(sample_rows)
    assert trainer.active()["version"] == 3
    assert trainer.rollback()["version"] == 2
    np.testing.assert_array_equal(trainer.predict_proba(sample_rows), predictions[2])
    assert trainer.rollback()["version"] == 1
    with pytest.raises(ValidationError) as err:
        trainer.rollback()
    assert err.value.field == "version"
    assert trainer.rollback(3)["version"] == 3
    np.testing.assert_array_equal(trainer.predict_proba(sample_rows), predictions[3])
    for bad in (99, "2", True):
        with pytest.raises(ValidationError) as err:
            trainer.rollback(bad)
        assert err.value.field == "version"
    assert trainer.active()["version"] == 3  # failed rollbacks changed nothing
    assert not any(predictions[1] == predictions[3])


def test_pruning_keeps_the_newest_files_and_the_active_one(make_trainer, tmp_path, invert_labels, monkeypatch):
    trainer = make_trainer(batch_keep_versions=2)
    trainer.retrain()  # v1: active
    invert_labels()
    for _ in range(3):
        assert not trainer.retrain()["promoted"]  # v2..v4 lose to the baseline on the hold-out
    files = sorted(p.name for p in (tmp_path / "models" / "batch").glob("v*.pkl"))
    assert files == ["v000001.pkl", "v000003.pkl", "v000004.pkl"]  # newest two + the active v1
    available = {v["version"]: v["available"] for v in trainer.versions()}
    assert available == {1: True, 2: False, 3: True, 4: True}
    with pytest.raises(ValidationError) as err:
        trainer.rollback(2)
    assert err.value.field == "version" and "2" in err.value.message
    monkeypatch.undo()
    assert trainer.retrain()["promoted"]  # v5, as good as v1; v1 is neither active nor newest
    assert sorted(p.name for p in (tmp_path / "models" / "batch").glob("v*.pkl")) == ["v000004.pkl", "v000005.pkl"]


def test_progress_goes_from_0_to_1_monotonically(make_trainer):
    seen = []
    make_trainer().retrain(progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(seen) >= 5
    assert all(b >= a for a, b in zip(fractions, fractions[1:]))
    assert all(isinstance(m, str) and m for _, m in seen)
    assert any("fitting" in m for _, m in seen) and "version 1" in seen[-1][1]


def test_too_little_data_is_not_ready_and_changes_nothing(tmp_path):
    db = Database(tmp_path / "market.db")
    store = CandleStore(db)
    store.upsert("BTCUSDT", "1h", load_sample("BTCUSDT").iloc[-150:])
    config = validate({"symbols": ["BTCUSDT", "ETHUSDT"]})
    trainer = BatchTrainer(db, store, tmp_path / "models", tmp_path / "locks", lambda: config)
    with pytest.raises(NotReady) as err:
        trainer.retrain()
    assert "at least 100 labeled rows" in str(err.value)
    assert "BTCUSDT: 77, ETHUSDT: 0" in str(err.value)  # 150 bars - 72 warm-up (the returns group) - 1 unknown label
    assert trainer.active() is None and trainer.versions() == []
    assert not (tmp_path / "models" / "batch").exists()


def test_a_second_concurrent_retrain_is_refused(make_trainer, tmp_path):
    trainer = make_trainer()
    with ProcessLock(tmp_path / "locks", "batch_retrain"):
        with pytest.raises(LockBusy):
            trainer.retrain()
    assert trainer.versions() == []


def test_a_retrain_in_another_process_is_seen_by_predict_proba(make_trainer, market, tmp_path, sample_rows):
    trainer = make_trainer()
    trainer.retrain()
    before = trainer.predict_proba(sample_rows)
    child = textwrap.dedent(f"""
        from engine.batch import BatchTrainer
        from engine.config import validate
        from engine.db import Database
        from engine.store import CandleStore
        db = Database({str(market[0] / "market.db")!r})
        config = validate({{"batch_window_days": 60}})
        trainer = BatchTrainer(db, CandleStore(db), {str(tmp_path / "models")!r}, {str(tmp_path / "locks")!r},
                               lambda: config)
        trainer.retrain(trigger="child")
        trainer.rollback(2)  # make sure it is active whatever the comparison said
    """)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    subprocess.run([sys.executable, "-c", child], check=True, env=env, cwd=PROJECT, timeout=120)
    after = trainer.predict_proba(sample_rows)  # the same object, no restart
    assert trainer.active()["version"] == 2 and trainer.active()["trigger"] == "child"
    assert not np.array_equal(after, before)
    fresh = make_trainer()
    np.testing.assert_array_equal(fresh.predict_proba(sample_rows), after)
    assert fresh.predict_proba(sample_rows[list(FEATURE_COLUMNS)].to_numpy()).shape == (50,)


def test_temp_files_of_a_retrain_killed_while_saving_are_removed_by_the_next(make_trainer, market, tmp_path):
    child = textwrap.dedent(f"""
        import os, threading
        from engine import atomic
        from engine.batch import BatchTrainer
        from engine.config import validate
        from engine.db import Database
        from engine.store import CandleStore
        atomic.os.replace = lambda *a: threading.Event().wait()  # killed between writing the temp file and the rename
        db = Database({str(market[0] / "market.db")!r})
        config = validate({{}})
        BatchTrainer(db, CandleStore(db), {str(tmp_path / "models")!r}, {str(tmp_path / "locks")!r},
                     lambda: config).retrain()
    """)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen([sys.executable, "-c", child], env=env, cwd=PROJECT)
    batch_dir = tmp_path / "models" / "batch"
    try:
        deadline = time.monotonic() + 120
        while not list(batch_dir.glob(".v*.pkl.*.tmp")):
            assert proc.poll() is None and time.monotonic() < deadline, "the child never began saving"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(10)
    assert len(list(batch_dir.glob(".*.tmp"))) == 1
    trainer = make_trainer()
    assert trainer.retrain()["version"] == 1  # the killed run published nothing
    assert list(batch_dir.glob(".*.tmp")) == [] and trainer.active()["version"] == 1

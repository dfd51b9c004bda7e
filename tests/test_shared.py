"""Tests for the shared base: config validation, atomic versioned files, cross-process locks, migrations."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time

import pytest

from engine.atomic import VersionedFile
from engine.config import DEFAULTS, ConfigError, ConfigStore, validate
from engine.db import Database
from engine.locks import LockBusy, ProcessLock


def test_defaults_are_the_seed_values():
    assert DEFAULTS["batch_retrain_interval_hours"] == 24
    assert DEFAULTS["online_update_interval_minutes"] == 30
    assert DEFAULTS["min_data_points_for_update"] == 50
    assert DEFAULTS["ensemble_weight_batch"] == 0.7 and DEFAULTS["ensemble_weight_online"] == 0.3
    assert DEFAULTS["data_collection_enabled"] is True and DEFAULTS["auto_retrain_enabled"] is True
    assert validate({}) == DEFAULTS


@pytest.mark.parametrize("changes, field", [
    ({"nope": 1}, "nope"),
    ({"ensemble_weight_batch": float("nan")}, "ensemble_weight_batch"),
    ({"ensemble_weight_batch": 0.5, "ensemble_weight_online": 0.3}, "ensemble_weight_batch"),
    ({"ensemble_weight_online": 1.5}, "ensemble_weight_online"),
    ({"online_update_interval_minutes": 0}, "online_update_interval_minutes"),
    ({"min_data_points_for_update": 2.5}, "min_data_points_for_update"),
    ({"data_collection_enabled": "yes"}, "data_collection_enabled"),
    ({"symbols": []}, "symbols"),
    ({"cleanup_time": "25:00"}, "cleanup_time"),
])
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError) as err:
        validate(changes)
    assert err.value.field == field


def test_one_weight_sets_its_complement():
    cfg = validate({"ensemble_weight_online": 0.25})
    assert cfg["ensemble_weight_batch"] == pytest.approx(0.75)


def test_store_persists_rejects_atomically_and_loads_profiles(data_dir):
    store = ConfigStore(data_dir, environ={})
    store.update({"ensemble_weight_batch": 0.6, "symbols": ["btcusdt"]})
    before = (data_dir / "config.json").read_text()
    with pytest.raises(ConfigError):
        store.update({"ensemble_weight_batch": 0.2, "buffer_size": -1})
    assert (data_dir / "config.json").read_text() == before  # nothing half-written
    store.save_profile("cautious")
    store.update({"ensemble_weight_batch": 0.9})
    assert ConfigStore(data_dir, environ={}).current()["ensemble_weight_batch"] == 0.9
    assert store.load_profile("cautious")["ensemble_weight_batch"] == 0.6
    assert store.current()["symbols"] == ["BTCUSDT"]
    with pytest.raises(ConfigError):
        store.load_profile("../etc/passwd")
    assert json.loads(before)["ensemble_weight_online"] == pytest.approx(0.4)


def test_env_overrides_apply_and_bad_ones_fail_at_start(data_dir):
    store = ConfigStore(data_dir, environ={"HLS_ENSEMBLE_WEIGHT_BATCH": "0.8", "HLS_SYMBOLS": "ETHUSDT"})
    assert store.current()["ensemble_weight_online"] == pytest.approx(0.2)
    assert store.current()["symbols"] == ["ETHUSDT"]
    with pytest.raises(ConfigError):
        ConfigStore(data_dir, environ={"HLS_BUFFER_SIZE": "lots"})


def test_a_setting_the_environment_overrides_cannot_be_changed_and_profiles_leave_it(data_dir):
    store = ConfigStore(data_dir, environ={"HLS_TRADING_ENABLED": "false", "HLS_ENSEMBLE_WEIGHT_BATCH": "0.8"})
    for change in ({"trading_enabled": True}, {"ensemble_weight_online": 0.5}):  # the second moves batch too
        with pytest.raises(ConfigError, match="set by the server's environment") as err:
            store.update(change)
        assert err.value.field in ("trading_enabled", "ensemble_weight_batch")
    assert not (data_dir / "config.json").exists()  # nothing saved
    store.update({"trading_enabled": False, "buffer_size": 500})  # its own value, and other settings: fine
    ConfigStore(data_dir, environ={}).update({"trading_enabled": True, "buffer_size": 800})
    ConfigStore(data_dir, environ={}).save_profile("mine")
    config = store.load_profile("mine")  # the profile's trading_enabled is left to the environment
    assert (config["trading_enabled"], config["buffer_size"], config["ensemble_weight_batch"]) == (False, 800, 0.8)


def _save_in_child(path):
    VersionedFile(path).save({"weights": [1, 2, 3]})


def test_versioned_file_is_seen_by_other_processes(tmp_path):
    reader = VersionedFile(tmp_path / "m.pkl")
    assert reader.load() == (0, None)
    reader.save({"weights": []})
    proc = mp.get_context("spawn").Process(target=_save_in_child, args=(tmp_path / "m.pkl",))
    proc.start()
    proc.join()
    assert reader.load() == (2, {"weights": [1, 2, 3]})


def _hold_lock(lock_dir, ready, release):
    with ProcessLock(lock_dir, "retrain"):
        ready.set()
        release.wait(10)


def test_lock_excludes_other_processes_and_frees_on_release(tmp_path):
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    proc.start()
    assert ready.wait(10)
    with pytest.raises(LockBusy):
        ProcessLock(tmp_path, "retrain", timeout=0).acquire()
    release.set()
    proc.join()
    with ProcessLock(tmp_path, "retrain", timeout=0):
        pass


def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path):
    """A job forked off while a lock is held (a background callback) must not hold it once the holder dies."""
    lock = ProcessLock(tmp_path, "job-collect").acquire()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports whether it holds a descriptor, then lives on until killed
        try:
            os.write(write, b"held" if lock._fd is not None else b"free")
            time.sleep(120)
        finally:
            os._exit(0)
    try:
        os.close(write)
        assert os.read(read, 4) == b"free"
        os.close(lock._fd)  # the holder dies: its descriptor closes without an unlock
        with ProcessLock(tmp_path, "job-collect", timeout=5):  # free although the child still runs
            assert os.waitpid(child, os.WNOHANG) == (0, 0)
    finally:
        os.close(read)
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_migrations_apply_once_and_append(tmp_path):
    db = Database(tmp_path / "x.db")
    v1 = ["CREATE TABLE t (a INTEGER)"]
    assert db.migrate("demo", v1) == 1
    assert db.migrate("demo", v1) == 1  # not applied twice
    assert db.migrate("demo", v1 + ["ALTER TABLE t ADD COLUMN b TEXT"]) == 2
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1, 'x')")
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (2, 'y')")
            raise RuntimeError("boom")
    assert [tuple(r) for r in db.query("SELECT a, b FROM t")] == [(1, "x")]

"""Batch model versions on disk: ``<model_dir>/batch/index.json`` plus one pickle per version.

The index (written atomically) lists every version with its training window, metrics, row
count and duration, and names the active one. Model files are written atomically before the
index points at them and are never changed afterwards. Writers hold
``ProcessLock(lock_dir, "batch")``; readers in any process re-read the index when its file
changes (a stat check), so a promotion made by a worker is seen by the server's next call.
"""
from __future__ import annotations

import copy
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable

from engine.atomic import atomic_write_bytes, atomic_write_json, file_stamp, remove_stale_temp_files
from engine.errors import ValidationError
from engine.locks import ProcessLock

from engine.batch.model import BatchModel

MAX_RECORDS = 200  # metadata of older versions is dropped from the index beyond this
EMPTY_INDEX: dict[str, Any] = {"next_version": 1, "active": None, "active_history": [], "versions": []}

# judge(champion_record or None, champion_model or None) -> (promote, extra fields for the record)
Judge = Callable[[dict | None, BatchModel | None], tuple[bool, dict]]


class ModelRegistry:
    """Versions of the batch model; the active one answers predictions."""

    def __init__(self, model_dir: str | os.PathLike, lock_dir: str | os.PathLike):
        self.dir = Path(model_dir) / "batch"
        self.index_path = self.dir / "index.json"
        self.lock_dir = lock_dir
        self._stamp: tuple | None = None
        self._index: dict[str, Any] = copy.deepcopy(EMPTY_INDEX)
        self._model: tuple[int, BatchModel] | None = None

    # ---- reading (any process) ----
    def index(self) -> dict[str, Any]:
        """The current index (re-read only when the file changed)."""
        stamp = file_stamp(self.index_path)
        if stamp != self._stamp:
            if stamp is None:
                self._index = copy.deepcopy(EMPTY_INDEX)
            else:
                with open(self.index_path) as fh:
                    self._index = json.load(fh)
            self._stamp = stamp
        return self._index

    def record(self, version: int) -> dict | None:
        return next((r for r in self.index()["versions"] if r["version"] == version), None)

    def active_record(self) -> dict | None:
        active = self.index()["active"]
        return None if active is None else self.record(active)

    def active_model(self) -> BatchModel | None:
        """The active model, loaded once per version; None when there is none or its file is from a release
        whose batch model was of another kind (it cannot serve; the next retrain replaces it)."""
        active = self.index()["active"]
        return None if active is None else self.model(active)

    def model(self, version: int) -> BatchModel | None:
        """A stored version's model (None: its file is gone or of an older kind)."""
        if self._model is None or self._model[0] != version:
            self._model = (version, self._load(version))
        return self._model[1]

    def _file(self, version: int) -> Path:
        return self.dir / f"v{version:06d}.pkl"

    def _load(self, version: int) -> BatchModel | None:
        try:
            with open(self._file(version), "rb") as fh:  # a file this registry wrote, at a fixed path
                model = pickle.load(fh)
        except FileNotFoundError:
            return None
        return model if isinstance(model, BatchModel) and hasattr(model, "fits") else None

    # ---- writing (holds the lock) ----
    def publish(self, model: BatchModel, record: dict, judge: Judge, keep: int) -> dict:
        """Save ``model`` as the next version; ``judge`` (run under the lock, against the champion
        at that moment) decides whether it becomes active. Keeps the newest ``keep`` model files
        (and the active one). Returns the stored record."""
        with ProcessLock(self.lock_dir, "batch"):
            remove_stale_temp_files(self.dir, 0, ".*.tmp")  # left by a writer killed mid-save: none runs now
            index = copy.deepcopy(self.index())  # a private copy to edit
            champion = self.active_record()
            promote, extra = judge(champion, self.active_model() if champion else None)
            version = index["next_version"]
            entry = {**record, **extra, "version": version, "promoted": promote, "available": True}
            atomic_write_bytes(self._file(version), pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
            index["next_version"] = version + 1
            index["versions"].append(entry)
            if promote:
                self._activate(index, version)
            self._commit(index, keep)
            return entry

    def rollback(self, version: int | None = None, eligible: Callable[[dict], bool] = lambda record: True) -> dict:
        """Make ``version`` (default: the previously active one) active again; returns its record. Only
        versions whose record passes ``eligible`` are considered."""
        with ProcessLock(self.lock_dir, "batch"):
            index = copy.deepcopy(self.index())
            refused = {r["version"] for r in index["versions"] if not eligible(r)}
            available = {r["version"] for r in index["versions"] if r["available"]} - refused
            if version is None:
                earlier = [v for v in index["active_history"][:-1] if v in available and v != index["active"]]
                if not earlier:
                    raise ValidationError("version", "no earlier model to roll back to")
                target = earlier[-1]
                index["active_history"] = index["active_history"][:index["active_history"].index(target) + 1]
                index["active"] = target
            else:
                if isinstance(version, bool) or not isinstance(version, int):
                    raise ValidationError("version", "must be a whole number")
                if version in refused:
                    raise ValidationError("version", f"version {version} lost to the majority-class baseline on its "
                                                     "hold-out; it cannot serve predictions")
                if version not in available:
                    raise ValidationError("version", f"no stored model file for version {version}")
                self._activate(index, version)
            self._commit(index, keep=None)
            return self.record(index["active"])

    @staticmethod
    def _activate(index: dict, version: int) -> None:
        index["active"] = version
        index["active_history"] = [v for v in index["active_history"] if v != version] + [version]

    def _commit(self, index: dict, keep: int | None) -> None:
        """Write the index, then delete the model files it no longer keeps."""
        doomed: list[int] = []
        if keep is not None:
            kept = {r["version"] for r in index["versions"][-keep:]} | {index["active"]}
            for r in index["versions"]:
                if r["available"] and r["version"] not in kept:
                    r["available"] = False
                    doomed.append(r["version"])
        recent = len(index["versions"]) - MAX_RECORDS
        index["versions"] = [r for i, r in enumerate(index["versions"])
                             if i >= recent or r["version"] == index["active"]]
        kept_versions = {r["version"] for r in index["versions"]}
        index["active_history"] = [v for v in index["active_history"] if v in kept_versions]
        atomic_write_json(self.index_path, index)
        for version in doomed:
            self._file(version).unlink(missing_ok=True)

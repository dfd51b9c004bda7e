"""``OnlineLearningManager``: the persisted online learners (buffer in SQLite, models in a versioned file)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.atomic import VersionedFile
from engine.db import Database
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.features.inputs import spec
from engine.locks import ProcessLock
from engine.online.buffer import TrainingBuffer
from engine.online.health import RecentScores
from engine.online.learners import OnlineLearners, new_counter
from engine.online.models import MODEL_NAMES
from engine.online.samples import check_frame, check_open_time, check_sample, check_source, check_symbol

MODEL_FILE = "online.pkl"
LOCK_NAME = "online"
DRIFT_EVENTS_SHOWN = 20


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class OnlineLearningManager:
    """Feeds the rolling buffer to :class:`OnlineLearners`, test-then-train, and keeps them on disk.

    ``update_models_incremental`` learns *all* pending samples, oldest first, in chunks of
    ``batch_size`` (each chunk scored before it is learned), so a backlog never builds up; under the
    ``online`` ProcessLock it marks the samples learned, appends the history and drift events and
    saves the models (``model_dir/online.pkl``, holding ``{"learners", "updated_at"}``) in one
    database transaction. A model whose drift detector fires is re-warmed from the newest
    ``regime_length`` buffered samples up to that chunk (at most ``buffer_size``). Any process's
    save is seen by the others on their next read.
    """

    def __init__(self, db: Database, model_dir: str | os.PathLike, lock_dir: str | os.PathLike,
                 config: Callable[[], dict], clock: Callable[[], int] = _now_ms):
        self.db, self.config, self.clock = db, config, clock
        self.lock_dir = Path(lock_dir)
        self.buffer = TrainingBuffer(db)
        self._file = VersionedFile(Path(model_dir) / MODEL_FILE)  # what readers see
        self._working = VersionedFile(self._file.path)  # the writer's own copy, never shared with readers

    # -- samples -------------------------------------------------------------------------------
    def add_training_data(self, features: dict, target, symbol: str, source: str = "api",
                          open_time: int | None = None) -> int:
        """Validate and buffer one sample; returns 1, or 0 when (symbol, source, open_time) is stored.
        Raises engine.online.samples.SampleErrors naming every field at fault (target first)."""
        config = self.config()
        values, target, symbol = check_sample(features, target, symbol, config["symbols"], spec(config).names)
        row = (symbol, check_source(source), check_open_time(open_time), list(values.values()), target)
        return self.buffer.insert([row], self.clock(), config["buffer_size"], tuple(values))

    def add_samples(self, X: pd.DataFrame, y, symbol: str, source: str = "candle", open_times=None) -> int:
        """Validate and buffer many samples (rows of X: FEATURE_COLUMNS and other inputs by name); returns how
        many were new."""
        config = self.config()
        symbol, source = check_symbol(symbol, config["symbols"]), check_source(source)
        values, targets, times, names = check_frame(X, y, open_times, spec(config).names)
        rows = [(symbol, source, t, list(v), int(target)) for v, target, t in zip(values.tolist(), targets, times)]
        return self.buffer.insert(rows, self.clock(), config["buffer_size"], names) if rows else 0

    def pending_count(self) -> int:
        return self.buffer.pending_count()

    # -- learning ------------------------------------------------------------------------------
    def required_samples(self, explicit: bool) -> int:
        """New samples an update needs: an explicit order (a button, the API, the CLI) runs on whatever
        waits (at least 1); a scheduled run waits for min_data_points_for_update."""
        return 1 if explicit else self.config()["min_data_points_for_update"]

    def update_models_incremental(self, batch_size: int = 50, explicit: bool = False) -> dict:
        """Learn every pending sample (see the class docstring); skipped when fewer than
        :meth:`required_samples` wait."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError("batch_size", f"must be a positive integer, got {batch_size!r}")
        config = self.config()
        needed = self.required_samples(explicit)
        if (skipped := self._skip(self.buffer.pending_count(), needed)) is not None:
            return skipped
        inputs = spec(config).names
        with ProcessLock(self.lock_dir, LOCK_NAME):
            ids, X, y = self.buffer.pending(inputs)  # re-read: another process may have learned them
            if (skipped := self._skip(len(ids), needed)) is not None:
                return skipped
            # learn on the writer's private copy (re-read from disk only when another process saved since):
            # readers (other threads too) keep the saved version
            payload = self._working.load()[1]
            learners = payload["learners"] if payload else OnlineLearners(inputs=inputs)
            now = self.clock()
            try:
                restart = self._restart(learners, inputs, now) if learners.inputs != inputs else None
                if restart is not None:
                    learners = restart[0]
                history, events, scored = self._learn(learners, ids, X, y, batch_size, config["buffer_size"], now)
                events[:0] = [] if restart is None else [restart[1]]
                with self.db.transaction() as conn:
                    self.buffer.mark_learned(conn, ids, now)
                    conn.executemany("INSERT INTO online_performance(time, model, accuracy, log_loss, "
                                     "samples_seen, n) VALUES (?, ?, ?, ?, ?, ?)", history)
                    conn.executemany("INSERT INTO online_drift_events(time, model, message) VALUES (?, ?, ?)",
                                     events)
                    version = self._working.save({"learners": learners, "updated_at": now})
            except BaseException:
                self._working = VersionedFile(self._file.path)  # drop the half-learnt copy: reload from disk
                raise
        results = {name: (correct / n if n else None) for name, (correct, n) in scored.items()}
        return {"status": "updated", "reason": None, "samples": len(ids), "update_results": results,
                "version": version, "drift": sorted({model for _, model, _ in events if model in MODEL_NAMES})}

    def _restart(self, old: OnlineLearners, inputs: tuple[str, ...], now: int) -> tuple[OnlineLearners, tuple]:
        """New learners for changed inputs, warmed on the buffer's learned samples (oldest first), and the event
        that says so."""
        learners = OnlineLearners(inputs=inputs)
        _, X, y = self.buffer.learned(inputs)
        for start in range(0, len(y), 50):
            learners.score_then_learn(X[start:start + 50], y[start:start + 50])
        added = sorted(set(inputs) - set(old.inputs))
        removed = sorted(set(old.inputs) - set(inputs))
        change = "; ".join(part for part in (f"added {', '.join(added)}" if added else "",
                                             f"removed {', '.join(removed)}" if removed else "") if part)
        return learners, (now, "all", f"inputs changed ({change}): the online models restarted on the "
                                      f"{len(y)} samples in the buffer")

    @staticmethod
    def _skip(waiting: int, needed: int) -> dict | None:
        if waiting >= needed:
            return None
        reason = ("no new samples waiting" if needed == 1 else
                  f"{waiting} new samples waiting, {needed} needed (min_data_points_for_update)")
        return {"status": "skipped", "samples": 0, "update_results": {}, "reason": reason}

    def _learn(self, learners: OnlineLearners, ids, X, y, batch_size: int, buffer_size: int, now: int):
        """Test-then-train chunk by chunk; returns (history rows, drift event rows, {model: (correct, n)})."""
        history, events = [], []
        scored = {name: (0.0, 0) for name in MODEL_NAMES}
        for start in range(0, len(ids), batch_size):
            stop = min(start + batch_size, len(ids))
            result = learners.score_then_learn(X[start:stop], y[start:stop])
            for name, r in result["models"].items():
                if r["accuracy"] is None:
                    continue
                correct, n = scored[name]
                scored[name] = (correct + r["accuracy"] * r["n"], n + r["n"])
                history.append((now, name, r["accuracy"], r["log_loss"], r["samples_seen"], r["n"]))
                if r["drift"]:
                    detector = learners.detectors[name]
                    rows = min(buffer_size, learners.regime_length(name))
                    events.append((now, name, f"{name}: error rate rose to {detector.estimation:.0%} over the last "
                                               f"{detector.width} samples; re-warmed from the newest {rows} "
                                               f"buffered samples"))
                    learners.rewarm(*self.buffer.upto(ids[stop - 1], rows, learners.inputs), names=[name])
        return history, events, scored

    # -- reading -------------------------------------------------------------------------------
    def _current(self) -> tuple[int, OnlineLearners | None, int | None]:
        version, payload = self._file.load()
        if payload is None:
            return version, None, None
        return version, payload["learners"], payload["updated_at"]

    def predict_proba(self, X: pd.DataFrame) -> dict[str, np.ndarray | None]:
        """P(up) per row of X (inputs by name; one the models learned but X lacks reads as NaN) from each model;
        None for an untrained model."""
        missing = [c for c in FEATURE_COLUMNS if c not in X.columns]
        if missing:
            raise ValidationError(f"X.{missing[0]}", "missing column")
        learners = self._current()[1]
        if learners is None:
            return {name: None for name in MODEL_NAMES}
        return learners.predict_proba(X.reindex(columns=list(learners.inputs)).to_numpy(dtype=float))

    def stats(self) -> dict:
        """Per model: counters, prequential accuracy/log loss since its last reset, ``recent`` (the last
        ``online_health_window`` scored training samples beside the majority-class baseline, with the verdict of
        engine.health; the hybrid's weights come from each symbol's scored predictions, engine.hybrid);
        ``base_rate``: the majority-class baseline's P(up) over the labels learned; ``inputs``: what the models
        read."""
        version, learners, updated_at = self._current()
        window = self.config()["online_health_window"]
        models = {}
        for name in MODEL_NAMES:
            c = learners.counters[name] if learners else new_counter()
            recent = learners.health(name, window) if learners else RecentScores().summary(window)
            models[name] = {
                "samples_seen": c["samples_seen"], "version": version,
                "last_update": updated_at if c["samples_seen"] else None,
                "accuracy": c["correct"] / c["scored"] if c["scored"] else None,
                "log_loss": c["log_loss_sum"] / c["scored"] if c["scored"] else None,
                "drift": c["drift"], "drifts": c["drifts"], "scored": c["scored"],
                "recent": recent,
            }
        events = self.db.query("SELECT time, model, message FROM online_drift_events ORDER BY id DESC LIMIT ?",
                               (DRIFT_EVENTS_SHOWN,))
        return {"models": models, "base_rate": learners.base_rate() if learners else 0.5,
                "inputs": list(learners.inputs) if learners else None,
                "buffer_size": self.buffer.size(), "buffer_max": self.config()["buffer_size"],
                "pending": self.buffer.pending_count(), "drift_events": [dict(e) for e in events]}

    def cleanup(self, older_than_ms: int) -> int:
        """Retention: delete performance history and drift events older than ``older_than_ms``."""
        with self.db.transaction() as conn:
            return sum(conn.execute(f"DELETE FROM {table} WHERE time < ?", (int(older_than_ms),)).rowcount
                       for table in ("online_performance", "online_drift_events"))

    def performance_history(self, limit: int = 500) -> list[dict]:
        """The newest ``limit`` history rows (one per model per learned chunk it scored), oldest first."""
        rows = self.db.query("SELECT time, model, accuracy, log_loss, samples_seen, n FROM online_performance "
                             "ORDER BY id DESC LIMIT ?", (int(limit),))
        return [dict(r) for r in reversed(rows)]

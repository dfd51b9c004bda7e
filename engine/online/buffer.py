"""The rolling training buffer in SQLite: the newest ``max_size`` samples, each pending until learned.

Each sample keeps the names of its inputs (``inputs``; the 23 indicators for rows stored before
input groups existed), and is read back in whatever input order a model asks for: an input the
sample lacks (an API sample without the optional groups) reads as NaN.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Sequence

import numpy as np

from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.online.schema import ensure_schema

FLOAT64 = np.dtype("<f8")  # features_f64: little-endian float64 on any machine
COLUMNS = "id, features, features_f64, inputs, target"


class TrainingBuffer:
    """Samples (symbol, source, open_time, features, target) in insertion order.

    Inserting ignores a sample whose (symbol, source, open_time) is already stored (when open_time is
    given), then drops the oldest rows beyond ``max_size`` (learned or not: the buffer is a window
    on the newest data).
    """

    def __init__(self, db: Database):
        self.db = db
        ensure_schema(db)

    def insert(self, rows: Sequence[tuple], created_at: int, max_size: int,
               inputs: Sequence[str] = FEATURE_COLUMNS) -> int:
        """Store ``rows`` of (symbol, source, open_time, value list in ``inputs`` order, target); return how
        many were new."""
        names = None if tuple(inputs) == FEATURE_COLUMNS else ",".join(inputs)
        with self.db.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO online_samples(symbol, source, open_time, features, features_f64, inputs, "
                "target, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s, src, t, json.dumps(f), np.asarray(f, dtype=FLOAT64).tobytes(), names, y, created_at)
                 for s, src, t, f, y in rows])
            inserted = conn.total_changes - before
            conn.execute("DELETE FROM online_samples WHERE id <= "
                         "(SELECT id FROM online_samples ORDER BY id DESC LIMIT 1 OFFSET ?)", (max_size,))
        return inserted

    def size(self) -> int:
        return self.db.query("SELECT COUNT(*) AS n FROM online_samples")[0]["n"]

    def pending_count(self) -> int:
        return self.db.query("SELECT COUNT(*) AS n FROM online_samples WHERE learned_at IS NULL")[0]["n"]

    def pending(self, inputs: Sequence[str] = FEATURE_COLUMNS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, X in ``inputs`` order, y) of all samples not learned yet, oldest first."""
        return self._arrays(self.db.query(
            f"SELECT {COLUMNS} FROM online_samples WHERE learned_at IS NULL ORDER BY id"), inputs)

    def learned(self, inputs: Sequence[str] = FEATURE_COLUMNS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, X, y) of the samples learned already, oldest first."""
        return self._arrays(self.db.query(
            f"SELECT {COLUMNS} FROM online_samples WHERE learned_at IS NOT NULL ORDER BY id"), inputs)

    def upto(self, last_id: int, limit: int, inputs: Sequence[str] = FEATURE_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of the newest ``limit`` samples with id <= ``last_id``, oldest first."""
        rows = self.db.query(f"SELECT {COLUMNS} FROM online_samples WHERE id <= ? ORDER BY id DESC LIMIT ?",
                             (int(last_id), int(limit)))
        _, X, y = self._arrays(rows[::-1], inputs)
        return X, y

    @staticmethod
    def mark_learned(conn: sqlite3.Connection, ids: np.ndarray, learned_at: int) -> None:
        conn.execute("UPDATE online_samples SET learned_at=? WHERE id IN (SELECT value FROM json_each(?))",
                     (learned_at, json.dumps(np.asarray(ids).tolist())))

    @staticmethod
    def _arrays(rows, inputs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inputs = tuple(inputs)
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        X = np.full((len(rows), len(inputs)), np.nan)
        groups: dict[str | None, list[int]] = {}
        for k, r in enumerate(rows):
            groups.setdefault(r["inputs"], []).append(k)
        for names, members in groups.items():  # rows stored with the same inputs are read at once
            stored = FEATURE_COLUMNS if names is None else tuple(names.split(","))
            part = [rows[k] for k in members]
            if all(r["features_f64"] is not None for r in part):
                values = np.frombuffer(b"".join(r["features_f64"] for r in part), dtype=FLOAT64).reshape(len(part), -1)
            else:  # rows stored before features_f64 existed
                values = np.array(json.loads("[" + ",".join(r["features"] for r in part) + "]"), dtype=float)
            if stored == inputs:
                X[members] = values
                continue
            position = {name: j for j, name in enumerate(stored)}
            for j, name in enumerate(inputs):
                if name in position:
                    X[members, j] = values[:, position[name]]
        y = np.array([r["target"] for r in rows], dtype=int)
        return ids, X, y

"""The rolling training buffer in SQLite: the newest ``max_size`` samples, each pending until learned."""
from __future__ import annotations

import json
import sqlite3
from typing import Sequence

import numpy as np

from engine.db import Database
from engine.online.schema import ensure_schema

FLOAT64 = np.dtype("<f8")  # features_f64: little-endian float64 on any machine


class TrainingBuffer:
    """Samples (symbol, source, open_time, features, target) in insertion order.

    Inserting ignores a sample whose (symbol, source, open_time) is already stored (when open_time is
    given), then drops the oldest rows beyond ``max_size`` (learned or not: the buffer is a window
    on the newest data).
    """

    def __init__(self, db: Database):
        self.db = db
        ensure_schema(db)

    def insert(self, rows: Sequence[tuple], created_at: int, max_size: int) -> int:
        """Store ``rows`` of (symbol, source, open_time, feature list, target); return how many were new."""
        with self.db.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO online_samples(symbol, source, open_time, features, features_f64, target, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(s, src, t, json.dumps(f), np.asarray(f, dtype=FLOAT64).tobytes(), y, created_at)
                 for s, src, t, f, y in rows])
            inserted = conn.total_changes - before
            conn.execute("DELETE FROM online_samples WHERE id <= "
                         "(SELECT id FROM online_samples ORDER BY id DESC LIMIT 1 OFFSET ?)", (max_size,))
        return inserted

    def size(self) -> int:
        return self.db.query("SELECT COUNT(*) AS n FROM online_samples")[0]["n"]

    def pending_count(self) -> int:
        return self.db.query("SELECT COUNT(*) AS n FROM online_samples WHERE learned_at IS NULL")[0]["n"]

    def pending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, X, y) of all samples not learned yet, oldest first."""
        return self._arrays(self.db.query(
            "SELECT id, features, features_f64, target FROM online_samples WHERE learned_at IS NULL ORDER BY id"))

    def upto(self, last_id: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of the newest ``limit`` samples with id <= ``last_id``, oldest first."""
        rows = self.db.query("SELECT id, features, features_f64, target FROM online_samples WHERE id <= ? "
                             "ORDER BY id DESC LIMIT ?", (int(last_id), int(limit)))
        _, X, y = self._arrays(rows[::-1])
        return X, y

    @staticmethod
    def mark_learned(conn: sqlite3.Connection, ids: np.ndarray, learned_at: int) -> None:
        conn.execute("UPDATE online_samples SET learned_at=? WHERE id IN (SELECT value FROM json_each(?))",
                     (learned_at, json.dumps(np.asarray(ids).tolist())))

    @staticmethod
    def _arrays(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        if rows and all(r["features_f64"] is not None for r in rows):
            X = np.frombuffer(b"".join(r["features_f64"] for r in rows), dtype=FLOAT64).reshape(len(rows), -1).copy()
        else:  # rows stored before features_f64 existed
            X = np.array(json.loads("[" + ",".join(r["features"] for r in rows) + "]"), dtype=float)
        y = np.array([r["target"] for r in rows], dtype=int)
        return ids, X, y

"""The online component's tables (``db.migrate("online", MIGRATIONS)``): buffer, history, drift events."""
from __future__ import annotations

from engine.db import Database

MIGRATIONS = [  # db.migrate splits scripts on ";": none inside comments
    """
    CREATE TABLE online_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        symbol TEXT NOT NULL,
        source TEXT NOT NULL,
        open_time INTEGER,            -- epoch ms of the bar, NULL for api samples without one
        features TEXT NOT NULL,       -- JSON list of floats in the order of inputs (FEATURE_COLUMNS when NULL)
        target INTEGER NOT NULL,      -- 1: up, 0: not up
        created_at INTEGER NOT NULL,  -- epoch ms
        learned_at INTEGER            -- epoch ms, NULL while pending
    );
    CREATE UNIQUE INDEX online_samples_key ON online_samples(symbol, source, open_time)
        WHERE open_time IS NOT NULL;
    CREATE INDEX online_samples_pending ON online_samples(learned_at, id);
    CREATE TABLE online_performance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        model TEXT NOT NULL,
        accuracy REAL NOT NULL,
        log_loss REAL NOT NULL,
        samples_seen INTEGER NOT NULL,
        n INTEGER NOT NULL
    );
    CREATE TABLE online_drift_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        model TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # the same features as little-endian float64 bytes: read back without parsing text (NULL in older rows)
    "ALTER TABLE online_samples ADD COLUMN features_f64 BLOB",
    # the input names of features / features_f64, comma-separated (NULL: the 23 FEATURE_COLUMNS)
    "ALTER TABLE online_samples ADD COLUMN inputs TEXT",
]


def ensure_schema(db: Database) -> None:
    db.migrate("online", MIGRATIONS)

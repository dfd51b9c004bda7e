"""``OutcomeManager``: the live outcome model (samples in SQLite, the learner in a versioned file).

Samples (table ``outcome_samples``, one per signal bar and symbol): what a recorded paper signal
(engine.trading ledger) earned. :meth:`OutcomeManager.sync` collects them: a signal whose trade
closed gives that trade's PnL after fees (source ``trade``); a signal that was skipped (by a gate,
the pause switch or because a trade was open) or whose trade the operator force-exited (its timing
is not the signal's) gives the PnL of the trade it would have opened, settled on the stored
candles by the same rules once they reach its exit (``shadow``), so a gate that closed keeps
learning. :meth:`warm_up` adds the simulated trades of a walk-forward replay over the
stored history (``replay``) when the model has learned nothing yet. :meth:`update` learns the
pending samples test-then-train, oldest exit first, under ``ProcessLock(lock_dir, "outcome")``,
storing each sample's P(win) at scoring and saving ``model_dir/outcome.pkl`` (the learner and the
threshold chosen on the scored samples, engine.outcome.threshold) in one transaction; every
process reloads it when it changes.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from engine.atomic import VersionedFile
from engine.db import Database
from engine.features import FEATURE_COLUMNS
from engine.locks import ProcessLock
from engine.outcome.learner import MIN_SAMPLES, OutcomeLearner, outcome_inputs
from engine.outcome.threshold import TUNING_SAMPLES, choose_threshold
from engine.trading.signals import DIRECTIONS
from engine.trading.simulator import TradeRules, entry_fill, find_exit, settle

MODEL_FILE = "outcome.pkl"
LOCK_NAME = "outcome"
FLOAT64 = np.dtype("<f8")
MIGRATIONS = [
    """
    CREATE TABLE outcome_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        symbol TEXT NOT NULL,
        interval TEXT NOT NULL,
        open_time INTEGER NOT NULL,
        side INTEGER NOT NULL CHECK (side IN (1, -1)),
        p_up REAL NOT NULL,
        features BLOB NOT NULL,
        return_pct REAL NOT NULL,
        target INTEGER NOT NULL CHECK (target IN (0, 1)),
        source TEXT NOT NULL CHECK (source IN ('trade', 'shadow', 'replay')),
        exit_time INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        learned_at INTEGER,
        scored_p REAL,
        UNIQUE (symbol, interval, open_time)
    );
    CREATE INDEX outcome_samples_pending ON outcome_samples (learned_at, exit_time, id)
    """,
]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class OutcomeManager:
    """The persisted outcome model; ``config`` is a callable returning the current config."""

    def __init__(self, db: Database, model_dir: str | os.PathLike, lock_dir: str | os.PathLike,
                 config: Callable[[], dict], clock: Callable[[], int] = _now_ms):
        self.db, self.config, self.clock, self.lock_dir = db, config, clock, Path(lock_dir)
        db.migrate("outcome", MIGRATIONS)
        self._file = VersionedFile(Path(model_dir) / MODEL_FILE)

    # -- samples -------------------------------------------------------------------------------
    def add(self, rows: list[tuple]) -> int:
        """Store outcome samples (symbol, interval, open_time, side, p_up, 23 features, return_pct, pnl,
        source, exit_time); a signal bar already sampled is left as it is. Returns how many are new."""
        now = self.clock()
        with self.db.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO outcome_samples (symbol, interval, open_time, side, p_up, features, return_pct, "
                "target, source, exit_time, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(s, i, int(t), int(side), float(p), np.asarray(f, dtype=FLOAT64).tobytes(), float(r), int(pnl > 0),
                  src, int(x), now) for s, i, t, side, p, f, r, pnl, src, x in rows])
            return conn.total_changes - before

    def signal_trades(self, symbol: str, interval: str, since_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(edge side x (2 p_up - 1), return after costs in percent) of the symbol's signals from ``since_ms`` on
        whose trades closed (traded or not): what the cost gate measures a trade's move on."""
        rows = self.db.query("SELECT side, p_up, return_pct FROM outcome_samples WHERE symbol=? AND interval=? "
                             "AND open_time >= ? ORDER BY open_time", (symbol, interval, int(since_ms)))
        table = np.array([(r["side"], r["p_up"], r["return_pct"]) for r in rows], dtype=float).reshape(-1, 3)
        return table[:, 0] * (2.0 * table[:, 1] - 1.0), table[:, 2]

    def sync(self, store) -> int:
        """Add the outcomes of recorded signals that have one now (see the module docstring); returns how many."""
        rules = TradeRules.from_config(self.config())
        rows = []
        for signal in self.db.query(
                "SELECT s.symbol, s.interval, s.open_time, s.side, s.prediction, s.confidence, s.features, "
                "t.status AS trade_status, t.exit_reason, t.return_pct, t.pnl, t.exit_time FROM trading_signals s "
                "LEFT JOIN trading_trades t ON t.signal_id = s.id LEFT JOIN outcome_samples o "
                "ON o.symbol = s.symbol AND o.interval = s.interval AND o.open_time = s.open_time "
                "WHERE o.id IS NULL AND (t.id IS NULL OR t.status = 'closed') ORDER BY s.open_time"):
            side = DIRECTIONS[signal["side"]]
            p_up = signal["confidence"] if signal["prediction"] == 1 else 1.0 - signal["confidence"]
            features = [json.loads(signal["features"])[name] for name in FEATURE_COLUMNS]
            key = (signal["symbol"], signal["interval"], signal["open_time"], side, p_up, features)
            if signal["trade_status"] == "closed" and signal["exit_reason"] != "force_exit":
                rows.append((*key, signal["return_pct"], signal["pnl"], "trade", signal["exit_time"]))
            elif (shadow := self._shadow(store, signal, side, rules)) is not None:
                rows.append((*key, shadow[0], shadow[1], "shadow", shadow[2]))
        return self.add(rows) if rows else 0

    @staticmethod
    def _shadow(store, signal, side: int, rules: TradeRules) -> tuple[float, float, int] | None:
        """(return %, PnL, exit time) of the trade a skipped signal would have opened, once settled."""
        bars = store.range(signal["symbol"], signal["interval"], start_ms=signal["open_time"] + 1)
        if bars.empty:
            return None
        prices = [bars[c].to_numpy(float)[:rules.max_holding_bars] for c in ("open", "high", "low", "close")]
        entry = entry_fill(side, prices[0][0], rules)
        found = find_exit(side, entry, *prices, rules)
        if found is None:
            return None
        result = settle(side, entry, found.price, rules)
        return result["return_pct"], result["pnl"], int(bars["open_time"].iat[found.offset])

    def learn(self, store) -> dict:
        """:meth:`sync` then :meth:`update`: what the pipeline runs after each batch of new candles."""
        added = self.sync(store)
        return {"added": added} | self.update()

    def pending_count(self) -> int:
        return self.db.query("SELECT COUNT(*) AS n FROM outcome_samples WHERE learned_at IS NULL")[0]["n"]

    # -- learning ------------------------------------------------------------------------------
    def update(self) -> dict:
        """Learn every pending sample, scoring it first, in groups of the same exit time, oldest first (as the
        outcomes became known; a warm-up's replayed history is scored step by step too); re-choose the threshold."""
        if not self.pending_count():
            return {"status": "skipped", "samples": 0, "reason": "no new trade outcome"}
        with ProcessLock(self.lock_dir, LOCK_NAME):
            rows = self.db.query("SELECT id, side, p_up, features, target, exit_time FROM outcome_samples "
                                 "WHERE learned_at IS NULL ORDER BY exit_time, id")
            if not rows:
                return {"status": "skipped", "samples": 0, "reason": "no new trade outcome"}
            payload = VersionedFile(self._file.path).load()[1]  # a private copy to learn on
            learner = payload["learner"] if payload else OutcomeLearner()
            features = np.frombuffer(b"".join(r["features"] for r in rows), dtype=FLOAT64).reshape(len(rows), -1)
            inputs = outcome_inputs(features, np.array([r["p_up"] for r in rows]), np.array([r["side"] for r in rows]))
            targets, exits = np.array([r["target"] for r in rows]), np.array([r["exit_time"] for r in rows])
            scored = np.full(len(rows), np.nan)
            for group in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(exits)) + 1):
                p = learner.score_then_learn(inputs[group], targets[group])
                if p is not None:
                    scored[group] = p
            now, cfg = self.clock(), self.config()
            with self.db.transaction() as conn:
                conn.executemany("UPDATE outcome_samples SET learned_at=?, scored_p=? WHERE id=?",
                                 [(now, float(p) if np.isfinite(p) else None, r["id"]) for r, p in zip(rows, scored)])
                history = conn.execute(
                    "SELECT scored_p, return_pct FROM (SELECT id, scored_p, return_pct FROM outcome_samples "
                    "WHERE scored_p IS NOT NULL ORDER BY exit_time DESC, id DESC LIMIT ?) ORDER BY id",
                    (TUNING_SAMPLES,)).fetchall()
                threshold = choose_threshold(np.array([h[0] for h in history], dtype=float),
                                             np.array([h[1] for h in history], dtype=float),
                                             cfg["outcome_threshold"], cfg["outcome_threshold_auto"])
                version = self._file.save({"learner": learner, "threshold": threshold, "updated_at": now})
        return {"status": "updated", "samples": len(rows), "version": version, "threshold": threshold[0]}

    # -- reading -------------------------------------------------------------------------------
    def judge(self, features: dict, p_up: float, side: int) -> dict:
        """The outcome gate's view of one signal: ``p_win`` (None until MIN_SAMPLES outcomes are learned),
        the ``threshold`` in force and how it was chosen (``threshold_how``), ``excluded_reason`` (the model
        is worse than its base rate lately) and ``samples_seen``."""
        cfg = self.config()
        payload = self._file.load()[1]
        learner = payload["learner"] if payload else OutcomeLearner()
        threshold, how = payload["threshold"] if payload else choose_threshold(
            np.empty(0), np.empty(0), cfg["outcome_threshold"], cfg["outcome_threshold_auto"])
        p_win = None
        if learner.ready:
            row = np.array([[features[name] for name in FEATURE_COLUMNS]])
            p_win = float(learner.predict_proba(outcome_inputs(row, np.array([p_up]), np.array([side])))[0])
        return {"p_win": p_win, "threshold": threshold, "threshold_how": how, "samples_seen": learner.samples_seen,
                "excluded_reason": learner.health(cfg["online_health_window"])[1]}

    def stats(self) -> dict:
        """The learner's summary (samples, scores, recent health beside the base rate, excluded), the
        threshold in force, samples by source and pending, and ``min_samples`` before it gates."""
        version, payload = self._file.load()
        learner = payload["learner"] if payload else OutcomeLearner()
        threshold = payload["threshold"] if payload else (None, "not chosen yet")
        sources = dict(self.db.connect().execute("SELECT source, COUNT(*) FROM outcome_samples GROUP BY source"))
        return {**learner.summary(self.config()["online_health_window"]), "version": version,
                "updated_at": payload and payload["updated_at"], "threshold": threshold[0],
                "threshold_how": threshold[1], "min_samples": MIN_SAMPLES, "pending": self.pending_count(),
                "samples_by_source": {s: sources.get(s, 0) for s in ("trade", "shadow", "replay")}}

"""The prediction log: every live prediction, scored against the candle ``horizon`` bars later.

One row per (symbol, interval, open_time, horizon). Predicting the same candle again replaces
the row while it is unscored (the latest models' view wins); once scored a row never changes,
so nothing can be re-predicted after its outcome is known. The outcome is the label rule of
:func:`engine.features.make_labels` (close[t+h] > close[t], positionally in the store).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from engine.db import Database
from engine.errors import ValidationError
from engine.features import make_labels
from engine.metrics import summarize, to_prediction

MODELS = ("sgd", "passive_aggressive", "mlp_online", "batch")
COLUMNS = tuple(f"p_{m}" for m in MODELS) + ("p_ensemble",)
VOTERS = (*MODELS, "abstain")
WEIGHT_COLUMNS = tuple(f"w_{v}" for v in VOTERS)  # the share each voter had in the hybrid (NULL: not recorded)

MIGRATIONS = [
    """
    CREATE TABLE predictions (
        symbol TEXT NOT NULL,
        interval TEXT NOT NULL,
        open_time INTEGER NOT NULL,
        horizon INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        p_sgd REAL, p_passive_aggressive REAL, p_mlp_online REAL, p_batch REAL,
        p_ensemble REAL NOT NULL,
        close REAL,
        model_versions TEXT NOT NULL,
        outcome INTEGER,
        scored_at INTEGER,
        PRIMARY KEY (symbol, interval, open_time, horizon)
    );
    CREATE INDEX predictions_unscored ON predictions(scored_at, symbol, interval);
    CREATE INDEX predictions_created ON predictions(created_at)
    """,
    "; ".join(f"ALTER TABLE predictions ADD COLUMN {c} REAL" for c in WEIGHT_COLUMNS),
]

_UPSERT = (
    "INSERT INTO predictions(symbol, interval, open_time, horizon, created_at, status, "
    + ", ".join(COLUMNS + WEIGHT_COLUMNS) + ", close, model_versions) VALUES ("
    + ", ".join("?" * (8 + len(COLUMNS) + len(WEIGHT_COLUMNS))) + ") "
    "ON CONFLICT(symbol, interval, open_time, horizon) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in ("created_at", "status", *COLUMNS, *WEIGHT_COLUMNS, "close",
                                                "model_versions"))
    + " WHERE predictions.outcome IS NULL"
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class PredictionLog:
    """The ``predictions`` table of one database."""

    def __init__(self, db: Database):
        self.db = db
        db.migrate("predictions", MIGRATIONS)

    def record(self, symbol: str, interval: str, open_time: int, horizon: int, probabilities: dict,
               status: str, close: float | None = None, model_versions: dict | None = None,
               created_at: int | None = None, weights: dict | None = None) -> None:
        """Store one prediction; ``probabilities`` maps MODELS and "ensemble" to P(up) or None, ``weights``
        VOTERS to the share each had in the hybrid (a voter left out: NULL, it did not answer)."""
        values = [probabilities.get(c[2:]) for c in COLUMNS]
        shares = [None if weights is None or v not in weights else float(weights[v]) for v in VOTERS]
        with self.db.transaction() as conn:
            conn.execute(_UPSERT, (symbol, interval, int(open_time), int(horizon),
                                   _now_ms() if created_at is None else int(created_at), status, *values, *shares,
                                   close, json.dumps(model_versions or {})))

    def score_outcomes(self, store) -> int:
        """Set the outcome of every unscored prediction whose ``horizon``-later candle is stored."""
        pending = self.db.query(
            "SELECT symbol, interval, horizon, MIN(open_time) AS first FROM predictions "
            "WHERE outcome IS NULL GROUP BY symbol, interval, horizon")
        updates = []
        for row in pending:
            candles = store.range(row["symbol"], row["interval"], start_ms=row["first"])
            if len(candles) <= row["horizon"]:
                continue
            labels = make_labels(candles["close"].reset_index(drop=True), row["horizon"]).to_numpy()
            known = np.isfinite(labels)
            by_time = dict(zip(candles["open_time"].to_numpy()[known].tolist(), labels[known].astype(int).tolist()))
            rows = self.db.query("SELECT open_time FROM predictions WHERE outcome IS NULL AND symbol=? "
                                 "AND interval=? AND horizon=?", (row["symbol"], row["interval"], row["horizon"]))
            updates += [(by_time[r["open_time"]], row["symbol"], row["interval"], r["open_time"], row["horizon"])
                        for r in rows if r["open_time"] in by_time]
        if updates:
            now = _now_ms()
            with self.db.transaction() as conn:
                conn.executemany(f"UPDATE predictions SET outcome=?, scored_at={now} WHERE symbol=? AND interval=? "
                                 "AND open_time=? AND horizon=? AND outcome IS NULL", updates)
        return len(updates)

    def _scored(self, where: str, params: tuple) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(outcomes, {name: probabilities}) of the scored rows matching ``where``."""
        sql_where = (where + " AND" if where else "WHERE") + " outcome IS NOT NULL"
        rows = self.db.connect().execute(f"SELECT outcome, {', '.join(COLUMNS)} FROM predictions {sql_where}",
                                         params).fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(COLUMNS))  # None -> nan
        return table[:, 0], {c[2:]: table[:, i + 1] for i, c in enumerate(COLUMNS)}

    def accuracy_summary(self, symbol: str | None = None) -> dict:
        """Live scores (metrics.summarize) per model and for the ensemble over scored predictions."""
        where, params = ("WHERE symbol=?", (symbol,)) if symbol else ("", ())
        counts = self.db.query(f"SELECT COUNT(*) AS n, COUNT(outcome) AS scored FROM predictions {where}", params)[0]
        outcomes, probs = self._scored(where, params)
        scores = {name: summarize(outcomes, p) for name, p in probs.items()}
        return {"symbol": symbol, "predictions": counts["n"], "scored": counts["scored"],
                "pending": counts["n"] - counts["scored"], "models": scores}

    def history(self, symbol: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        """Newest first, ``offset`` rows in: each prediction with its outcome and, per model, correct
        True/False/None. One symbol's rows go by bar time; every symbol's by the time they were predicted
        (symbols may replay different eras: bar time would put one symbol's rows all first)."""
        for name, value, lo in (("limit", limit, 1), ("offset", offset, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= 100_000_000:
                raise ValidationError(name, f"must be a whole number between {lo} and 100000000")
        if symbol:
            sql, params = "WHERE symbol=? ORDER BY open_time DESC", (symbol,)
        else:
            sql, params = "ORDER BY created_at DESC, open_time DESC, symbol", ()
        rows = self.db.query(f"SELECT * FROM predictions {sql} LIMIT ? OFFSET ?", (*params, limit, offset))
        out = []
        for r in rows:
            probs = {c[2:]: r[c] for c in COLUMNS}
            preds = {m: None if p is None else to_prediction(p) for m, p in probs.items()}
            outcome = r["outcome"]
            out.append({
                "symbol": r["symbol"], "interval": r["interval"], "open_time": r["open_time"],
                "horizon": r["horizon"], "created_at": r["created_at"], "status": r["status"],
                "close": r["close"], "probabilities": probs, "predictions": preds,
                "ensemble_prediction": preds["ensemble"], "model_versions": json.loads(r["model_versions"]),
                "outcome": outcome, "scored_at": r["scored_at"],
                "correct": {m: None if outcome is None or p is None else p == outcome for m, p in preds.items()},
            })
        return out

    def count(self, symbol: str | None = None) -> int:
        """Predictions stored (of one symbol): what :meth:`history` pages through."""
        where, params = ("WHERE symbol=?", (symbol,)) if symbol else ("", ())
        return self.db.query(f"SELECT COUNT(*) AS n FROM predictions {where}", params)[0]["n"]

    def scored(self, symbol: str, interval: str, limit: int = 1000) -> pd.DataFrame:
        """The newest ``limit`` scored predictions of ``symbol`` on ``interval`` bars, oldest first: open_time,
        outcome and P(up) per model and "ensemble" (NaN where a model had no answer)."""
        rows = self.db.connect().execute(
            f"SELECT open_time, outcome, {', '.join(COLUMNS)} FROM predictions WHERE symbol=? AND interval=? "
            "AND outcome IS NOT NULL ORDER BY open_time DESC LIMIT ?", (symbol, interval, int(limit))).fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 2 + len(COLUMNS))[::-1]  # None -> nan
        return pd.DataFrame({"open_time": table[:, 0].astype(np.int64), "outcome": table[:, 1].astype(np.int64),
                             **{c[2:]: table[:, i + 2] for i, c in enumerate(COLUMNS)}})

    def weights(self, symbol: str, interval: str, limit: int = 2000) -> pd.DataFrame:
        """The hybrid's weights over time: the newest ``limit`` predictions of ``symbol`` that recorded them,
        oldest first (open_time and a column per VOTERS)."""
        rows = self.db.connect().execute(
            f"SELECT open_time, {', '.join(WEIGHT_COLUMNS)} FROM predictions WHERE symbol=? AND interval=? "
            "AND w_abstain IS NOT NULL ORDER BY open_time DESC LIMIT ?",
            (symbol, interval, int(limit))).fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(VOTERS))[::-1]
        return pd.DataFrame({"open_time": table[:, 0].astype(np.int64),
                             **{v: table[:, i + 1] for i, v in enumerate(VOTERS)}})

    def cleanup(self, older_than_ms: int) -> int:
        """Delete predictions for candles that opened before ``older_than_ms``; returns rows deleted."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM predictions WHERE open_time < ?", (int(older_than_ms),)).rowcount

"""HybridLearningSystem: one object per data directory wiring every component, its jobs and scheduler.

Any number of processes may open the same data dir (the Dash server, its background-callback
workers, ``python -m engine ...``): all state lives in SQLite and versioned files, so
``status()`` gives the same answer everywhere. Jobs: "collect", "online_update",
"batch_retrain", "evaluate", "cleanup" (see engine.scheduler for when they run), and on demand
"backfill" and "outcome_warmup".
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from engine import paths
from engine.atomic import remove_stale_temp_files
from engine.batch import BatchTrainer
from engine.candles import INTERVAL_MS
from engine.collector import Collected, Collector
from engine.config import ConfigStore
from engine.db import Database
from engine.errors import ValidationError
from engine.health import below_baseline_alerts, excluded_alerts, model_health
from engine.hybrid import HybridEnsemble
from engine.jobs import JobRunner, now_ms
from engine.online import OnlineLearningManager
from engine.outcome.gate import SignalGate
from engine.outcome.manager import OutcomeManager
from engine.outcome.warmup import warm_up
from engine.pipeline import Pipeline
from engine.config import validate
from engine.scheduler import Dispatch, Leadership, Scheduler, plan, scheduler_state
from engine.store import CandleStore
from engine.trading import PaperTrader

DAY_MS = 86_400_000
PREDICT_CACHE_S = 1.0  # API predictions may be this old (other processes' model updates)
STALE_BARS = 3  # live data this many bars behind raises a "data_stale" alert
Progress = Callable[[float, str], None]
JOB_NAMES = ("collect", "backfill", "online_update", "batch_retrain", "evaluate", "cleanup",  # each a method
             "outcome_warmup")


def check_backfill_days(days: Any) -> int:
    """Days of history for a backfill, checked like the backfill_days setting; ValidationError("days")."""
    try:
        return validate({"backfill_days": days})["backfill_days"]
    except ValidationError as exc:
        raise ValidationError("days", exc.message) from None


class HybridLearningSystem:
    """Owns config, database, store, collector, online/batch models, ensemble, trader, jobs, scheduler."""

    def __init__(self, data_dir: str | os.PathLike | None = None, environ: dict[str, str] | None = None,
                 dispatch: Dispatch | None = None):
        """``dispatch``: where scheduled jobs run (engine.scheduler.Dispatch; default a thread of this process)."""
        self.data_dir = paths.data_dir(data_dir)
        self.config = ConfigStore(self.data_dir, environ)
        cfg = self.config.current
        self.db = Database(self.data_dir / "market.db")
        lock_dir, model_dir = self.data_dir / "locks", self.data_dir / "models"
        self.store = CandleStore(self.db)
        self.collector = Collector(self.store, cfg)
        self.online = OnlineLearningManager(self.db, model_dir, lock_dir, cfg)
        self.batch = BatchTrainer(self.db, self.store, model_dir, lock_dir, cfg)
        self.hybrid = HybridEnsemble(self.db, self.store, self.online, self.batch, cfg)
        self.outcome = OutcomeManager(self.db, model_dir, lock_dir, cfg)
        self.trader = PaperTrader(self.db, self.store, cfg, learn=self._learn_from_trade,
                                  gate=SignalGate(self.outcome, self.store, cfg))
        self.pipeline = Pipeline(self.store, self.online, self.hybrid, self.trader, cfg, outcome=self.outcome)
        self.jobs = JobRunner(self.db, lock_dir)
        for name in JOB_NAMES:
            self.jobs.register(name, getattr(self, name))
        self.scheduler = Scheduler(self.jobs, cfg, replaying=lambda: self.collector.source == "replay",
                                   dispatch=dispatch)
        self.leadership = Leadership(lock_dir, self._lead, self.scheduler.stop)
        self._predictions: dict[str, tuple[float, dict, dict]] = {}  # symbol -> (monotonic, config, answer)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> bool:
        """Become the data dir's scheduler, or stand by to take over (engine.scheduler.Leadership); True
        when this process schedules now. The scheduler at once collects, learns what waits, trains a first
        batch model if there is none and warms the outcome model if it has learned nothing (so a new instance
        shows candles, learning and gated signals within seconds)."""
        return self.leadership.start()

    def _lead(self) -> None:
        cfg = self.config.current()
        first = ["collect"] if cfg["data_collection_enabled"] else []
        first.append("online_update")
        if cfg["auto_retrain_enabled"] and self.batch.active() is None:
            first.append("batch_retrain")
        if not self.outcome.stats()["samples_seen"]:
            first.append("outcome_warmup")
        self.scheduler.start(run_now=first)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling (or standing by), wait up to ``timeout`` s for the jobs it started, and record the
        runs of this process still going as interrupted (the process is about to end)."""
        self.leadership.stop(timeout)
        self.jobs.interrupt_own(f"interrupted: the process stopped (waited {timeout:g} s for the job to finish)")

    def run_job(self, name: str, trigger: str = "api", **options: Any) -> dict:
        """Run a job now in this thread (e.g. progress=callable for retrain); returns its run record."""
        try:
            return self.jobs.run(name, trigger, **options)
        finally:
            self._predictions.clear()

    # --- jobs --------------------------------------------------------------------------------
    def collect(self, progress: Progress | None = None) -> dict:
        """Store new closed candles (an empty symbol gets its backfill first), then run the pipeline on them.
        ``progress(fraction, message)`` follows the live download across the symbols."""
        return self._after_candles(self.collector.collect_once(progress=self._per_symbol(progress)))

    def backfill(self, days: int | None = None, progress: Progress | None = None) -> dict:
        """Store the last ``days`` (default: config backfill_days; validated as that setting) of closed
        candles per symbol, fetching only what is missing, then run the pipeline on the new ones."""
        days = None if days is None else check_backfill_days(days)
        return self._after_candles(self.collector.backfill(days=days, progress=self._per_symbol(progress)))

    def _per_symbol(self, progress: Progress | None) -> Callable[[str, int, int], None] | None:
        """The collector's per-page (symbol, bars so far, bars expected) as a fraction over all symbols."""
        if progress is None:
            return None
        symbols = self.config.current()["symbols"]

        def per_page(symbol: str, seen: int, expected: int) -> None:
            done = symbols.index(symbol) if symbol in symbols else 0
            progress((done + min(1.0, seen / expected if expected else 1.0)) / len(symbols),
                     f"{symbol}: {seen}/{expected} bars")
        return per_page

    def _after_candles(self, new: Collected) -> dict:
        """The job's summary: source, new bars and pipeline results per symbol, symbols that failed (retried
        by the next collection)."""
        return {"source": self.collector.source, "new_candles": dict(new), "failed": new.failed,
                "symbols": self.pipeline.after_candles(new)}

    def online_update(self, batch_size: int = 50, trigger: str = "api") -> dict:
        """Learn the pending samples. A scheduled run skips while fewer than min_data_points_for_update wait;
        any other trigger is an explicit order and runs on what waits (at least one sample)."""
        return self.online.update_models_incremental(batch_size=batch_size, explicit=trigger != "schedule")

    def batch_retrain(self, trigger: str = "api", progress: Progress | None = None) -> dict:
        return self.batch.retrain(progress=progress, trigger=trigger)

    def outcome_warmup(self) -> dict:
        """Teach a new outcome model the simulated trades of a walk-forward replay over the stored history
        (engine.outcome.warmup); skipped (NotReady) once it has learned outcomes."""
        return warm_up(self.outcome, self.store, self.config.current())

    def rollback_batch(self, version: int | None = None) -> dict:
        """Make ``version`` (default: the previously active one) the active batch model; ValidationError if
        impossible. Predictions use it at once."""
        try:
            return self.batch.rollback(version)
        finally:
            self._predictions.clear()

    def evaluate(self) -> dict:
        """Score predictions whose outcome candle arrived; refresh live accuracy."""
        return {"scored": self.hybrid.score_outcomes(), "accuracy": self.hybrid.accuracy_summary(),
                "trading": self.trader.stats()}

    def cleanup(self) -> dict:
        """Retention: old candles (never inside the batch window), predictions, job runs, online history;
        temp files left by killed writers."""
        cfg, now = self.config.current(), now_ms()
        keep_from = {}
        for symbol in cfg["symbols"]:
            latest = self.store.latest(symbol, cfg["interval"])
            if latest is not None:
                keep_from[symbol] = int(latest["open_time"]) - cfg["batch_window_days"] * DAY_MS
        prediction_cutoff = now - cfg["prediction_retention_days"] * DAY_MS
        return {"candles": self.store.cleanup(now - cfg["candle_retention_days"] * DAY_MS, keep_from),
                "predictions": self.hybrid.log.cleanup(prediction_cutoff),
                "job_runs": self.jobs.cleanup(prediction_cutoff),
                "online_history": self.online.cleanup(prediction_cutoff),
                "temp_files": remove_stale_temp_files(self.data_dir)}

    def _learn_from_trade(self, features: dict, target: int, symbol: str) -> int:
        return self.online.add_training_data(features, target, symbol, source="trade")

    # --- queries -----------------------------------------------------------------------------
    def check_symbol(self, symbol: Any) -> str:
        """A configured symbol, upper-cased; ValidationError("symbol") otherwise."""
        symbols = self.config.current()["symbols"]
        if symbol is None or symbol == "":
            raise ValidationError("symbol", f"is required (one of {', '.join(symbols)})")
        if not isinstance(symbol, str):
            raise ValidationError("symbol", f"must be a string, one of {', '.join(symbols)}")
        if symbol.strip().upper() not in symbols:
            raise ValidationError("symbol", f"unknown symbol {symbol!r}; configured: {', '.join(symbols)}")
        return symbol.strip().upper()

    def predict(self, symbol: str) -> dict:
        """The ensemble's current call for ``symbol`` (not logged: the collect pipeline logs predictions).

        Served from a per-symbol cache for up to PREDICT_CACHE_S (a prediction changes only with a new
        candle, model or setting); a config change or a job run in this process refreshes it at once.
        """
        symbol, cfg = self.check_symbol(symbol), self.config.current()
        hit = self._predictions.get(symbol)
        if hit is not None and hit[1] == cfg and time.monotonic() - hit[0] < PREDICT_CACHE_S:
            return dict(hit[2])
        out = self.hybrid.predict(symbol, store_prediction=False)
        self._predictions[symbol] = (time.monotonic(), cfg, out)
        return dict(out)

    def data_collection(self) -> dict:
        cfg = self.config.current()
        stats = self.collector.stats()
        return {"enabled": cfg["data_collection_enabled"], "reason": stats["source_reason"], **stats}

    def status(self) -> dict:
        """The snapshot every page, API call and CLI shows (read from disk: same in every process)."""
        now, cfg = now_ms(), self.config.current()
        running, next_runs = scheduler_state(self.jobs, now)
        active = self.batch.active()
        serving = self.batch.serving()
        online = self.online.stats()
        collection = self.data_collection()
        last_runs = self.jobs.last_runs()
        retrain = last_runs.get("batch_retrain")
        health = model_health(self.hybrid.log, cfg["symbols"], cfg["interval"], cfg["label_horizon"],
                              cfg["online_health_window"])
        return {
            "running": running,
            "time": now,
            "batch_model": {
                "loaded": active is not None,
                "version": active and active.get("version"),
                "trained_at": active and active.get("trained_at"),
                "age_s": None if not active or active.get("trained_at") is None
                else round((now - active["trained_at"]) / 1000, 1),
                "metrics": active and active.get("metrics"),
                "choice": active and active.get("choice"), "evidence": active and active.get("evidence"),
                "serving": serving["serving"], "note": serving["note"],
            },
            "data_collection": {k: collection.get(k) for k in
                                ("enabled", "source", "replaying", "reason", "symbols", "last_error", "requests",
                                 "weight_used", "errors")},
            "last_retrain": None if retrain is None else {
                "time": retrain["start"], "outcome": retrain["outcome"],
                "promoted": (retrain["result"] or {}).get("promoted"),
                "version": (retrain["result"] or {}).get("version")},
            "next_runs": {name: next_runs.get(name) for name in plan(cfg, False)},  # scheduled jobs only
            "jobs": last_runs,
            "buffer": {"size": online.get("buffer_size"), "max": online.get("buffer_max"),
                       "pending": online.get("pending")},
            "outcome_model": self.outcome.stats(),
            "model_health": health,
            "alerts": (self._alerts(now, cfg, online, collection, last_runs, serving)
                       + excluded_alerts(health, now) + below_baseline_alerts(health, now)),
            "config": cfg,
        }

    @staticmethod
    def _alerts(now, cfg, online, collection, last_runs, serving) -> list[dict]:
        alerts = []
        for name, model in (online.get("models") or {}).items():
            if model.get("drift"):
                alerts.append({"level": "warning", "kind": "drift", "time": model.get("last_update") or now,
                               "message": f"concept drift detected for online model {name}"})
        for job, run in last_runs.items():
            if run["outcome"] == "error":
                alerts.append({"level": "danger", "kind": "job_failed", "time": run["start"],
                               "message": f"last {job} run failed: {run['error']}"})
        if collection.get("source") == "live":
            limit = STALE_BARS * INTERVAL_MS[cfg["interval"]]
            for symbol, info in (collection.get("symbols") or {}).items():
                if info.get("error"):
                    alerts.append({"level": "warning", "kind": "collect_failed", "time": now,
                                   "message": f"{symbol}: the last collection failed ({info['error']}); what is "
                                              "missing is requested again by the next one"})
                if info.get("lag_ms") is not None and info["lag_ms"] > limit:
                    alerts.append({"level": "warning", "kind": "data_stale", "time": now,
                                   "message": f"{symbol} candles are {info['lag_ms'] // 60_000} min behind"})
        message = (collection.get("replay") or {}).get("message")
        if message:
            alerts.append({"level": "warning", "kind": "replay_exhausted", "time": now, "message": message})
        if not serving["serving"]:
            alerts.append({"level": "warning", "kind": "batch_below_baseline" if serving["below_baseline"]
                           else "no_batch_model", "time": now, "message": serving["note"]})
        return alerts


class SystemHandle:
    """This process's HybridLearningSystem for one data dir, built on first call; a forked child process
    (a server worker, a background-callback or Celery worker) builds its own on its first call."""

    def __init__(self, data_dir: str | os.PathLike | None, environ: dict[str, str] | None = None,
                 dispatch: Dispatch | None = None):
        self.data_dir, self.environ, self.dispatch = data_dir, environ, dispatch
        self._pid: int | None = None
        self._system: HybridLearningSystem | None = None

    def __call__(self) -> HybridLearningSystem:
        if self._pid != os.getpid():
            self._system = HybridLearningSystem(self.data_dir, self.environ, self.dispatch)
            self._pid = os.getpid()
        return self._system

"""Job runner: one named job at a time across processes, every run recorded in SQLite.

A job is a function returning a JSON-able summary dict. A summary with ``"status": "skipped"``
(or a NotReady exception: too little data yet) is recorded as outcome "skipped"; an exception as "error"
(the caller never sees it, so a failing job cannot stop the scheduler); a job already running anywhere
(the ProcessLock ``job-<name>`` is held) as "busy". A run is recorded as "running" when it starts; one
whose process died before it finished (a job cancelled from the page is killed) becomes "interrupted".

Every run logs one JSON line when it starts and one when it ends (logger ``hls.jobs``; entry points send it
to stdout with :func:`log_to_stdout`), so a headless server or ``serve-jobs`` shows what it does.
"""
from __future__ import annotations

import inspect
import json
import logging
import math
import os
import sys
import time
import traceback
from typing import Any, Callable

from engine.db import Database
from engine.errors import NotReady, ValidationError
from engine.locks import LockBusy, ProcessLock

TRIGGERS = ("schedule", "api", "dashboard", "cli")
OUTCOMES = ("ok", "skipped", "error", "busy", "running", "interrupted")
# routine runs: scheduled collects that went fine (hidden from the job log unless asked for)
ROUTINE_EXCLUDED = "NOT (job='collect' AND trigger='schedule' AND outcome='ok')"
INTERRUPTED = "ended before finishing: the process running it was stopped (cancelled or killed)"

MIGRATIONS = [
    """
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        result TEXT,
        error TEXT,
        pid INTEGER
    );
    CREATE INDEX job_runs_job_time ON job_runs(job, started_at);
    CREATE TABLE job_schedule (
        job TEXT PRIMARY KEY,
        next_run INTEGER,
        every_s REAL,
        updated_at INTEGER NOT NULL
    )
    """,
    "CREATE INDEX job_runs_running ON job_runs(job) WHERE outcome = 'running'",
]

JobFunc = Callable[..., dict]
log = logging.getLogger("hls.jobs")


def log_to_stdout() -> None:
    """Send the job lines (one JSON object per line) to stdout; idempotent."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _log_line(event: str, **fields: Any) -> None:
    log.info(json.dumps({"event": event, "time": now_ms(), **fields, "pid": os.getpid()}))


def now_ms() -> int:
    return int(time.time() * 1000)


def json_safe(obj: Any) -> Any:
    """Strict-JSON copy (for run records and API answers): non-finite floats become None, unknown objects str()."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return json_safe(obj.item())
    return str(obj)


class JobRunner:
    """Runs registered jobs under a cross-process lock and records each run.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> runner = JobRunner(Database(d + "/m.db"), d + "/locks")
    >>> runner.register("hello", lambda: {"said": "hi"})
    >>> runner.run("hello", "cli")["outcome"]
    'ok'
    >>> runner.last_runs()["hello"]["result"]
    {'said': 'hi'}
    """

    def __init__(self, db: Database, lock_dir: str | os.PathLike, clock: Callable[[], int] = now_ms):
        self.db = db
        self.lock_dir = lock_dir
        self.clock = clock
        self._jobs: dict[str, JobFunc] = {}
        self._wants_trigger: set[str] = set()
        db.migrate("jobs", MIGRATIONS)

    @property
    def names(self) -> list[str]:
        return list(self._jobs)

    def register(self, name: str, func: JobFunc) -> None:
        """Add job ``name``; a function with a ``trigger`` parameter is told who started the run."""
        self._jobs[name] = func
        if "trigger" in inspect.signature(func).parameters:
            self._wants_trigger.add(name)

    def check(self, name: str, trigger: str) -> None:
        """Raise ValidationError for an unknown job or trigger."""
        if name not in self._jobs:
            raise ValidationError("job", f"unknown job {name!r}; have {', '.join(self._jobs)}")
        if trigger not in TRIGGERS:
            raise ValidationError("trigger", f"must be one of {', '.join(TRIGGERS)}")

    def run(self, name: str, trigger: str, **kwargs: Any) -> dict:
        """Run job ``name`` now (keyword arguments go to the job); return the recorded run."""
        self.check(name, trigger)
        started = self.clock()
        t0 = time.perf_counter()
        result: dict | None = None
        error = None
        try:
            with ProcessLock(self.lock_dir, f"job-{name}", timeout=0):
                run_id = self._record(None, name, trigger, started, 0, "running", None, None)["id"]
                _log_line("job_start", job=name, trigger=trigger, run=run_id)
                try:
                    if name in self._wants_trigger:
                        kwargs["trigger"] = trigger
                    result = self._jobs[name](**kwargs)
                    outcome = "skipped" if (result or {}).get("status") == "skipped" else "ok"
                except NotReady as exc:  # e.g. too little data to train yet: not a failure
                    outcome, result = "skipped", {"status": "skipped", "reason": str(exc)}
                except LockBusy as exc:  # the component's own lock, taken outside the job runner
                    outcome, error = "busy", str(exc)
                except Exception as exc:  # a failed job is recorded, never propagated
                    outcome = "error"
                    error = f"{type(exc).__name__}: {exc}"
                    result = {"traceback": traceback.format_exc(limit=6)[-2000:]}
                # finished while holding the lock: a "running" run whose lock is free has died (see _settle)
                return self._record(run_id, name, trigger, started, time.perf_counter() - t0, outcome, result, error)
        except LockBusy as exc:
            return self._record(None, name, trigger, started, time.perf_counter() - t0, "busy", None, str(exc))

    def _record(self, run_id, name, trigger, started, duration_s, outcome, result, error) -> dict:
        """Insert a run (``run_id`` None) or finish the one started as ``run_id``; log its end."""
        record = {"job": name, "trigger": trigger, "start": started, "duration_ms": int(duration_s * 1000),
                  "outcome": outcome, "result": json_safe(result), "error": error}
        values = (record["duration_ms"], outcome, None if result is None else json.dumps(record["result"]), error)
        with self.db.transaction() as conn:
            if run_id is None:
                run_id = conn.execute(
                    "INSERT INTO job_runs(job, trigger, started_at, duration_ms, outcome, result, error, pid) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)", (name, trigger, started, *values, os.getpid())).lastrowid
            else:
                conn.execute("UPDATE job_runs SET duration_ms=?, outcome=?, result=?, error=? WHERE id=?",
                             (*values, run_id))
        if outcome != "running":
            _log_line("job_end", job=name, trigger=trigger, run=run_id, duration_s=round(duration_s, 3),
                      outcome=outcome, error=error)
        return {**record, "id": run_id}

    def _settle(self) -> None:
        """Record as "interrupted" the runs still marked running whose job lock is free: a run finishes
        while holding its lock, so their process died first. Taking the lock keeps a new run out meanwhile."""
        for row in self.db.query("SELECT DISTINCT job FROM job_runs WHERE outcome='running'"):
            try:
                with ProcessLock(self.lock_dir, f"job-{row['job']}", timeout=0), self.db.transaction() as conn:
                    conn.execute("UPDATE job_runs SET outcome='interrupted', error=? WHERE job=? AND outcome='running'",
                                 (INTERRUPTED, row["job"]))
            except LockBusy:
                continue  # still running

    def interrupt_own(self, reason: str) -> int:
        """Record as "interrupted" (error ``reason``) this process's runs still marked running, e.g. at a
        shutdown that will not wait for them any longer (each logs its end line); a run that still finishes
        overwrites it."""
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT id, job, trigger, started_at FROM job_runs WHERE outcome='running' AND pid=?",
                                (os.getpid(),)).fetchall()
            conn.executemany("UPDATE job_runs SET outcome='interrupted', error=? WHERE id=?",
                             [(reason, run_id) for run_id, *_ in rows])
        for run_id, job, trigger, started in rows:
            _log_line("job_end", job=job, trigger=trigger, run=run_id, duration_s=round((self.clock() - started) / 1000, 3),
                      outcome="interrupted", error=reason)
        return len(rows)

    @staticmethod
    def _row(row) -> dict:
        return {"id": row["id"], "job": row["job"], "trigger": row["trigger"], "start": row["started_at"],
                "duration_ms": row["duration_ms"], "outcome": row["outcome"],
                "result": None if row["result"] is None else json.loads(row["result"]), "error": row["error"]}

    @staticmethod
    def _filters(job: str | None, outcome: str | None, routine: bool) -> tuple[str, list]:
        """SQL WHERE for history/count; ``routine=False`` leaves out the scheduled collects that went fine
        (while replaying, one every 5 s would bury everything else)."""
        clauses, params = [], []
        if job:
            clauses.append("job=?")
            params.append(job)
        if outcome:
            if outcome not in OUTCOMES:
                raise ValidationError("outcome", f"must be one of {', '.join(OUTCOMES)}")
            clauses.append("outcome=?")
            params.append(outcome)
        if not routine:
            clauses.append(ROUTINE_EXCLUDED)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def history(self, job: str | None = None, limit: int = 50, offset: int = 0, outcome: str | None = None,
                routine: bool = True) -> list[dict]:
        """Runs newest first, ``offset`` rows in; optionally of one job, one outcome, without routine runs."""
        self._settle()
        where, params = self._filters(job, outcome, routine)
        rows = self.db.query(f"SELECT * FROM job_runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                             [*params, int(limit), int(offset)])
        return [self._row(r) for r in rows]

    def count(self, job: str | None = None, outcome: str | None = None, routine: bool = True) -> int:
        """How many runs :meth:`history` pages through with the same filters."""
        where, params = self._filters(job, outcome, routine)
        return self.db.query(f"SELECT COUNT(*) AS n FROM job_runs {where}", params)[0]["n"]

    def last_runs(self) -> dict[str, dict]:
        """The latest run of every job that ever ran."""
        self._settle()
        rows = self.db.query("SELECT * FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job)")
        return {r["job"]: self._row(r) for r in rows}

    def last_run(self, job: str, outcome: str | None = None) -> dict | None:
        self._settle()
        sql, params = "SELECT * FROM job_runs WHERE job=?", [job]
        if outcome:
            sql, params = sql + " AND outcome=?", [job, outcome]
        rows = self.db.query(sql + " ORDER BY id DESC LIMIT 1", params)
        return self._row(rows[0]) if rows else None

    def cleanup(self, older_than_ms: int) -> int:
        """Delete run records started before ``older_than_ms``; return how many."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM job_runs WHERE started_at < ?", (int(older_than_ms),)).rowcount

    # The scheduler's plan, on disk so every process can show the next run times.
    def save_schedule(self, next_runs: dict[str, tuple[int | None, float | None]]) -> None:
        """Replace the stored plan: {job: (next_run_ms | None, every_s | None)} plus a heartbeat."""
        stamp = self.clock()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM job_schedule")
            conn.executemany("INSERT INTO job_schedule(job, next_run, every_s, updated_at) VALUES(?, ?, ?, ?)",
                             [(job, nxt, every, stamp) for job, (nxt, every) in next_runs.items()])

    def heartbeat(self) -> bool:
        """Mark the saved plan as alive; False when there is none (another scheduler cleared it)."""
        with self.db.transaction() as conn:
            return conn.execute("UPDATE job_schedule SET updated_at=?", (self.clock(),)).rowcount > 0

    def schedule(self) -> tuple[dict[str, int | None], int | None]:
        """({job: next run ms | None}, heartbeat ms | None) as last saved by a running scheduler."""
        rows = self.db.query("SELECT job, next_run, updated_at FROM job_schedule")
        beat = max((r["updated_at"] for r in rows), default=None)
        return {r["job"]: r["next_run"] for r in rows}, beat

"""The scheduler thread: runs the system's jobs at the configured intervals (``schedule`` library).

Each tick (1 s) re-reads the config (a cheap stat of config.json, so a change made by another
process counts) and rebuilds the plan when the intervals changed: no restart needed. A due job
runs on its own worker thread, so a long retrain never delays data collection; the JobRunner's
cross-process lock keeps a job from running twice at once, and records failures, so a failing
job is simply tried again at its next time.

Replay rule (the demo must move): while the collector replays bundled history, collection runs
at least every REPLAY_EVERY_S["collect"] seconds, online updates every 30 s and evaluation every
60 s (or the configured interval when that is shorter). Live data keeps the configured intervals.

The plan and a heartbeat are saved in SQLite (JobRunner.save_schedule), so ``status()`` in any
process shows the next run times and whether a scheduler is alive.

One scheduler per data dir: every process that wants to schedule (each server worker, ``serve-jobs``)
competes through :class:`Leadership`; only the holder of the non-blocking ProcessLock "scheduler" runs
one, the others retry every few seconds, so a dead leader (the kernel frees its lock) is replaced.
Where jobs run is pluggable (``dispatch``): a thread of this process by default, a Celery worker when
the system is given engine.tasks' dispatch. The scheduler decides *when* either way.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Callable, Iterable, Protocol

import schedule

from engine.jobs import JobRunner, now_ms
from engine.locks import LockBusy, ProcessLock

REPLAY_EVERY_S = {"collect": 5.0, "online_update": 30.0, "evaluate": 60.0}
HEARTBEAT_S = 5.0
STALE_MS = int(HEARTBEAT_S * 3 * 1000)  # a scheduler silent this long is not running

LEADER_RETRY_S = 2.0  # a standby process tries to become the scheduler this often

Spec = tuple[str, float | str]  # ("every", seconds) or ("daily", "HH:MM" UTC)


class Running(Protocol):
    """A started batch of job runs, as a thread looks: ``is_alive()`` and ``join(timeout)``."""

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


Dispatch = Callable[[list[str]], Running]  # start these jobs, one after the other, in the background


def thread_dispatch(runner: JobRunner) -> Dispatch:
    """Run the jobs on a daemon thread of this process (the one-machine default)."""
    def start(names: list[str]) -> threading.Thread:
        thread = threading.Thread(target=lambda: [runner.run(n, "schedule") for n in names],
                                  name=f"hls-job-{'+'.join(names)}", daemon=True)
        thread.start()
        return thread
    return start


def plan(config: dict, replaying: bool) -> dict[str, Spec | None]:
    """What runs when, for this config; None = job switched off."""
    every = {
        "collect": config["data_collection_interval_minutes"] * 60,
        "online_update": config["online_update_interval_minutes"] * 60,
        "batch_retrain": config["batch_retrain_interval_hours"] * 3600,
        "evaluate": config["evaluation_interval_minutes"] * 60,
    }
    if replaying:
        every = {job: min(s, REPLAY_EVERY_S.get(job, s)) for job, s in every.items()}
    out: dict[str, Spec | None] = {job: ("every", s) for job, s in every.items()}
    if not config["data_collection_enabled"]:
        out["collect"] = None
    if not config["auto_retrain_enabled"]:
        out["batch_retrain"] = None
    out["cleanup"] = ("daily", config["cleanup_time"])
    return out


def utc_to_local_hhmm(hhmm: str) -> str:
    """Today's HH:MM UTC as HH:MM local time (``schedule`` counts in local time)."""
    h, m = map(int, hhmm.split(":"))
    today = dt.datetime.now(dt.timezone.utc).replace(hour=h, minute=m, second=0, microsecond=0)
    return today.astimezone().strftime("%H:%M")


def scheduler_state(runner: JobRunner, now: int | None = None) -> tuple[bool, dict[str, int | None]]:
    """(a scheduler is alive, {job: next run ms}) as saved on disk by whichever process runs it."""
    next_runs, beat = runner.schedule()
    now = now_ms() if now is None else now
    running = beat is not None and now - beat < STALE_MS
    return running, (next_runs if running else {job: None for job in next_runs})


class Scheduler:
    """Runs ``runner``'s jobs per :func:`plan`; ``start()`` / ``stop()`` the background thread."""

    def __init__(self, runner: JobRunner, config: Callable[[], dict],
                 replaying: Callable[[], bool] = lambda: False, tick_s: float = 1.0,
                 heartbeat_s: float = HEARTBEAT_S, dispatch: Dispatch | None = None):
        self.runner = runner
        self.dispatch = dispatch or thread_dispatch(runner)
        self.config = config
        self.replaying = replaying
        self.tick_s, self.heartbeat_s = tick_s, heartbeat_s
        self._sched = schedule.Scheduler()
        self._plan: dict[str, Spec | None] | None = None
        self._saved: dict | None = None
        self._last_beat = 0.0
        self._workers: dict[str, Running] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, run_now: Iterable[str] = ()) -> None:
        """Start the thread; the jobs in ``run_now`` are dispatched at once, to run one after the other
        (e.g. the first collection, then a first batch model trained on it)."""
        if self.running:
            return
        self._stop.clear()
        self.tick()  # the plan and heartbeat are on disk before any job runs: status() says "running" at once
        run_now = list(run_now)
        if run_now:
            self._workers.update(dict.fromkeys(run_now, self.dispatch(run_now)))  # scheduled runs wait for these
        self._thread = threading.Thread(target=self._loop, name="hls-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling, wait up to ``timeout`` s in all for the jobs it started, and clear the saved plan."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for worker in set(self._workers.values()):
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        self._sched.clear()
        self._plan = self._saved = None
        self.runner.save_schedule({})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # e.g. a locked database: try again next tick
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(self.tick_s)

    def tick(self) -> None:
        """Reschedule if the config changed, start due jobs, save next runs and the heartbeat."""
        wanted = plan(self.config(), self.replaying())
        if wanted != self._plan:
            self._reschedule(wanted)
        self._sched.run_pending()
        saved, now = self.next_runs(), dt.datetime.now().timestamp()
        beat_due = now - self._last_beat >= self.heartbeat_s
        if saved != self._saved or (beat_due and not self.runner.heartbeat()):
            self.runner.save_schedule({job: (nxt, self._every(job)) for job, nxt in saved.items()})
            self._saved, self._last_beat = saved, now
        elif beat_due:
            self._last_beat = now

    def _every(self, job: str) -> float | None:
        spec = (self._plan or {}).get(job)
        return spec[1] if spec and spec[0] == "every" else None

    def _reschedule(self, wanted: dict[str, Spec | None]) -> None:
        old = {job.tags.copy().pop(): job for job in self._sched.get_jobs()}
        for name in self.runner.names:
            spec, before = wanted.get(name), (self._plan or {}).get(name)
            if spec == before and name in old:
                continue  # unchanged: keep its next run time
            if name in old:
                self._sched.cancel_job(old[name])
            if spec is None:
                continue
            kind, value = spec
            job = (self._sched.every(value).seconds if kind == "every"
                   else self._sched.every().day.at(utc_to_local_hhmm(value)))
            job.do(self.launch, name).tag(name)
        self._plan = wanted

    def next_runs(self) -> dict[str, int | None]:
        """{job: next run, epoch ms | None when switched off} for every registered job."""
        out: dict[str, int | None] = {name: None for name in self.runner.names}
        for job in self._sched.get_jobs():
            name = next(iter(job.tags))
            out[name] = int(job.next_run.timestamp() * 1000) if job.next_run else None
        return out

    def launch(self, name: str) -> bool:
        """Dispatch job ``name`` unless the run this scheduler last started is still going."""
        worker = self._workers.get(name)
        if worker is not None and worker.is_alive():
            return False
        self._workers[name] = self.dispatch([name])
        return True


class Leadership:
    """Makes this process the data dir's one scheduler when it can, and keeps trying when it cannot.

    ``start()`` tries the non-blocking ProcessLock ``lock_dir/scheduler.lock`` at once, then every
    ``retry_s`` on a daemon thread; the winner calls ``lead()`` once and keeps the lock until ``stop()``,
    which calls ``resign(timeout)`` before releasing it. Call ``start()`` after fork (in the process that
    will run the scheduler): threads and locks do not survive a fork.
    """

    def __init__(self, lock_dir, lead: Callable[[], None], resign: Callable[[float], None],
                 retry_s: float = LEADER_RETRY_S):
        self.lock = ProcessLock(lock_dir, "scheduler", timeout=0)
        self.lead, self.resign, self.retry_s = lead, resign, retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.leading = False
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """In a forked child (e.g. a background-callback process): it does not lead (engine.locks closed the
        inherited lock descriptor, so the lock dies with the leader and a standby can take over at once)."""
        self.leading, self._thread = False, None
        self._guard = threading.Lock()

    def start(self) -> bool:
        """Try now; True when this process leads. Otherwise a thread retries until it does or stop()."""
        self._stop.clear()
        if self._try() or self._thread is not None:
            return self.leading
        self._thread = threading.Thread(target=self._retry, name="hls-leader-election", daemon=True)
        self._thread.start()
        return False

    def _try(self) -> bool:
        with self._guard:
            if self.leading or self._stop.is_set():
                return self.leading
            try:
                self.lock.acquire()
            except LockBusy:
                return False
            self.leading = True
            self.lead()
        return True

    def _retry(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self._try():
                return

    def stop(self, timeout: float = 10.0) -> None:
        """Stop trying; if leading, ``resign(timeout)`` then release the lock for a standby to take."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.retry_s + 1)
            self._thread = None
        with self._guard:
            if self.leading:
                try:
                    self.resign(timeout)
                finally:
                    self.lock.release()
                    self.leading = False

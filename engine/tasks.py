"""Jobs as Celery tasks (Redis as broker and result backend), for scale-out; no Dash here.

``make_celery(redis_url, systems)`` builds the Celery app with one task, ``hls.run_jobs(names, trigger)``:
it runs the system's jobs in order, in the worker process, on that process's own HybridLearningSystem
(``systems``, an engine.system.SystemHandle for the instance's data dir), through the same JobRunner
(locks, run records, log lines) as everywhere else.
``dispatch(celery)`` is an engine.scheduler.Dispatch that enqueues instead of starting a thread: the elected
scheduler still decides *when* (following config changes live); a worker does the work.

The Dash side registers its background callbacks on the same app (dash.CeleryManager), so one worker
process pool serves both (``python app.py worker``).
"""
from __future__ import annotations

import time

from celery import Celery
from celery.result import AsyncResult

from engine.scheduler import Dispatch
from engine.system import SystemHandle

TASK = "hls.run_jobs"
QUEUE_EXPIRES_S = 600  # a scheduled run no worker started within this is dropped (the next one is due anyway)


def make_celery(redis_url: str, systems: SystemHandle) -> Celery:
    """The Celery app for one instance; every server and worker of it builds the same one."""
    app = Celery("hls", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_track_started=True,  # "STARTED" in the backend: the scheduler sees a run in progress
        worker_prefetch_multiplier=1,  # long jobs: a worker takes one task at a time per process
        worker_redirect_stdouts=False, worker_hijack_root_logger=False,  # job lines stay plain JSON on stdout
        broker_connection_retry_on_startup=True, result_expires=86_400,
    )

    @app.task(name=TASK)
    def run_jobs(names: list[str], trigger: str = "schedule") -> list[dict]:
        """Run ``names`` in order here; the compact run records (id, job, outcome, error)."""
        runs = [systems().run_job(name, trigger) for name in names]
        return [{k: run[k] for k in ("id", "job", "outcome", "error")} for run in runs]

    return app


class QueuedRun:
    """A queued task as the Scheduler sees a thread: alive while it runs, or waits for a worker (until it
    expires); ``join`` returns at once (the worker owns the run, the scheduler does not wait for it)."""

    def __init__(self, result: AsyncResult, expires_at: float):
        self.result, self.expires_at = result, expires_at

    def is_alive(self) -> bool:
        state = self.result.state
        return state == "STARTED" or (state == "PENDING" and time.time() < self.expires_at)

    def join(self, timeout: float | None = None) -> None:
        return None


def dispatch(celery: Celery) -> Dispatch:
    """Enqueue the jobs as one ``hls.run_jobs`` task (they run in order in one worker process)."""
    def start(names: list[str]) -> QueuedRun:
        result = celery.send_task(TASK, args=[list(names), "schedule"], expires=QUEUE_EXPIRES_S)
        return QueuedRun(result, time.time() + QUEUE_EXPIRES_S)
    return start

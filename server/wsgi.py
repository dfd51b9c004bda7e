"""The production server: gunicorn (gthread workers), started from ``python app.py``.

Each worker process builds its own app after fork (``factory()``; nothing is preloaded in the master, so no
thread, lock or SQLite connection crosses a fork) and, with it, competes to run the scheduler
(engine.scheduler.Leadership): one worker schedules, the others stand by and take over if it dies.

SIGTERM (gunicorn's graceful stop): every worker stops taking connections and finishes its requests while,
at once, its system stops scheduling and waits up to ``shutdown_timeout`` s for the jobs it started; a run
still going after that is recorded "interrupted" (writes are atomic, so nothing is half-written). The master
kills a worker only after ``shutdown_timeout + KILL_MARGIN_S``.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

KILL_MARGIN_S = 10  # the master's graceful_timeout exceeds the jobs' wait by this much


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind string ('[::1]:8050' for IPv6)."""
    return f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"


class Server(BaseApplication):
    """``Server(factory, ...).run()`` serves ``factory()``'s Dash app (its ``.server`` and ``.system``)."""

    def __init__(self, factory: Callable[[], Any], host: str, port: int, workers: int = 1, threads: int = 8,
                 shutdown_timeout: float = 20.0, options: dict | None = None):
        self.factory, self.shutdown_timeout = factory, shutdown_timeout
        self.options = {
            "bind": bind_address(host, port), "workers": workers, "threads": threads,
            "worker_class": "gthread", "graceful_timeout": math.ceil(shutdown_timeout) + KILL_MARGIN_S,
            "timeout": 120, "keepalive": 5, "proc_name": "hybrid-learning", "preload_app": False,
            "errorlog": "-", "loglevel": "info", "control_socket_disable": True,
            "post_worker_init": self._post_worker_init, "worker_exit": self._worker_exit,
            **(options or {}),
        }
        self.app: Any = None
        self._stopping: threading.Thread | None = None
        self._stop_started = 0.0
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """In the worker, after fork: build the app (which starts competing for the scheduler)."""
        self.app = self.factory()
        return self.app.server

    def _stop_system(self) -> None:
        self.app.system.stop(self.shutdown_timeout)

    def _post_worker_init(self, worker) -> None:
        """On SIGTERM, stop the system at once on a thread, beside gunicorn's own draining of requests."""
        drain = signal.getsignal(signal.SIGTERM)

        def graceful(signum, frame):
            if self._stopping is None and self.app is not None:
                self._stop_started = time.monotonic()
                self._stopping = threading.Thread(target=self._stop_system, name="hls-shutdown", daemon=True)
                self._stopping.start()
            drain(signum, frame)
        signal.signal(signal.SIGTERM, graceful)

    def _worker_exit(self, _arbiter, _worker) -> None:
        """Wait for the SIGTERM stop (or stop now, e.g. a worker ending for another reason)."""
        if self.app is None:
            return
        if self._stopping is None:
            self._stop_system()
        else:
            self._stopping.join(max(0.0, self._stop_started + self.shutdown_timeout + 1 - time.monotonic()))

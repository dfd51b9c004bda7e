"""Locks that hold across processes (fcntl.flock on a file); the kernel frees them if a holder dies.

A forked child (a background-callback job, a server worker) closes the lock descriptors it inherited
without unlocking: the locks stay its parent's, and die with the parent rather than with the child.
"""
from __future__ import annotations

import fcntl
import os
import time
import weakref
from pathlib import Path

_HELD: "weakref.WeakSet[ProcessLock]" = weakref.WeakSet()  # this process's locks that are held now


def _forget_inherited() -> None:
    for lock in list(_HELD):
        try:
            if os.fstat(lock._fd).st_ino == lock._inode:  # (a descriptor closed behind the lock's back, e.g.
                os.close(lock._fd)                       # by a test simulating a dead holder, may be reused)
        except OSError:
            pass
        lock._fd = None
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_inherited)


class LockBusy(RuntimeError):
    """Raised when a non-blocking lock is already held (by this or another process)."""


class ProcessLock:
    """An exclusive lock named by a file under ``lock_dir``; usable as a context manager.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with ProcessLock(d, "job"):
    ...     ProcessLock(d, "job", timeout=0).acquire()
    Traceback (most recent call last):
    ...
    engine.locks.LockBusy: 'job' is already running
    """

    def __init__(self, lock_dir: str | os.PathLike, name: str, timeout: float | None = None):
        self.path = Path(lock_dir) / f"{name}.lock"
        self.name = name
        self.timeout = timeout  # None: wait for ever; 0: fail at once
        self._fd: int | None = None

    def acquire(self) -> "ProcessLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(f"{self.name!r} is already running") from None
                time.sleep(0.01)
        self._fd, self._inode = fd, os.fstat(fd).st_ino
        _HELD.add(self)
        return self

    def release(self) -> None:
        if self._fd is not None:
            _HELD.discard(self)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ProcessLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

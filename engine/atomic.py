"""Atomic files: write to a temp file in the same folder, fsync, then os.replace.

``VersionedFile`` keeps one pickled object with a version number; readers in any process
reload it only when the file on disk changed (cheap stat check), so a model saved by a
background worker is seen by the server on its next read. Only files this app wrote are
ever unpickled: paths are fixed by the code, never named by a client.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any


def file_stamp(path: str | os.PathLike) -> tuple | None:
    """(inode, mtime, size) of ``path``, None when missing: changes whenever the file is replaced."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temp_files(folder: str | os.PathLike, older_than_s: float = 3600, pattern: str = "**/.*.tmp") -> int:
    """Delete temp files that atomic writes left under ``folder`` (their writer was killed, e.g. a
    cancelled job); only files untouched for ``older_than_s``, so no write in progress is hit. A writer
    holding the lock of the files ``pattern`` matches may pass 0: no other write of them can be running."""
    cutoff, removed = time.time() - older_than_s, 0
    for tmp in Path(folder).glob(pattern) if Path(folder).is_dir() else ():
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # another process removed it first
    return removed


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


class VersionedFile:
    """A pickled object plus a version number, replaced atomically, reloaded when changed."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stamp: tuple | None = None
        self._cached: tuple[int, Any] = (0, None)

    def load(self) -> tuple[int, Any]:
        """(version, object); (0, None) when nothing was saved yet."""
        stamp = file_stamp(self.path)
        if stamp is None:
            self._stamp, self._cached = None, (0, None)
        elif stamp != self._stamp:
            with open(self.path, "rb") as fh:
                payload = pickle.load(fh)
            self._stamp, self._cached = stamp, (payload["version"], payload["object"])
        return self._cached

    def save(self, obj: Any) -> int:
        """Write the next version; the caller holds the writer lock for this file (so temp files a killed
        writer left beside it are removed here)."""
        remove_stale_temp_files(self.path.parent, 0, f".{self.path.name}.*.tmp")
        version = self.load()[0] + 1
        atomic_write_bytes(self.path, pickle.dumps({"version": version, "object": obj},
                                                   protocol=pickle.HIGHEST_PROTOCOL))
        self._stamp, self._cached = file_stamp(self.path), (version, obj)
        return version

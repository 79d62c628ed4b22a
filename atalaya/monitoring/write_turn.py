"""Taking turns at SQLite's single write lock: a file lock beside the database.

SQLite lets one writer in at a time and makes the others poll, sleeping longer each
time (up to 100 ms). A background job writing chunk after chunk (rollups, retention,
forecasts) would keep winning that race against the agent API's writers, and
check-ins would wait for seconds. Every monitoring writer therefore takes this
blocking ``flock`` around each write transaction: the kernel wakes a waiting writer
the moment the holder lets go, so writers alternate. On PostgreSQL (row locks, many
writers) and where ``fcntl`` is missing it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from django.db import connection

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_fds: dict[str, int] = {}
_fds_lock = threading.Lock()
# Threads of one process share the flock (it belongs to the open file description):
# this lock keeps them apart, and the depth lets a turn be re-entered by its holder.
_thread_turn = threading.RLock()
_local = threading.local()


def _lock_fd() -> int | None:
    if fcntl is None or connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if name.startswith("file:") or name == ":memory:" or not name:
        return None
    with _fds_lock:
        fd = _fds.get(name)
        if fd is None:
            fd = _fds[name] = os.open(f"{name}.agent-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        return fd


@contextlib.contextmanager
def write_turn() -> Iterator[None]:
    """Hold the database's write turn (SQLite) for the enclosed transaction."""
    fd = _lock_fd()
    if fd is None:
        yield
        return
    with _thread_turn:
        depth = getattr(_local, "depth", 0)
        if depth == 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _local.depth = depth + 1
        try:
            yield
        finally:
            _local.depth = depth
            if depth == 0:
                fcntl.flock(fd, fcntl.LOCK_UN)

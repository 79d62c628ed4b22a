"""Writers take turns at SQLite's write lock through a file lock beside the database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from atalaya.monitoring import write_turn as turn_module
from atalaya.monitoring.write_turn import write_turn

HOLD_S = 0.6

# Another process takes the turn, says so, and keeps it for HOLD_S seconds.
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
fcntl.flock(fd, fcntl.LOCK_UN)
"""


@pytest.fixture
def sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The connection made to look like a file database's (the tests' is in memory)."""
    name = tmp_path / "atalaya.sqlite3"
    monkeypatch.setitem(connection.settings_dict, "NAME", str(name))
    monkeypatch.setattr(turn_module, "_fds", {})
    return name


def test_a_writer_waits_while_another_process_holds_the_turn(
    request: pytest.FixtureRequest,
) -> None:
    if connection.vendor != "sqlite":
        # PostgreSQL has row locks and many writers: the turn is not taken at all.
        with write_turn():
            assert turn_module._lock_fd() is None
        return
    name = request.getfixturevalue("sqlite_file")
    lock = f"{name}.agent-writer.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lock, str(HOLD_S)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with write_turn():
            waited = time.monotonic() - started
            # Re-entering the turn in the same thread does not deadlock.
            with write_turn():
                pass
        assert waited >= HOLD_S * 0.5, waited
    finally:
        holder.wait(timeout=10)


def test_the_turn_is_free_again_after_use(request: pytest.FixtureRequest) -> None:
    if connection.vendor != "sqlite":
        assert turn_module._lock_fd() is None
        return
    name = request.getfixturevalue("sqlite_file")
    with write_turn():
        pass
    # Another process gets the turn at once.
    probe = subprocess.run(
        [sys.executable, "-c", HOLDER, f"{name}.agent-writer.lock", "0"],
        capture_output=True,
        text=True,
        timeout=5,
    )
    assert probe.stdout.strip() == "held"

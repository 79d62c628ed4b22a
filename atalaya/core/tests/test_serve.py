"""``atalaya serve`` over a real socket: it serves, prints the URL and logins, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite install in a temporary directory, migrated and with a small demo."""
    data = tmp_path_factory.mktemp("serve")
    environ = {
        **os.environ,
        "ATALAYA_DATA_DIR": str(data),
        "DJANGO_SETTINGS_MODULE": "atalaya.settings",
    }
    for name in ("ATALAYA_DATABASE_URL", "ATALAYA_REDIS_URL", "ATALAYA_PORT", "ATALAYA_HOST"):
        environ.pop(name, None)
    cli = [sys.executable, "-m", "atalaya.cli"]
    subprocess.run([*cli, "migrate", "-v0"], env=environ, cwd=REPO, check=True, timeout=180)
    subprocess.run(
        [*cli, "demo", "--tickets", "30"],
        env=environ,
        cwd=REPO,
        check=True,
        timeout=180,
        capture_output=True,
    )
    return environ


class Served:
    """A running ``atalaya serve`` whose output is collected by a thread."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "atalaya.cli", "serve", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.1)

    def children(self) -> tuple[int, int]:
        line = next(line for line in self.lines if line.startswith("Web server pid"))
        words = line.replace(",", "").replace(".", "").split()
        return int(words[3]), int(words[-1])


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[Served, int]]:
    port = free_port()
    server = Served(env, "--port", str(port), "--workers", "1")
    yield server, port
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def test_serve_answers_http_and_stops_cleanly(served: tuple[Served, int]) -> None:
    server, port = served
    server.wait_for("Press Ctrl-C to stop.")
    assert f"Atalaya is running at http://127.0.0.1:{port}/" in server.output
    assert "admin" in server.output and "portal@greenleaf.example" in server.output
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30) as response:
        assert response.status == 200
        assert "csrfmiddlewaretoken" in response.read().decode()
    # Static files come from whitenoise without collectstatic.
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/static/atalaya/atalaya.css", timeout=30
    ) as response:
        assert response.status == 200 and len(response.read()) > 100
    web, worker = server.children()
    server.wait_for("Huey consumer started")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.output
    assert wait_gone(web) and wait_gone(worker)
    assert "Stopped." in server.output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_serve_stops_the_web_server_when_the_worker_dies(served: tuple[Served, int]) -> None:
    server, _port = served
    server.wait_for("Press Ctrl-C to stop.")
    web, worker = server.children()
    os.kill(worker, signal.SIGKILL)
    assert server.process.wait(timeout=60) != 0
    assert "background worker exited" in server.output
    assert wait_gone(web)


def test_serve_refuses_a_busy_port(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "atalaya.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "ATALAYA_PORT" in result.stderr

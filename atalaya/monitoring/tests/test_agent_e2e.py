"""The real agent against the real server on 127.0.0.1: enroll, check in, outage, actions.

``atalaya-agent`` runs as a subprocess (the console script installed in the venv) with
its own state directory, talking to pytest-django's live server through a small TCP
proxy of real sockets that the test stops and starts to take the server away. The
proxy also keeps the bytes of every exchange, so the test can read what the agent sent
and what the server answered: replayed samples oldest first, none sent twice after a
200, none lost. The one-second cycle comes from ``ATALAYA_AGENT_INTERVAL_S`` (and the
backoff cap from ``ATALAYA_AGENT_BACKOFF_MAX_S``), both documented in agent/README.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from atalaya.conftest import World
from atalaya.monitoring import signing
from atalaya.monitoring.actions import (
    action_payload,
    approve_script,
    create_script,
    queue_action,
    retire_device,
)
from atalaya.monitoring.enrollment import create_enrollment_token
from atalaya.monitoring.models import (
    ActionStatus,
    Device,
    JobHeartbeat,
    MetricSample,
    RemoteAction,
    Volume,
)

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = Path(sys.executable).with_name("atalaya-agent")


@dataclass
class Exchange:
    """One connection through the proxy: the bytes each way."""

    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)

    def request(self) -> tuple[str, dict[str, Any] | None]:
        head, _, body = bytes(self.up).partition(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        try:
            return line, json.loads(body) if body else None
        except ValueError:
            return line, None

    def status(self) -> int | None:
        line = bytes(self.down).split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 else None


class Proxy:
    """A TCP proxy on a fixed port of 127.0.0.1 in front of ``upstream``; stop() refuses."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.exchanges: list[Exchange] = []
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would let it
            # take one more connection.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            exchange = Exchange()
            with self._lock:
                self.exchanges.append(exchange)
                self._open.update((client, server))
            threading.Thread(
                target=self._pump, args=(client, server, exchange.up), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, exchange.down), daemon=True
            ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                record.extend(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def checkins(self) -> list[tuple[int | None, dict[str, Any]]]:
        """Every check-in request seen, in order, with the status the server answered."""
        out = []
        for exchange in list(self.exchanges):
            line, body = exchange.request()
            if "/agent/v1/checkin" in line and body is not None:
                out.append((exchange.status(), body))
        return out


@pytest.fixture
def proxy(live_server: Any) -> Iterator[Proxy]:
    host, port = live_server.thread.host, live_server.thread.port
    p = Proxy((host, port))
    p.start()
    yield p
    p.stop()


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Path) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def agent_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ATALAYA_AGENT_STATE_DIR", None)
    env.update(ATALAYA_AGENT_INTERVAL_S="1", ATALAYA_AGENT_BACKOFF_MAX_S="1")
    env.update(extra)
    return env


def agent(state_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENT), *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=agent_env(),
    )


def start_agent(state_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(AGENT), "run", "--state-dir", str(state_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=agent_env(),
        )


def stop_agent(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=20) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def spooled_times(state_dir: Path) -> list[int]:
    """The samples waiting in the agent's own spool (its SQLite file, read directly)."""
    db = sqlite3.connect(f"file:{state_dir / 'spool.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return [row[0] for row in db.execute("SELECT t FROM sample ORDER BY t")]
    finally:
        db.close()


def server_times(device: Device) -> list[int]:
    return list(
        MetricSample.objects.filter(device=device).order_by("t").values_list("t", flat=True)
    )


def enroll(world: World, proxy: Proxy, state_dir: Path, *, uses: int = 1) -> Device:
    _token, raw = create_enrollment_token(
        actor=world.tech,
        site=world.site_a,
        name="e2e",
        expires_at=timezone.now() + timedelta(hours=1),
        max_uses=uses,
    )
    done = agent(state_dir, "enroll", "--server", proxy.url, "--token", raw)
    assert done.returncode == 0, done.stderr
    device_id = json.loads((state_dir / "state.json").read_text())["device_id"]
    assert f"enrolled as device {device_id}" in done.stdout
    return Device.objects.get(public_id=device_id)


def test_enroll_check_in_outage_restart_and_replay(
    world: World, proxy: Proxy, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    device = enroll(world, proxy, state_dir)

    # Enrollment: the device at its site, the token private, the signing key stored.
    assert device.client == world.client_a and device.site == world.site_a
    assert device.machine_id == Path("/etc/machine-id").read_text().strip()
    assert device.hostname == socket.gethostname() and device.platform == "linux"
    assert stat.S_IMODE((state_dir / "token").stat().st_mode) == 0o600
    token = (state_dir / "token").read_text().strip()
    assert token.startswith("atd_")
    state_text = (state_dir / "state.json").read_text()
    assert json.loads(state_text)["signing_public_key"] == signing.public_key_b64()
    # The token lives in its private file only.
    assert token not in state_text

    # One check-in: a sample, the volumes, the snapshot and the inventory stored.
    done = agent(state_dir, "run", "--once")
    assert done.returncode == 0, done.stderr
    device.refresh_from_db()
    assert len(server_times(device)) == 1
    assert device.last_seen_at is not None
    root = Volume.objects.get(device=device, mountpoint="/")
    assert root.total_bytes > 0 and root.free_bytes > 0 and root.fstype
    assert device.latest["uptime_s"] > 0 and "users" in device.latest
    assert device.inventory["machine_id"] == device.machine_id
    assert device.inventory_hash and any(p["name"] == "dpkg" for p in device.inventory["software"])
    assert spooled_times(state_dir) == []

    # The service loop, one sample a second.
    log = tmp_path / "agent.log"
    proc = start_agent(state_dir, log)
    try:
        wait_for(lambda: len(server_times(device)) >= 4, "check-ins of the running agent")
        # The server goes away for several cycles; the agent keeps collecting.
        proxy.stop()
        wait_for(lambda: len(spooled_times(state_dir)) >= 3, "samples spooled while down")
        done = agent(state_dir, "report-job", "nightly-backup", "--ok", "--message", "12 GB")
        assert done.returncode == 0, done.stderr
        # Restarted while the server is down: nothing spooled is lost.
        stop_agent(proc)
        before_restart = spooled_times(state_dir)
        proc = start_agent(state_dir, log)
        wait_for(
            lambda: len(spooled_times(state_dir)) >= len(before_restart) + 3,
            "samples spooled after the restart",
        )
        pending = spooled_times(state_dir)
        assert set(before_restart) <= set(pending)
        sent_before_outage = server_times(device)
        # Only a check-in whose answer the outage cut off can be both stored and still
        # spooled (it is replayed, and the server takes its batch once): that is the
        # newest samples the server has, never older ones.
        overlap = sorted(set(pending) & set(sent_before_outage))
        assert overlap == sorted(sent_before_outage)[len(sent_before_outage) - len(overlap) :]
        # Back: everything replayed, oldest first.
        proxy.start()
        wait_for(lambda: set(pending) <= set(server_times(device)), "the replay")
        wait_for(lambda: not spooled_times(state_dir), "an empty spool")
    finally:
        stop_agent(proc)

    stored = server_times(device)
    assert set(sent_before_outage) | set(pending) <= set(stored)
    # What the server acknowledged, in the order it was sent: every sample once (after a
    # 200 it is never sent again), oldest first, and exactly what the server stored.
    accepted = [
        s["t"] for status, body in proxy.checkins() if status == 200 for s in body["samples"]
    ]
    assert accepted == sorted(accepted)
    # Twice only what a cut-off answer left spooled (see above).
    assert {t for t, n in Counter(accepted).items() if n > 1} <= set(overlap)
    assert set(accepted) == set(stored)
    assert all(s["n"] == 1 for _st, body in proxy.checkins() for s in body["samples"])
    heartbeat = JobHeartbeat.objects.get(device=device, name="nightly-backup")
    assert heartbeat.is_ok and heartbeat.message == "12 GB"
    assert "check-in failed" in log.read_text()
    status = json.loads(agent(state_dir, "status").stdout)
    assert status["spool"]["sample"] == 0 and status["spool"]["job"] == 0


def test_signed_actions_run_once_and_refusals_come_back(
    world: World, proxy: Proxy, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    device = enroll(world, proxy, state_dir)
    runs = tmp_path / "runs.txt"
    rebooted = tmp_path / "rebooted"
    conf = state_dir / "agent.conf"
    conf.write_text(
        f"[agent]\nallow_scripts = true\nreboot_command = sh -c 'echo rebooted > {rebooted}'\n"
    )
    script = create_script(
        actor=world.admin,
        name="append",
        interpreter="sh",
        body='printf "%s|%s\\n" "$1" "$2" >> "$3"; echo "done: $1"\n',
    )
    approve_script(actor=world.admin, script=script)
    action = queue_action(
        actor=world.admin,
        device=device,
        kind="run_script",
        script=script,
        arguments=["two words", "$(id)", str(runs)],
        expires_in=timedelta(hours=1),
    )

    done = agent(state_dir, "run", "--once")
    assert done.returncode == 0, done.stderr
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED, (action.status, action.reason)
    assert action.exit_code == 0 and action.output == "done: two words\n"
    assert action.duration_ms is not None and action.finished_at is not None
    assert runs.read_text() == "two words|$(id)\n"
    device.refresh_from_db()
    assert device.scripts_enabled is True
    # Another check-in runs nothing again.
    assert agent(state_dir, "run", "--once").returncode == 0
    assert runs.read_text() == "two words|$(id)\n"

    # The same signed envelope once more (a replay): refused, not run.
    RemoteAction.objects.filter(pk=action.pk).update(status=ActionStatus.SENT, finished_at=None)
    Device.objects.filter(pk=device.pk).update(has_pending_actions=True)
    assert agent(state_dir, "run", "--once").returncode == 0
    action.refresh_from_db()
    assert action.status == ActionStatus.REFUSED and "replayed" in action.reason
    assert runs.read_text() == "two words|$(id)\n"

    # A correctly signed envelope whose own expiry has passed (the server's row still
    # says it waits, as a skewed or restored server might): refused.
    now = int(time.time())
    expired_id = uuid.uuid4()
    payload = action_payload(
        action_id=expired_id,
        device=device,
        kind="run_script",
        script=script,
        arguments=["late", "x", str(runs)],
        nonce=uuid.uuid4().hex,
        issued_at=now - 7200,
        expires_at=now - 60,
    )
    envelope, signature = signing.sign(payload)
    expired = RemoteAction.objects.create(
        public_id=expired_id,
        client=device.client,
        device=device,
        kind="run_script",
        script=script,
        arguments=payload["args"],
        nonce=payload["nonce"],
        envelope=envelope,
        signature=signature,
        created_by=world.admin,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    Device.objects.filter(pk=device.pk).update(has_pending_actions=True)
    assert agent(state_dir, "run", "--once").returncode == 0
    expired.refresh_from_db()
    assert expired.status == ActionStatus.REFUSED and expired.reason == "expired"

    # Scripts switched off in the agent's own configuration: refused, whatever is signed.
    conf.write_text("[agent]\nallow_scripts = false\n" + f"reboot_command = touch {rebooted}\n")
    disabled = queue_action(
        actor=world.admin,
        device=device,
        kind="run_script",
        script=script,
        arguments=["off", "x", str(runs)],
        expires_in=timedelta(hours=1),
    )
    assert agent(state_dir, "run", "--once").returncode == 0
    disabled.refresh_from_db()
    assert disabled.status == ActionStatus.REFUSED and "scripts disabled" in disabled.reason
    assert runs.read_text() == "two words|$(id)\n"
    device.refresh_from_db()
    assert device.scripts_enabled is False

    # A reboot is reported succeeded, then the (local, harmless) reboot command runs.
    reboot = queue_action(
        actor=world.admin, device=device, kind="reboot", expires_in=timedelta(hours=1)
    )
    assert agent(state_dir, "run", "--once").returncode == 0
    reboot.refresh_from_db()
    assert reboot.status == ActionStatus.SUCCEEDED
    assert rebooted.exists()

    log = json.loads(agent(state_dir, "status").stdout)["actions"]
    assert [entry["status"] for entry in log][:4] == ["succeeded", "refused", "refused", "refused"]


def test_a_retired_device_is_told_to_enroll_again(
    world: World, proxy: Proxy, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    device = enroll(world, proxy, state_dir)
    assert agent(state_dir, "run", "--once").returncode == 0
    retire_device(actor=world.admin, device=device)
    done = agent(state_dir, "run", "--once")
    assert done.returncode == 3, done.stderr
    assert "enroll it again" in done.stderr and "Traceback" not in done.stderr
    # The sample of that attempt is kept, not thrown away.
    assert len(spooled_times(state_dir)) == 1


def test_enrollment_refusals_are_clear(world: World, proxy: Proxy, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    enroll(world, proxy, state_dir)
    again = tmp_path / "again"
    done = agent(again, "enroll", "--server", proxy.url, "--token", "ate_" + "x" * 43)
    assert done.returncode == 1 and "enrollment refused" in done.stderr
    assert not (again / "token").exists()
    proxy.stop()
    done = agent(again, "enroll", "--server", proxy.url, "--token", "ate_whatever")
    assert done.returncode == 2 and "unreachable" in done.stderr
    done = agent(again, "enroll", "--server", "http://192.0.2.1", "--token", "ate_whatever")
    assert done.returncode == 1 and "plain HTTP" in done.stderr

"""``atalaya serve``: the web server (gunicorn), the background worker (huey) and the agent API.

The agent API (uvicorn, ``atalaya agent_serve``) listens on its own port
(ATALAYA_AGENT_PORT, 8001): agents hold many connections and check in all the time.

Both run as child processes in their own process groups, so a Ctrl-C reaches only this
command, which then stops them in order: gunicorn gracefully (SIGTERM lets requests in
flight finish) and the worker gracefully (SIGINT lets running jobs finish). If either
child dies the other is stopped too and the command exits non-zero, so a supervisor
(systemd, a container runtime) sees the failure and can restart the pair.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from atalaya.core.demo import demo_logins
from atalaya.core.management.commands.demo import format_logins

STOP_TIMEOUT_S = 20
READY_TIMEOUT_S = 60


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise CommandError(f"{name} must be a whole number") from None


def _local(host: str) -> str:
    """The address to reach a server listening on ``host`` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - only compared


class Command(BaseCommand):
    help = (
        "Run the web server and the background worker together; stop both with Ctrl-C. "
        "Defaults come from ATALAYA_HOST, ATALAYA_PORT and ATALAYA_WEB_WORKERS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=os.environ.get("ATALAYA_HOST", "127.0.0.1"),
            help="address to listen on (default %(default)s)",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=_env_int("ATALAYA_PORT", 8000),
            help="port to listen on (default %(default)s)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=_env_int("ATALAYA_WEB_WORKERS", 2),
            help="web server processes, 4 threads each (default %(default)s)",
        )
        parser.add_argument(
            "--agent-port",
            type=int,
            default=_env_int("ATALAYA_AGENT_PORT", 8001),
            help="port of the agent API (/agent/v1, on ATALAYA_AGENT_HOST); 0 leaves it "
            "off (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, workers = options["host"], options["port"], options["workers"]
        if not 0 < port < 65536 or workers < 1:
            raise CommandError("--port must be 1-65535 and --workers at least 1")
        self._check_migrated()
        self._check_port_free(host, port)
        logins = demo_logins()
        # Static files are served from the app directories (WHITENOISE_USE_FINDERS), so
        # collectstatic is optional; the directory only has to exist for whitenoise.
        os.makedirs(settings.STATIC_ROOT, exist_ok=True)
        # The children open their own connections; this one is not needed any more.
        connections.close_all()

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "PYTHONUNBUFFERED": "1",
        }
        web = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "atalaya.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--graceful-timeout",
                "10",
                "--access-logfile",
                "-",
                "--error-logfile",
                "-",
            ],
            env=env,
            process_group=0,
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "atalaya.cli", "run_huey"],  # noqa: S603
            env=env,
            process_group=0,
        )
        self.stdout.write(f"Web server pid {web.pid}, background worker pid {worker.pid}.")
        agent = self._start_agent_api(options["agent_port"], env)

        stop: list[int] = []

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            stop.append(signum)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            ready = self._wait_ready(host, port, web, worker, stop)
            if ready:
                url = f"http://{_local(host)}:{port}/"
                self.stdout.write(self.style.SUCCESS(f"Atalaya is running at {url}"))
                if logins:
                    self.stdout.write(format_logins(logins))
                self.stdout.write("Press Ctrl-C to stop.")
                self.stdout.flush()
            while (
                not stop
                and web.poll() is None
                and worker.poll() is None
                and (agent is None or agent.poll() is None)
            ):
                time.sleep(0.2)
            # Which one died, noted before stopping the other changes its exit status.
            died = "web server" if web.poll() is not None else "background worker"
            if agent is not None and agent.poll() is not None:
                died = "agent API server"
        finally:
            self._stop(web, signal.SIGTERM)
            self._stop(worker, signal.SIGINT)
            if agent is not None:
                self._stop(agent, signal.SIGTERM)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if stop:
            self.stdout.write("Stopped.")
            return
        raise CommandError(f"The {died} exited; stopped both.", returncode=3)

    def _start_agent_api(self, port: int, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        """The agent API's own server (uvicorn), unless it is off or its port is taken."""
        if not port:
            return None
        host = os.environ.get("ATALAYA_AGENT_HOST", "127.0.0.1")
        try:
            self._check_port_free(host, port)
        except CommandError:
            # The UI is what a person starting this wants; say why agents cannot connect.
            self.stderr.write(
                f"Agent API not started: {host}:{port} is in use (set ATALAYA_AGENT_PORT)."
            )
            return None
        command = [sys.executable, "-m", "atalaya.cli", "agent_serve"]
        agent = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [*command, "--host", host, "--port", str(port)],
            env=env,
            process_group=0,
        )
        self.stdout.write(
            f"Agent API pid {agent.pid} at http://{_local(host)}:{port}/agent/v1/ "
            "(agents enroll and check in there)."
        )
        return agent

    def _check_migrated(self) -> None:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database is not up to date; run `atalaya migrate` first.")

    def _check_port_free(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    f"Cannot listen on {host}:{port} ({exc.strerror}); choose another port "
                    "with --port or ATALAYA_PORT."
                ) from None

    def _wait_ready(
        self,
        host: str,
        port: int,
        web: subprocess.Popen[bytes],
        worker: subprocess.Popen[bytes],
        stop: list[int],
    ) -> bool:
        target = _local(host)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not stop:
            if web.poll() is not None or worker.poll() is not None:
                return False
            try:
                socket.create_connection((target, port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def _stop(self, child: subprocess.Popen[bytes], sig: int) -> None:
        if child.poll() is not None:
            return
        child.send_signal(sig)
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

"""``atalaya agent_serve``: the agent API (``/agent/v1``) on uvicorn, apart from the web UI.

Agents hold many connections open and check in all the time; the UI is a few people.
So the agent API runs as its own server (the ASGI app of ``agent_api/asgi.py``, group
commit in one writer thread per process) on its own port, by default 127.0.0.1:8001
behind the same reverse proxy as the UI. ``atalaya serve`` starts it too.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise CommandError(f"{name} must be a whole number") from None


def default_workers() -> int:
    # Two processes keep both cores busy: while one's writer holds the database (on
    # SQLite the writers take turns by a file lock), the other parses its requests.
    # Measured on two cores: 1,700 check-ins/s at p99 143 ms with two, 340 ms with one.
    return _env_int("ATALAYA_AGENT_WORKERS", 2)


class Command(BaseCommand):
    help = (
        "Run the agent API (/agent/v1) on uvicorn. Defaults come from ATALAYA_AGENT_HOST, "
        "ATALAYA_AGENT_PORT and ATALAYA_AGENT_WORKERS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=os.environ.get("ATALAYA_AGENT_HOST", "127.0.0.1"),
            help="address to listen on (default %(default)s)",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=_env_int("ATALAYA_AGENT_PORT", 8001),
            help="port to listen on (default %(default)s)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="server processes, one database writer each (default 2)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        host, port = options["host"], options["port"]
        workers = options["workers"] if options["workers"] is not None else default_workers()
        if not 0 < port < 65536 or workers < 1:
            raise CommandError("--port must be 1-65535 and --workers at least 1")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)
        # The server's processes open their own connections.
        connections.close_all()
        try:
            import uvloop  # noqa: F401

            loop = "uvloop"
        except ImportError:  # Windows: no uvloop
            loop = "asyncio"
        self.stdout.write(f"Agent API on http://{host}:{port}/agent/v1/ ({workers} worker(s))")
        self.stdout.flush()
        uvicorn.run(
            "atalaya.monitoring.agent_api.asgi:application",
            host=host,
            port=port,
            workers=workers,
            loop=loop,
            http="httptools",
            lifespan="on",
            access_log=False,
            server_header=False,
            # Agents connect directly or through the site's proxy; their address is not
            # used, so uvicorn need not rewrite it on every request.
            proxy_headers=False,
            log_level="warning",
            # Agents check in every minute: keep their connections for the next one.
            timeout_keep_alive=90,
            backlog=4096,
        )

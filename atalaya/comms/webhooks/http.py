"""One webhook POST with hard limits: connect within 3 s, everything within 10 s.

Built on the standard library's http.client (no dependency needed for one POST).
Socket timeouts alone bound each read, not the whole exchange: a receiver that drips
a byte every few seconds would hold a worker for ever. So a watchdog timer shuts the
socket down at the deadline, whatever the request is doing. Redirects are never
followed (a 3xx is reported as it is), and only the first 1 KB of the answer is read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
BODY_LIMIT = 1024
USER_AGENT = "Atalaya-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: a status code (and body start), or an error."""

    status_code: int | None
    duration_ms: int
    body: str = ""
    error: str = ""

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float | None = None,
    total_timeout: float | None = None,
) -> Outcome:
    """POST ``body`` to ``url``; never raises, never takes much longer than total_timeout."""
    # Read at call time (not bound as defaults) so a test can shorten them.
    connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    total_timeout = TOTAL_TIMEOUT if total_timeout is None else total_timeout
    started = time.monotonic()
    deadline = started + total_timeout
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=connect_timeout,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=connect_timeout
            )
    except (ValueError, http.client.InvalidURL) as error:
        return _failed(started, f"bad URL: {error}")
    timed_out = threading.Event()

    def cut() -> None:
        # At the deadline: whatever the request is waiting for, stop it now.
        timed_out.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    connected = False
    try:
        conn.connect()
        connected = True
        if conn.sock is not None:
            conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **headers,
        }.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        text = response.read(BODY_LIMIT).decode("utf-8", errors="replace")
        status = response.status
        if timed_out.is_set():
            return _failed(started, f"timed out after {total_timeout:g} s")
        note = ""
        if 300 <= status < 400:
            note = f"redirect to {response.getheader('Location', '')[:300]} not followed"
        return Outcome(status, _ms(started), text, note)
    except TimeoutError:
        if not connected and not timed_out.is_set():
            return _failed(started, f"connect timed out after {connect_timeout:g} s")
        return _failed(started, f"timed out after {total_timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        if timed_out.is_set():
            return _failed(started, f"timed out after {total_timeout:g} s")
        return _failed(started, _describe(error))
    finally:
        watchdog.cancel()
        conn.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error}"[:500]
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error}"[:500]
    return f"{type(error).__name__}: {error}"[:500]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _failed(started: float, error: str) -> Outcome:
    return Outcome(None, _ms(started), "", error[:500])

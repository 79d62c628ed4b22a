"""HTTP to the server: JSON over urllib with timeouts and TLS verification (PROTOCOL.md).

The answers sort into three outcomes the runner acts on: success (the spooled rows
that went out may be deleted), ``Unreachable`` (network error, 5xx, 429: keep
everything and retry with backoff, honouring ``Retry-After``) and ``Rejected`` (any
other 4xx: the request itself is wrong; the runner drops the batch after three). A
401 on check-in is ``Unauthorized``: the device was retired or re-keyed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from . import __version__

log = logging.getLogger(__name__)


class TransportError(Exception):
    """A request that did not succeed."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Unreachable(TransportError):
    """The server could not be reached or is busy: retry later."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class Rejected(TransportError):
    """The server refused what was sent (4xx other than 401 and 429)."""


class Unauthorized(TransportError):
    """401: the token is not (or no longer) valid."""


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_server(url: str, *, allow_http: bool = False) -> str:
    """The server's base URL without a trailing slash; plain HTTP only to loopback.

    The device token travels in every request: sending it in the clear across a
    network would let anyone on the path impersonate the device.
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a server URL: {url!r} (expected https://host[:port])")
    if parts.scheme == "http" and not (allow_http or is_loopback(url)):
        raise ValueError(f"refusing plain HTTP to {parts.hostname}: use https:// (or --allow-http)")
    path = parts.path.rstrip("/")
    # Accept the API root itself as well as the site's root.
    if path.endswith("/agent/v1"):
        path = path[: -len("/agent/v1")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Transport:
    """Posts JSON to ``{server}/agent/v1/...`` with a timeout and certificate checks."""

    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file)

    def post(self, path: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else encode(body)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"atalaya-agent/{__version__}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.server}/agent/v1/{path.lstrip('/')}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked at enrollment
                request, timeout=self.timeout, context=self.context
            ) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, _read(exc)
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            detail = _detail(raw)
            if status == 401:
                raise Unauthorized(f"{url}: 401 {detail}", status, detail) from None
            if status == 429 or status >= 500:
                raise Unreachable(f"{url}: {status} {detail}", status, retry_after) from None
            raise Rejected(f"{url}: {status} {detail}", status, detail) from None
        except (TimeoutError, urllib.error.URLError, OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError):
                # Not a network blip: say so plainly, but keep spooling like one.
                log.error("the server's certificate does not verify: %s", reason)
            raise Unreachable(f"{url}: {reason}") from None
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            raise Unreachable(f"{url}: {status} answer is not JSON") from None
        if not isinstance(answer, dict):
            raise Unreachable(f"{url}: {status} answer is not a JSON object")
        return status, answer


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except OSError:
        return b""


def _detail(raw: bytes) -> str:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        detail = str(data.get("detail") or "")
        errors = data.get("errors") or []
        if isinstance(errors, list) and errors:
            named = "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
            )
            return f"{detail} ({named})" if detail else named
        return detail
    return str(data)[:200]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Backoff:
    """Exponential backoff with jitter while the server is unreachable, capped.

    Full jitter (a random wait up to the exponential step): a fleet that lost its
    server at the same moment does not come back in lockstep.
    """

    def __init__(self, base: float, cap: float) -> None:
        self.base = max(0.1, base)
        self.cap = max(self.base, cap)
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        step = min(self.cap, self.base * (2 ** min(self.failures - 1, 20)))
        delay = random.uniform(step / 2, step)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay

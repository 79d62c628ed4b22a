"""The ASGI agent API over real HTTP: uvicorn on 127.0.0.1 against the test database.

The server runs in a thread of the test process (its writer thread opens its own
connection: a file copy of the SQLite test database, or the PostgreSQL test database),
and requests go over real sockets with ``http.client``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from atalaya.monitoring.agent_api import asgi
from atalaya.monitoring.models import Device, MetricSample, Volume, VolumeSample
from atalaya.monitoring.tests.agent_helpers import (
    checkin_body,
    enrolled,
    sample,
    threads_use_a_file_database,
)


@dataclass
class Server:
    app: asgi.AgentApp
    port: int

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if isinstance(body, dict):
            body = json.dumps(body)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        data = json.loads(raw) if raw else None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(world: Any, transactional_db: Any, tmp_path: Any, settings: Any) -> Iterator[Server]:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"
    with threads_use_a_file_database(tmp_path):
        app = asgi.AgentApp()
        port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
        )
        running = uvicorn.Server(config)
        thread = threading.Thread(target=running.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not running.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        try:
            yield Server(app, port)
        finally:
            running.should_exit = True
            thread.join(timeout=30)


def test_checkin_over_http_is_stored_before_the_answer(server: Server, world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    status, headers, data = server.request(
        "POST", "/agent/v1/checkin", checkin_body(now), token=token
    )
    assert status == 200, data
    assert headers["content-type"] == "application/json"
    assert data["accepted"] == 1 and data["actions"] == [] and data["config"] is None
    assert "set-cookie" not in headers
    # Committed by the time the answer came: another connection sees it.
    assert MetricSample.objects.filter(device=device).count() == 1
    assert VolumeSample.objects.filter(volume__device=device).count() == 3
    assert Volume.objects.filter(device=device, is_present=True).count() == 3
    device.refresh_from_db()
    assert device.last_seen_at is not None and device.latest["t"] == now
    # The replay of the same batch is an idempotent accept.
    _s, _h, again = server.request("POST", "/agent/v1/checkin", checkin_body(now), token=token)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert MetricSample.objects.filter(device=device).count() == 1


def test_concurrent_checkins_share_commits(server: Server, world: Any) -> None:
    devices = [enrolled(world, name=f"pc{i}") for i in range(40)]
    now = int(time.time())
    statuses: list[int] = []
    lock = threading.Lock()

    def agent(token: str) -> None:
        for k in range(5):
            status, _h, _d = server.request(
                "POST",
                "/agent/v1/checkin",
                checkin_body(now, samples=[sample(now - 60 * k)]),
                token=token,
            )
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=agent, args=(token,)) for _d, token in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 200
    assert MetricSample.objects.count() == 200
    assert VolumeSample.objects.count() == 600
    writer = server.app.writer
    assert writer is not None and writer.batches < 200


def test_another_device_and_retired_device(server: Server, world: Any) -> None:
    mine, my_token = enrolled(world, name="mine")
    theirs, their_token = enrolled(world, site=world.site_b, name="theirs")
    now = int(time.time())
    server.request("POST", "/agent/v1/checkin", checkin_body(now), token=their_token)
    assert MetricSample.objects.filter(device=theirs).count() == 1
    assert not MetricSample.objects.filter(device=mine).exists()
    Device.objects.filter(pk=theirs.pk).update(retired_at=mine.enrolled_at)
    status, _h, data = server.request(
        "POST", "/agent/v1/checkin", checkin_body(now + 60), token=their_token
    )
    assert status == 401 and "retired" in data["detail"]
    status, _h, data = server.request("POST", "/agent/v1/checkin", checkin_body(now), token=None)
    assert status == 401 and data["detail"]
    status, _h, data = server.request(
        "POST", "/agent/v1/checkin", checkin_body(now), token="atd_not-a-device"
    )
    assert status == 401


def test_bad_requests_get_clear_errors(server: Server, world: Any, settings: Any) -> None:
    _device, token = enrolled(world)
    status, _h, data = server.request("POST", "/agent/v1/checkin", "{nope", token=token)
    assert status == 400 and "JSON" in data["detail"]
    body = checkin_body()
    body["samples"][0]["cpu_pct"] = "lots"
    status, _h, data = server.request("POST", "/agent/v1/checkin", body, token=token)
    assert status == 422
    assert {"field": "samples[0].cpu_pct", "message": "Must be a number or null."} in data["errors"]
    nan = json.dumps(checkin_body()).replace('"load1": 0.3', '"load1": NaN')
    status, _h, data = server.request("POST", "/agent/v1/checkin", nan, token=token)
    assert status == 422 and data["errors"][0]["field"] == "samples[0].load1"
    status, headers, data = server.request("GET", "/agent/v1/checkin", token=token)
    assert status == 405 and headers["allow"] == "POST"
    status, _h, _d = server.request("GET", "/agent/v1/nothing-here")
    assert status == 404
    huge = b'{"sent_at": 1, "x": "' + b"a" * (settings.AGENT_MAX_BODY_BYTES + 10) + b'"}'
    answer = _raw(server, token, b"Content-Length: %d\r\n\r\n" % len(huge), [huge])
    assert answer.startswith(b"HTTP/1.1 413") and b"larger" in answer, answer[:300]
    assert not MetricSample.objects.exists()


def _raw(server: Server, token: str, head_end: bytes, chunks: list[bytes]) -> bytes:
    """Send a request on a plain socket and read the answer, even if the server answers
    (and closes) before the whole body is sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        head = (
            "POST /agent/v1/checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\n"
        ).encode()
        sock.sendall(head + head_end)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            try:
                more = sock.recv(65536)
            except OSError:
                break
            if not more:
                break
            answer += more
    return answer


def test_a_chunked_body_over_the_limit(server: Server, world: Any, settings: Any) -> None:
    _device, token = enrolled(world)
    limit = settings.AGENT_MAX_BODY_BYTES
    chunk = b"a" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (limit // len(chunk) + 2)
    answer = _raw(server, token, b"Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_busy_server_says_when_to_retry(
    server: Server, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, token = enrolled(world)
    monkeypatch.setattr(asgi, "MAX_QUEUE", 0)
    status, headers, data = server.request("POST", "/agent/v1/checkin", checkin_body(), token=token)
    assert status == 503 and int(headers["retry-after"]) >= asgi.RETRY_AFTER_S
    assert data["detail"]
    assert not MetricSample.objects.filter(device=device).exists()


def test_enroll_and_openapi_over_http(server: Server, world: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.monitoring.enrollment import create_enrollment_token

    _t, raw = create_enrollment_token(
        actor=world.tech, site=world.site_a, name="x", expires_at=timezone.now() + timedelta(1)
    )
    body = {"token": raw, "hostname": "pc-ana", "machine_id": "m-1", "platform": "linux"}
    status, _h, data = server.request("POST", "/agent/v1/enroll", body)
    assert status == 201, data
    assert data["device_token"].startswith("atd_") and data["signing_public_key"]
    token = data["device_token"]
    status, _h, used = server.request("POST", "/agent/v1/enroll", body)
    assert status == 401 and "used up" in used["detail"]
    status, _h, checked = server.request("POST", "/agent/v1/checkin", checkin_body(), token=token)
    assert status == 200 and checked["accepted"] == 1
    status, _h, schema = server.request("GET", "/agent/v1/openapi.json")
    assert status == 200 and schema["openapi"].startswith("3.")
    assert {"/agent/v1/enroll", "/agent/v1/checkin"} <= set(schema["paths"])
    assert "CheckinIn" in schema["components"]["schemas"]

"""A scan from end to end: queued on the server, signed, run by the real agent, compared.

The real ``atalaya-agent`` (a subprocess) checks in with pytest-django's live server,
receives the signed scan action, scans listeners planted on 127.78.0.0/29 (loopback:
nothing else is touched), and sends the result back; the server stores it, a job turns
it into hosts, and the comparison with the site's inventory opens findings.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from atalaya.conftest import World
from atalaya.monitoring.models import ActionStatus
from atalaya.monitoring.tests.test_agent_e2e import Proxy, agent, enroll, proxy  # noqa: F401
from atalaya.security.models import Finding, FindingKind, ScanStatus
from atalaya.security.scans.schedule import queue_scan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listeners() -> Iterator[None]:
    socks = []
    for ip, port in (("127.78.0.2", 3389), ("127.78.0.2", 2222), ("127.78.0.3", 5900)):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(8)
        socks.append(sock)
    yield
    for sock in socks:
        sock.close()


def test_a_queued_scan_runs_on_the_agent_and_becomes_findings(
    world: World,
    proxy: Proxy,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    listeners: None,
) -> None:
    state_dir = tmp_path / "agent"
    device = enroll(world, proxy, state_dir)
    scan = queue_scan(
        actor=world.tech, device=device, targets="127.78.0.1-3", ports="2222,3389,5900,23"
    )
    done = agent(state_dir, "run", "--once")
    assert done.returncode == 0, done.stderr
    scan.refresh_from_db()
    assert scan.action is not None
    scan.action.refresh_from_db()
    assert scan.action.status == ActionStatus.SUCCEEDED, scan.action.reason
    assert scan.status == ScanStatus.DONE, scan.error
    seen = {(h.ip, p["port"]) for h in scan.hosts.all() for p in h.ports}
    assert seen == {("127.78.0.2", 3389), ("127.78.0.2", 2222), ("127.78.0.3", 5900)}
    kinds = {(f.kind, f.host_ip, f.port) for f in Finding.objects.filter(site=world.site_a)}
    assert (FindingKind.RISKY_SERVICE, "127.78.0.2", 3389) in kinds
    assert (FindingKind.RISKY_SERVICE, "127.78.0.3", 5900) in kinds
    assert (FindingKind.UNKNOWN_DEVICE, "127.78.0.2", None) in kinds
    assert not Finding.objects.filter(site=world.site_b).exists()

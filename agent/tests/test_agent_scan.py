"""The agent's network scan, against real listeners on 127.0.0.0/8 (nothing else is scanned)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from atalaya_agent import actions, cli, scan

BASE = "127.77.0."


class Listener:
    """A TCP server on one loopback address that optionally greets with a banner."""

    def __init__(self, ip: str, port: int, banner: bytes = b"") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.banner = banner
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.banner:
                    conn.sendall(self.banner)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would leave the
        # port bound until that thread returns.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def planted() -> Iterator[dict[tuple[str, int], bytes]]:
    wanted = {
        (BASE + "10", 2222): b"",
        (BASE + "10", 3389): b"",
        (BASE + "11", 2121): b"220 Welcome to the office FTP\r\n",
        (BASE + "12", 5900): b"RFB 003.008\n",
    }
    listeners = [Listener(ip, port, banner) for (ip, port), banner in wanted.items()]
    yield wanted
    for listener in listeners:
        listener.close()


def open_ports(result: dict[str, Any]) -> set[tuple[str, int]]:
    return {(h["ip"], p["port"]) for h in result["hosts"] for p in h["ports"]}


def test_finds_every_planted_service_and_nothing_else(planted: dict[Any, bytes]) -> None:
    ports = [2121, 2222, 3389, 5900, 8080, 445]
    result = scan.scan([BASE + "8-13"], ports, timeout_ms=500)
    assert open_ports(result) == set(planted)
    assert result["version"] == 1 and result["ports"] == sorted(ports)
    by_ip = {h["ip"]: h for h in result["hosts"]}
    # Loopback answers every address, so every one is up (a RST is an answer).
    assert set(by_ip) == {BASE + str(n) for n in range(8, 14)}
    assert by_ip[BASE + "12"]["ports"][0]["banner"] == "RFB 003.008"


def test_only_ports_of_services_that_greet_are_read(planted: dict[Any, bytes]) -> None:
    assert 2121 not in scan.BANNER_PORTS
    result = scan.scan([BASE + "11"], [2121], timeout_ms=500)
    # 2121 is not a banner port: open, no banner.
    assert result["hosts"][0]["ports"] == [{"port": 2121, "proto": "tcp", "banner": ""}]


def test_a_ftp_banner_on_its_own_port() -> None:
    listener = Listener(BASE + "20", 21, b"220 ProFTPD\r\nmore")
    try:
        result = scan.scan([BASE + "20"], [21], timeout_ms=500)
    except PermissionError:
        pytest.fail("binding port 21 needs root, which the tests have")
    finally:
        listener.close()
    assert result["hosts"][0]["ports"][0]["banner"] == "220 ProFTPD"


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ("127.77.1.1", 1),
        ("127.77.1.0/30", 2),
        ("127.77.1.10-12", 3),
        ("127.77.1.250-127.77.2.1", 8),
    ],
)
def test_targets(spec: str, count: int) -> None:
    assert len(scan.parse_targets([spec])) == count


@pytest.mark.parametrize(
    "spec", ["10.0.0.0/8", "not a host name !", "127.0.0.9-1", "1.2.3.4-1.9.9.9", ""]
)
def test_bad_targets_say_why(spec: str) -> None:
    if not spec:
        assert scan.parse_targets([spec]) == []
        return
    with pytest.raises(scan.ScanError):
        scan.parse_targets([spec])


@pytest.mark.parametrize("spec", ["0", "70000", "22-", "a,b", "90-80"])
def test_bad_ports_say_why(spec: str) -> None:
    with pytest.raises(scan.ScanError):
        scan.parse_ports(spec)


def test_default_ports_hold_the_top_100_and_the_risky_set() -> None:
    ports = scan.parse_ports("")
    assert len(scan.TOP_100) == 100
    assert {23, 21, 139, 445, 3389, 1900, 5900, 1433, 3306, 5432, 6379, 27017, 9100} <= set(ports)


def test_the_command_prints_hosts_and_json(
    planted: dict[Any, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["scan", BASE + "10", "--ports", "2222,3389,4000", "--timeout-ms", "300"]) == 0
    out = capsys.readouterr().out
    assert "2222/tcp open" in out and "3389/tcp open" in out and "4000" not in out
    assert cli.main(["scan", BASE + "10", "--ports", "3389", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert open_ports(data) == {(BASE + "10", 3389)}
    assert cli.main(["scan", "10.0.0.0/8"]) == 2


def _payload(targets: list[str], ports: list[int]) -> dict[str, Any]:
    return {"id": "a1", "nonce": "n1", "kind": "scan", "scan": {"targets": targets, "ports": ports}}


def test_a_scan_action_runs_on_local_ranges_only(planted: dict[Any, bytes]) -> None:
    decision = actions._decide_scan("a1", _payload([BASE + "10"], [3389]))
    assert decision.payload is not None and decision.result is None
    result = actions.run_scan(decision.payload)
    assert result["status"] == "succeeded" and result["output"] == "1 hosts up, 1 open ports"
    assert open_ports(result["scan"]) == {(BASE + "10", 3389)}
    refused = actions._decide_scan("a1", _payload(["8.8.8.8"], [53]))
    assert refused.result is not None and refused.result["status"] == "refused"
    assert "not a local network" in refused.result["reason"]
    bad = actions._decide_scan("a1", {"id": "a1", "kind": "scan", "scan": {"targets": [1]}})
    assert bad.result is not None and "strings" in bad.result["reason"]


def test_icmp_echo_finds_hosts_as_root() -> None:
    pinger = scan._Pinger.open()
    assert pinger is not None, "the tests run as root, so a raw ICMP socket must open"
    try:
        pinger.send_all([BASE + "60", BASE + "61"])
        seen: set[str] = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(seen) < 2:
            seen.update(pinger.replies())
            time.sleep(0.01)
    finally:
        pinger.close()
    assert seen == {BASE + "60", BASE + "61"}

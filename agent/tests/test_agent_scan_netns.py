"""The scan on a real little LAN: network namespaces as hosts on veth pairs and a bridge.

The test builds, in namespaces of its own, a "lan" namespace holding a bridge and the
scanner's address, and three host namespaces plugged into that bridge by veth pairs,
two of them with listeners. The agent's ``scan`` command runs inside the lan
namespace, so nothing but that private 10.77.x.0/24 is ever scanned; MACs come from
the lan namespace's ARP table. Needs root (CI and the sessions run as root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

LISTENER = (
    "import socket,sys,time\n"
    "s=[]\n"
    "for p in sys.argv[1:]:\n"
    "    x=socket.socket(); x.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "    x.bind(('0.0.0.0',int(p))); x.listen(16); s.append(x)\n"
    "print('ready',flush=True)\n"
    "time.sleep(120)\n"
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def lan() -> Iterator[dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.fail("the namespace test needs root")
    tag = f"{os.getpid() % 10000:04d}"
    subnet = f"10.77.{os.getpid() % 200 + 1}"
    lan_ns = f"atl{tag}lan"
    hosts = {f"atl{tag}h{n}": f"{subnet}.{10 + n}" for n in (1, 2, 3)}
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        ip("netns", "add", lan_ns)
        ip("-n", lan_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", lan_ns, "addr", "add", f"{subnet}.1/24", "dev", "br0")
        ip("-n", lan_ns, "link", "set", "br0", "up")
        ip("-n", lan_ns, "link", "set", "lo", "up")
        for n, (ns, address) in enumerate(hosts.items()):
            ip("netns", "add", ns)
            ip("link", "add", f"a{tag}v{n}", "type", "veth", "peer", "name", f"a{tag}p{n}")
            ip("link", "set", f"a{tag}v{n}", "netns", lan_ns)
            ip("link", "set", f"a{tag}p{n}", "netns", ns)
            ip("-n", lan_ns, "link", "set", f"a{tag}v{n}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", f"a{tag}p{n}")
            ip("-n", ns, "link", "set", f"a{tag}p{n}", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        plan = {list(hosts)[0]: [22, 3389], list(hosts)[1]: [445]}
        for ns, ports in plan.items():
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, *map(str, ports)],
                stdout=subprocess.PIPE,
            )
            listeners.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield {
            "ns": lan_ns,
            "subnet": subnet,
            "open": {(hosts[ns], p) for ns, ports in plan.items() for p in ports},
            "hosts": set(hosts.values()),
        }
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
        for ns in [lan_ns, *hosts]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_scan_finds_hosts_ports_and_macs_on_a_bridged_lan(lan: dict[str, Any]) -> None:
    started = time.monotonic()
    out = subprocess.run(
        [
            "ip", "netns", "exec", lan["ns"], sys.executable, "-m", "atalaya_agent.cli",
            "scan", f"{lan['subnet']}.0/24", "--ports", "22,80,445,3389,5900",
            "--timeout-ms", "700", "--json",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )  # fmt: skip
    assert time.monotonic() - started < 120
    result = json.loads(out.stdout)
    found = {(h["ip"], p["port"]) for h in result["hosts"] for p in h["ports"]}
    assert found == lan["open"]
    by_ip = {h["ip"]: h for h in result["hosts"]}
    # Every host namespace answered (an open port or a RST), and its MAC was learnt.
    assert lan["hosts"] <= set(by_ip)
    for address in lan["hosts"]:
        assert len(by_ip[address]["mac"]) == 17, by_ip[address]
    # Addresses with nobody behind them are not hosts.
    assert f"{lan['subnet']}.200" not in by_ip

"""What the scan tests share: a device with a network inventory and scan JSON builders."""

from __future__ import annotations

import time
from typing import Any

from atalaya.monitoring.models import Device
from atalaya.monitoring.tests.agent_helpers import enrolled


def device_with_nic(world: Any, *, name: str, mac: str, ip: str, site: Any = None) -> Device:
    """An enrolled device whose inventory has one interface (the agent's format)."""
    device, _token = enrolled(world, site=site, name=name)
    device.inventory = {
        "network": [
            {"name": "eth0", "mac": mac, "addresses": [{"address": ip, "netmask": "255.255.255.0"}]}
        ]
    }
    device.save(update_fields=["inventory"])
    return device


def scan_json(hosts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "version": 1,
        "started_at": now - 10,
        "finished_at": now - 1,
        "targets": [],
        "ports": [22, 80, 445, 3389],
        "hosts": hosts,
        "errors": [],
        **extra,
    }


def host(ip: str, mac: str = "", hostname: str = "", ports: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "ip": ip,
        "mac": mac,
        "hostname": hostname,
        "up_by": "arp",
        "ports": [{"port": p, "proto": "tcp", "banner": ""} for p in ports],
    }


NMAP_XML = b"""<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sT -oX - 192.168.1.0/24" start="1764700000">
<host><status state="up"/>
<address addr="192.168.1.50" addrtype="ipv4"/>
<address addr="AA:BB:CC:00:00:50" addrtype="mac" vendor="Acme"/>
<hostnames><hostname name="stranger" type="PTR"/></hostnames>
<ports>
<port protocol="tcp" portid="23"><state state="open"/><service name="telnet"/></port>
<port protocol="tcp" portid="22"><state state="closed"/><service name="ssh"/></port>
</ports></host>
<host><status state="down"/><address addr="192.168.1.51" addrtype="ipv4"/></host>
<runstats><finished time="1764700010"/></runstats>
</nmaprun>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<nmaprun>&lol2;</nmaprun>
"""

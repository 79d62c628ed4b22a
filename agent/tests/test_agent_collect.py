"""Collection on this Linux machine, and metrics the platform lacks reported as missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from atalaya_agent.collect import Collector, inventory_hash

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collection")


def test_sample_state_and_inventory_have_the_protocol_fields(tmp_path: Path) -> None:
    collector = Collector(tmp_path)
    sample, volumes = collector.sample()
    assert set(sample) == {"t", "n", "cpu_pct", "mem_pct", "swap_pct", "load1", "volumes"}
    assert sample["n"] == 1
    assert 0 <= sample["cpu_pct"] <= 100 and 0 < sample["mem_pct"] <= 100
    assert sample["load1"] >= 0 and sample["swap_pct"] >= 0
    root = next(v for v in volumes if v["mount"] == "/")
    assert root["total"] > 0 and root["total"] >= root["used"] and root["free"] > 0
    assert isinstance(root["read_only"], bool) and root["fstype"]
    assert {"mount": "/", "free": root["free"], "used_pct": root["used_pct"]} in sample["volumes"]

    # This test's own process, by whatever name it runs under (python, python3, pytest…).
    me = psutil.Process().name()
    state = collector.state(volumes=volumes, services=["nope-not-a-unit"], processes=[me])
    for key in (
        "t",
        "uptime_s",
        "boot_time",
        "reboot_pending",
        "users",
        "volumes",
        "services",
        "processes",
        "smart",
        "missing",
    ):
        assert key in state
    assert state["uptime_s"] > 0 and state["boot_time"] < state["t"]
    assert isinstance(state["reboot_pending"], bool)
    assert "used_pct" not in state["volumes"][0] and "device" in state["volumes"][0]
    assert state["processes"][me] >= 1
    assert state["services"]["nope-not-a-unit"] in ("missing", "unknown")
    if shutil.which("smartctl") is None:
        assert state["smart"] is None

    inventory = collector.inventory()
    machine_id = Path("/etc/machine-id").read_text().strip()
    assert inventory["machine_id"] == machine_id
    assert inventory["platform"] == "linux" and inventory["os_name"] and inventory["hostname"]
    assert inventory["cpu_count"] >= 1 and inventory["memory_total"] > 0
    assert any(n["name"] == "lo" for n in inventory["network"])
    lo = next(n for n in inventory["network"] if n["name"] == "lo")
    assert {"address": "127.0.0.1", "netmask": "255.0.0.0"} in lo["addresses"]
    if shutil.which("dpkg-query"):
        names = {p["name"] for p in inventory["software"]}
        assert "dpkg" in names
    assert inventory_hash(inventory) == inventory_hash(dict(inventory))


def test_processes_are_counted_by_name(tmp_path: Path) -> None:
    exe = tmp_path / "atalaya-sleeper"
    shutil.copy("/bin/sleep", exe)
    procs = [subprocess.Popen([str(exe), "30"]) for _ in range(2)]
    try:
        counts = Collector().processes(["atalaya-sleeper", "ATALAYA-SLEEPER.exe", "nothing-here"])
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert counts == {"atalaya-sleeper": 2, "ATALAYA-SLEEPER.exe": 2, "nothing-here": 0}


def test_missing_metrics_are_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise OSError("not on this platform")

    # psutil without getloadavg (old Windows builds), a swap probe that fails, no users.
    monkeypatch.delattr(psutil, "getloadavg")
    monkeypatch.setattr(psutil, "swap_memory", broken)
    monkeypatch.setattr(psutil, "users", broken)
    monkeypatch.setattr(psutil, "boot_time", broken)
    monkeypatch.setattr(psutil, "disk_partitions", broken)
    collector = Collector()
    sample, volumes = collector.sample()
    assert sample["load1"] is None and sample["swap_pct"] is None
    assert sample["mem_pct"] is not None and sample["volumes"] == [] == volumes
    state = collector.state(volumes=volumes, services=[], processes=[])
    assert state["uptime_s"] is None and state["users"] == []
    assert {"load1", "swap_pct", "users", "boot_time", "volumes"} <= set(state["missing"])
    monkeypatch.undo()
    # Back to normal: the list is rebuilt each cycle.
    sample, volumes = collector.sample()
    state = collector.state(volumes=volumes, services=[], processes=[])
    assert sample["load1"] is not None
    assert not {"load1", "swap_pct", "users", "boot_time"} & set(state["missing"])


def test_software_inventory_missing_where_unlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    # No dpkg-query and no rpm on PATH: the inventory says software is missing.
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    collector = Collector()
    inventory = collector.inventory()
    assert inventory["software"] is None
    sample, volumes = collector.sample()
    state = collector.state(volumes=volumes, services=["cron"], processes=[])
    assert "software" in state["missing"] and "services" in state["missing"]
    assert state["services"] == {"cron": "unknown"} and state["smart"] is None

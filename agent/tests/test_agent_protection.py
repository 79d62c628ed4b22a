"""Antivirus/EDR detection: Security Center's productState, Linux process names and
ClamAV signature age, macOS XProtect, and the inventory block on this machine."""

from __future__ import annotations

import json
import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

from atalaya_agent import protection
from atalaya_agent.collect import Collector


def test_product_state_decoding():
    # Values Windows reports: Defender on and current, on but out of date, off.
    assert protection.decode_product_state(0x061100) == (True, True)
    assert protection.decode_product_state(397568) == (True, True)  # 0x061100
    assert protection.decode_product_state(0x061110) == (True, False)
    assert protection.decode_product_state(0x060100) == (False, True)
    assert protection.decode_product_state(393472) == (False, True)  # 0x060100 off


def test_wsc_json_one_or_many_and_junk():
    one = json.dumps({"displayName": "Windows Defender", "productState": 397568})
    many = json.dumps(
        [
            {"displayName": "ESET", "productState": 266256},  # 0x041010: on, out of date
            {"displayName": "Windows Defender", "productState": 393472},
        ]
    )
    assert protection.parse_wsc(one)[0]["enabled"] is True
    products = protection.parse_wsc(many)
    assert [(p["name"], p["enabled"], p["up_to_date"]) for p in products] == [
        ("ESET", True, False),
        ("Windows Defender", False, True),
    ]
    for junk in ("", "not json", "[1, 2]", '{"productState": "x"}', "null"):
        assert protection.parse_wsc(junk) == []


def test_linux_products_and_clamav_age(tmp_path):
    db = tmp_path / "clamav"
    db.mkdir()
    sig = db / "daily.cld"
    sig.write_bytes(b"x")
    old = time.time() - 10 * 86400
    os.utime(sig, (old, old))
    found = protection.linux_products(
        ["bash", "clamd", "freshclam", "falcon-sensor", "wazuh-agentd.service"],
        clamav_dirs=[str(db)],
    )
    by_name = {p["name"]: p for p in found}
    assert set(by_name) == {"ClamAV", "CrowdStrike Falcon", "Wazuh"}
    assert 9.9 <= by_name["ClamAV"]["signature_age_days"] <= 10.1
    assert by_name["ClamAV"]["up_to_date"] is False
    assert by_name["Wazuh"]["up_to_date"] is None
    assert protection.linux_products(["bash", "sshd"]) == []


def test_a_real_process_is_recognised(tmp_path):
    # A real process named like an EDR daemon (a copy of sleep) is found by the scan.
    exe = tmp_path / "falcon-sensor"
    exe.write_bytes(Path("/bin/sleep").read_bytes())
    exe.chmod(0o755)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        # Popen returns once exec has happened, so the process name is already set.
        block = protection.detect()
        assert block["checked"] is True and block["source"] == "processes"
        assert "CrowdStrike Falcon" in {p["name"] for p in block["products"]}
    finally:
        proc.kill()
        proc.wait()


def test_xprotect_plist(tmp_path):
    plist = tmp_path / "Info.plist"
    plist.write_bytes(plistlib.dumps({"CFBundleShortVersionString": "5287"}))
    assert protection.xprotect_version([str(tmp_path / "none"), str(plist)]) == "5287"
    (tmp_path / "bad.plist").write_bytes(b"garbage")
    assert protection.xprotect_version([str(tmp_path / "bad.plist")]) == ""


def test_inventory_carries_protection(tmp_path):
    inventory = Collector(state_dir=tmp_path).inventory(force=True)
    block = inventory["protection"]
    assert sys.platform.startswith("linux")
    assert block["checked"] is True and isinstance(block["products"], list)

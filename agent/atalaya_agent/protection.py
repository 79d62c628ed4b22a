"""Antivirus/EDR detection for the inventory's ``protection`` block (PROTOCOL.md).

Windows: Security Center (``root/SecurityCenter2 AntiVirusProduct``) through
PowerShell, ``productState`` decoded. Linux: known AV/EDR services and processes,
and ClamAV's signature age where its database is readable. macOS: XProtect's version.
Best effort: a probe that fails reports ``checked: false`` rather than guessing.

The block: ``{"checked": bool, "source": str, "products": [{"name", "kind", "enabled",
"up_to_date", "signature_age_days"}]}`` (``up_to_date``/``signature_age_days`` may be
null when the platform does not say).
"""

from __future__ import annotations

import json
import plistlib
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

COMMAND_TIMEOUT_S = 20
# Linux: process or systemd unit name → product shown.
LINUX_PRODUCTS: dict[str, tuple[str, str]] = {
    "clamd": ("ClamAV", "antivirus"),
    "freshclam": ("ClamAV", "antivirus"),
    "falcon-sensor": ("CrowdStrike Falcon", "edr"),
    "falcond": ("CrowdStrike Falcon", "edr"),
    "sentinelone": ("SentinelOne", "edr"),
    "s1-agent": ("SentinelOne", "edr"),
    "sentinelagent": ("SentinelOne", "edr"),
    "wazuh-agentd": ("Wazuh", "edr"),
    "wazuh-agent": ("Wazuh", "edr"),
    "wdavdaemon": ("Microsoft Defender for Endpoint", "edr"),
    "mdatp": ("Microsoft Defender for Endpoint", "edr"),
    "savd": ("Sophos", "antivirus"),
    "sophos-spl": ("Sophos", "antivirus"),
    "esets": ("ESET", "antivirus"),
    "eset_daemon": ("ESET", "antivirus"),
    "ds_agent": ("Trend Micro Deep Security", "edr"),
    "osqueryd": ("osquery", "edr"),
}
CLAMAV_DB_DIRS = ("/var/lib/clamav", "/var/clamav", "/usr/local/share/clamav")
XPROTECT_PLISTS = (
    "/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
    "/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
)
_WSC_SCRIPT = (
    "Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | "
    "Select-Object displayName,productState | ConvertTo-Json -Compress"
)


def decode_product_state(state: int) -> tuple[bool, bool]:
    """Security Center's productState → (enabled, signatures up to date).

    The middle byte is the scanner state (0x10 or 0x11 = on), the low byte the
    definitions (0x00 = up to date, 0x10 = out of date), as Windows reports them.
    """
    scanner = (state >> 8) & 0xFF
    definitions = state & 0xFF
    return scanner in (0x10, 0x11), definitions == 0x00


def parse_wsc(text: str) -> list[dict[str, Any]]:
    """Products from PowerShell's JSON (one object or a list); junk gives []."""
    try:
        data = json.loads(text or "null")
    except ValueError:
        return []
    rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    products = []
    for row in rows[:20]:
        if not isinstance(row, dict):
            continue
        try:
            state = int(row.get("productState") or 0)
        except (TypeError, ValueError):
            continue
        enabled, current = decode_product_state(state)
        products.append(
            {
                "name": str(row.get("displayName") or "?")[:200],
                "kind": "antivirus",
                "enabled": enabled,
                "up_to_date": current,
                "signature_age_days": None,
            }
        )
    return products


def linux_products(
    names: Iterable[str], *, now: float | None = None, clamav_dirs: Iterable[str] = CLAMAV_DB_DIRS
) -> list[dict[str, Any]]:
    """Products recognised among running process names, each once."""
    seen: dict[str, dict[str, Any]] = {}
    for name in names:
        key = (name or "").strip().lower().removesuffix(".service")
        if key in LINUX_PRODUCTS:
            product, kind = LINUX_PRODUCTS[key]
            seen.setdefault(
                product,
                {
                    "name": product,
                    "kind": kind,
                    "enabled": True,
                    "up_to_date": None,
                    "signature_age_days": None,
                },
            )
    if "ClamAV" in seen:
        age = clamav_signature_age_days(clamav_dirs, now=now)
        seen["ClamAV"]["signature_age_days"] = age
        if age is not None:
            seen["ClamAV"]["up_to_date"] = age <= 7
    return list(seen.values())


def clamav_signature_age_days(dirs: Iterable[str], *, now: float | None = None) -> float | None:
    """Days since ClamAV's newest signature file changed, or None if unreadable."""
    now = time.time() if now is None else now
    newest = None
    for folder in dirs:
        for pattern in ("*.cvd", "*.cld"):
            try:
                for path in Path(folder).glob(pattern):
                    mtime = path.stat().st_mtime
                    newest = mtime if newest is None else max(newest, mtime)
            except OSError:
                continue
    return None if newest is None else round(max(0.0, now - newest) / 86400, 1)


def _process_names() -> list[str]:
    names = []
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            names.append(name)
    return names


def xprotect_version(paths: Iterable[str] = XPROTECT_PLISTS) -> str:
    for path in paths:
        try:
            with open(path, "rb") as handle:
                return str(plistlib.load(handle).get("CFBundleShortVersionString", ""))[:40]
        except (OSError, ValueError, plistlib.InvalidFileException):
            continue
    return ""


def detect() -> dict[str, Any]:
    """The ``protection`` block for this machine; never raises."""
    try:
        if sys.platform == "win32":
            proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["powershell", "-NoProfile", "-NonInteractive", "-Command", _WSC_SCRIPT],  # noqa: S607
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            text = proc.stdout.decode("utf-8", "replace")
            return {"checked": proc.returncode == 0, "source": "wsc", "products": parse_wsc(text)}
        if sys.platform == "darwin":
            version = xprotect_version()
            products = (
                [
                    {
                        "name": "XProtect",
                        "kind": "antivirus",
                        "enabled": True,
                        "up_to_date": None,
                        "signature_age_days": None,
                        "version": version,
                    }
                ]
                if version
                else []
            )
            return {"checked": True, "source": "xprotect", "products": products}
        return {
            "checked": True,
            "source": "processes",
            "products": linux_products(_process_names()),
        }
    except (OSError, subprocess.SubprocessError, psutil.Error):
        return {"checked": False, "source": "", "products": []}

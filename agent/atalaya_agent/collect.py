"""What the agent measures: samples, the state snapshot, and the inventory (PROTOCOL.md).

Everything is best effort. A metric the platform (or psutil on it) does not provide
is reported as ``null`` and named in ``state.missing``; a failing probe never stops
the others, and never stops the agent. External commands (dpkg-query, rpm,
systemctl, smartctl) run with a timeout and bounded output, argv only, no shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from . import __version__, protection

log = logging.getLogger(__name__)

T = TypeVar("T")

# Read-only images of packages (snaps), not disks that can fill up.
SKIP_FSTYPES = {"squashfs", "iso9660", "udf", "tmpfs", "devtmpfs", "overlay", "nullfs"}
MAX_SOFTWARE = 5000
# What one check-in may carry (the server answers 422 beyond): a machine with more
# mounts or users than this reports the first ones.
MAX_VOLUMES = 64
MAX_NAMED = 200
MAX_SMART = 32
COMMAND_TIMEOUT_S = 30
SMART_EVERY_S = 15 * 60
INVENTORY_EVERY_S = 6 * 3600


def platform_name() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return sys.platform


def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> tuple[int, str]:
    """Run ``argv`` (no shell), returning (exit code, stdout); raises OSError if absent."""
    proc = subprocess.run(  # noqa: S603 - argv lists built here, never a shell string
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


class Unsupported(Exception):
    """This platform cannot provide the metric: it is reported missing, never guessed."""


class Collector:
    """Takes samples and snapshots, remembering what is missing on this platform.

    ``missing`` collects the names of metrics that failed or do not exist here; it is
    rebuilt on every snapshot so a metric that comes back (a permission fixed) leaves
    the list.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self.missing: set[str] = set()
        self._cpu_primed = False
        self._smart: list[dict[str, Any]] | None = None
        self._smart_at = 0.0
        self._inventory: dict[str, Any] | None = None
        self._inventory_at = 0.0
        self._inventory_missing: set[str] = set()

    def _try(self, name: str, func: Callable[[], T], default: T) -> T:
        try:
            return func()
        except Exception as exc:  # noqa: BLE001 - a missing metric must never stop the agent
            log.debug("metric %s unavailable: %s", name, exc)
            self.missing.add(name)
            return default

    # -- the sample ---------------------------------------------------------------

    def _cpu_pct(self) -> float:
        if not self._cpu_primed:
            # The first reading has nothing to compare with: measure a short window.
            self._cpu_primed = True
            return float(psutil.cpu_percent(interval=0.3))
        return float(psutil.cpu_percent(interval=None))

    def volumes(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype.lower() in SKIP_FSTYPES or part.mountpoint in seen:
                continue
            if len(out) >= MAX_VOLUMES or len(part.mountpoint) > 500:
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except (OSError, SystemError):
                # An empty CD drive or a mount we may not read: not a volume to watch.
                continue
            opts = [o.strip() for o in (part.opts or "").split(",")]
            out.append(
                {
                    "mount": part.mountpoint,
                    "device": part.device[:255],
                    "fstype": part.fstype[:40],
                    "total": int(usage.total),
                    "used": int(usage.used),
                    "free": int(usage.free),
                    "used_pct": round(float(usage.percent), 2),
                    "read_only": "ro" in opts,
                }
            )
        return out

    def sample(self, now: float | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One sample of the protocol, and the full volume list it was taken from."""
        now = time.time() if now is None else now
        # Rebuilt each cycle: a metric that comes back leaves the list.
        self.missing = set()

        def swap_pct() -> float:
            return round(float(psutil.swap_memory().percent), 2)

        def load1() -> float:
            return round(float(psutil.getloadavg()[0]), 3)

        volumes: list[dict[str, Any]] = self._try("volumes", self.volumes, [])
        sample = {
            "t": int(now),
            "n": 1,
            "cpu_pct": self._try("cpu_pct", lambda: round(self._cpu_pct(), 2), None),
            "mem_pct": self._try(
                "mem_pct", lambda: round(float(psutil.virtual_memory().percent), 2), None
            ),
            "swap_pct": self._try("swap_pct", swap_pct, None),
            "load1": self._try("load1", load1, None),
            "volumes": [
                {"mount": v["mount"], "free": v["free"], "used_pct": v["used_pct"]} for v in volumes
            ],
        }
        return sample, volumes

    # -- the state ----------------------------------------------------------------

    def users(self) -> list[str]:
        return sorted({u.name[:100] for u in psutil.users() if u.name})[:MAX_NAMED]

    def reboot_pending(self) -> bool:
        system = platform_name()
        if system == "linux":
            # Debian and Ubuntu (update-notifier, unattended-upgrades) drop this file.
            return (
                Path("/var/run/reboot-required").exists() or Path("/run/reboot-required").exists()
            )
        if system == "windows":
            return _windows_reboot_pending()
        raise Unsupported(f"reboot pending is not known on {system}")

    def services(self, names: list[str]) -> dict[str, str]:
        """``running``, ``stopped`` or ``missing`` for each name (``unknown`` if no probe)."""
        if not names:
            return {}
        system = platform_name()
        if system == "windows":
            return {name: _windows_service(name) for name in names}
        if system == "linux" and shutil.which("systemctl"):
            return _systemd_services(names)
        raise Unsupported(f"services cannot be probed on {system}")

    def processes(self, names: list[str]) -> dict[str, int]:
        """How many running processes have each name (case-insensitive, ``.exe`` ignored)."""
        if not names:
            return {}
        wanted: dict[str, list[str]] = {}
        for name in names:
            wanted.setdefault(_process_key(name), []).append(name)
        counts = dict.fromkeys(names, 0)
        for proc in psutil.process_iter(["name", "exe"]):
            info = proc.info
            candidates = {_process_key(info.get("name") or "")}
            if info.get("exe"):
                # Linux truncates names to 15 characters; the executable path is whole.
                candidates.add(_process_key(os.path.basename(info["exe"])))
            for key in candidates:
                if key in wanted:
                    for name in wanted[key]:
                        counts[name] += 1
                    break
        return counts

    def smart(self) -> list[dict[str, Any]] | None:
        """SMART health of each disk ``smartctl --scan`` finds, or None without smartctl.

        Cached for 15 minutes: the health of a disk does not change by the minute, and
        querying it costs a little disk activity.
        """
        smartctl = shutil.which("smartctl")
        if smartctl is None:
            return None
        if self._smart is not None and time.monotonic() - self._smart_at < SMART_EVERY_S:
            return self._smart
        code, out = run_command([smartctl, "--scan", "-j"])
        disks = []
        for dev in json.loads(out or "{}").get("devices") or []:
            name = dev.get("name")
            if not name:
                continue
            argv = [smartctl, "-H", "-A", "-j", "-n", "standby", name]
            if dev.get("type"):
                argv[1:1] = ["-d", str(dev["type"])]
            try:
                _code, text = run_command(argv)
                report = json.loads(text or "{}")
            except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
                disks.append({"device": name, "healthy": None, "error": str(exc)[:200]})
                continue
            status = report.get("smart_status") or {}
            temperature = (report.get("temperature") or {}).get("current")
            if not isinstance(temperature, (int, float)) or not -100 <= temperature <= 200:
                # Some bridges report nonsense; no reading beats a wrong one.
                temperature = None
            disks.append(
                {
                    "device": name,
                    "healthy": status.get("passed"),
                    "model": report.get("model_name") or report.get("model_family") or "",
                    "serial": report.get("serial_number") or "",
                    "temperature_c": temperature,
                    "power_on_hours": (report.get("power_on_time") or {}).get("hours"),
                }
            )
        disks = disks[:MAX_SMART]
        self._smart, self._smart_at = disks, time.monotonic()
        return disks

    def state(
        self,
        *,
        volumes: list[dict[str, Any]],
        services: list[str],
        processes: list[str],
        now: float | None = None,
    ) -> dict[str, Any]:
        """The newest snapshot: uptime, users, volumes, services, processes, SMART."""
        now = time.time() if now is None else now
        services, processes = services[:MAX_NAMED], processes[:MAX_NAMED]
        boot = self._try("boot_time", lambda: int(psutil.boot_time()), None)

        def smart() -> list[dict[str, Any]] | None:
            return self.smart()

        return {
            "t": int(now),
            "uptime_s": max(0, int(now - boot)) if boot else None,
            "boot_time": boot,
            "reboot_pending": self._try("reboot_pending", self.reboot_pending, None),
            "users": self._try("users", self.users, list[str]()),
            "volumes": [{k: v for k, v in vol.items() if k != "used_pct"} for vol in volumes],
            "services": self._try(
                "services", lambda: self.services(services), dict.fromkeys(services, "unknown")
            ),
            "processes": self._try(
                "processes", lambda: self.processes(processes), dict[str, int]()
            ),
            "smart": self._try("smart", smart, None),
            "missing": sorted(m[:40] for m in self.missing | self._inventory_missing),
        }

    # -- the inventory --------------------------------------------------------------

    def inventory(self, *, force: bool = False) -> dict[str, Any]:
        """OS, hardware, network and software inventory, refreshed every 6 hours."""
        fresh = time.monotonic() - self._inventory_at < INVENTORY_EVERY_S
        if self._inventory is not None and fresh and not force:
            return self._inventory
        outer, self.missing = self.missing, set()
        os_name, os_version = os_release()
        memory = self._try("mem_total", lambda: int(psutil.virtual_memory().total), None)
        data: dict[str, Any] = {
            "hostname": socket.gethostname(),
            "fqdn": self._try("fqdn", socket.getfqdn, ""),
            "machine_id": machine_id(self.state_dir),
            "platform": platform_name(),
            "os_name": os_name,
            "os_version": os_version,
            "kernel": platform.release(),
            "arch": platform.machine(),
            "cpu_model": self._try("cpu_model", cpu_model, ""),
            "cpu_count": psutil.cpu_count(logical=True),
            "cpu_cores": self._try("cpu_cores", lambda: psutil.cpu_count(logical=False), None),
            "memory_total": memory,
            "swap_total": self._try("swap_total", lambda: int(psutil.swap_memory().total), None),
            "network": self._try("network", network_interfaces, list[dict[str, Any]]()),
            "software": self._try("software", installed_software, None),
            "agent_version": __version__,
            "python_version": platform.python_version(),
            "protection": self._try("protection", protection.detect, {"checked": False}),
        }
        self._inventory_missing, self.missing = self.missing, outer
        self._inventory, self._inventory_at = data, time.monotonic()
        return data


def inventory_hash(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _process_key(name: str) -> str:
    name = name.strip().lower()
    return name[:-4] if name.endswith(".exe") else name


def _systemd_services(names: list[str]) -> dict[str, str]:
    argv = ["systemctl", "show", "--property=Id,LoadState,ActiveState", "--"]
    units = [n if "." in n else f"{n}.service" for n in names]
    code, out = run_command(argv + units)
    if code != 0 and not out.strip():
        raise OSError(f"systemctl show failed with exit code {code}")
    # One block per unit, in the order asked, separated by blank lines.
    blocks = out.strip().split("\n\n")
    result = {}
    for name, block in zip(names, blocks):  # noqa: B905 - fewer blocks: unknown
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("LoadState") == "not-found":
            result[name] = "missing"
        elif fields.get("ActiveState") in ("active", "reloading", "activating"):
            result[name] = "running"
        else:
            result[name] = "stopped"
    for name in names[len(blocks) :]:
        result[name] = "unknown"
    return result


def _windows_service(name: str) -> str:
    try:
        status = psutil.win_service_get(name).status()  # type: ignore[attr-defined,unused-ignore]
    except psutil.NoSuchProcess:
        return "missing"
    return "running" if status in ("running", "start_pending") else "stopped"


def _windows_reboot_pending() -> bool:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    hklm = winreg.HKEY_LOCAL_MACHINE  # type: ignore[attr-defined,unused-ignore]
    keys = [
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
    ]
    for key in keys:
        try:
            winreg.OpenKey(hklm, key).Close()  # type: ignore[attr-defined,unused-ignore]
            return True
        except OSError:
            pass
    try:
        with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
            hklm, r"SYSTEM\CurrentControlSet\Control\Session Manager"
        ) as handle:
            value, _kind = winreg.QueryValueEx(  # type: ignore[attr-defined,unused-ignore]
                handle, "PendingFileRenameOperations"
            )
            return bool(value)
    except OSError:
        return False


def os_release() -> tuple[str, str]:
    system = platform_name()
    if system == "linux":
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError:
                continue
            fields = {}
            for line in text.splitlines():
                if "=" in line and not line.startswith("#"):
                    key, value = line.split("=", 1)
                    fields[key.strip()] = value.strip().strip("\"'")
            return fields.get("NAME", "Linux"), fields.get("VERSION_ID", platform.release())
        return "Linux", platform.release()
    if system == "windows":
        return f"Windows {platform.release()}", platform.version()
    if system == "macos":
        return "macOS", platform.mac_ver()[0]
    return platform.system(), platform.release()


def machine_id(state_dir: Path | None = None) -> str:
    """The machine's own stable id; a random one kept in the state directory if none."""
    system = platform_name()
    if system == "linux":
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if value:
                return value
    elif system == "windows":
        try:
            import winreg  # type: ignore[import-not-found,unused-ignore]

            with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
                winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined,unused-ignore]
                r"SOFTWARE\Microsoft\Cryptography",
            ) as handle:
                value, _kind = winreg.QueryValueEx(  # type: ignore[attr-defined,unused-ignore]
                    handle, "MachineGuid"
                )
                return str(value)
        except OSError:
            pass
    elif system == "macos":
        try:
            _code, out = run_command(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"])
            for line in out.splitlines():
                if "IOPlatformUUID" in line:
                    return line.split("=", 1)[1].strip().strip('"')
        except (OSError, subprocess.TimeoutExpired):
            pass
    if state_dir is None:
        return ""
    id_file = state_dir / "machine-id"
    try:
        return id_file.read_text(encoding="utf-8").strip()
    except OSError:
        value = uuid.uuid4().hex
        id_file.write_text(value + "\n", encoding="utf-8")
        return value


def cpu_model() -> str:
    system = platform_name()
    if system == "linux":
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")):
                value = line.split(":", 1)[1].strip()
                if value and not value.isdigit():
                    return value
    if system == "macos":
        _code, out = run_command(["sysctl", "-n", "machdep.cpu.brand_string"])
        if out.strip():
            return out.strip()
    return platform.processor() or platform.machine()


def network_interfaces() -> list[dict[str, Any]]:
    stats: dict[str, Any] = {}
    with contextlib.suppress(OSError, AttributeError):
        stats = psutil.net_if_stats()
    link_families = {getattr(psutil, "AF_LINK", None), getattr(socket, "AF_PACKET", None)} - {None}
    out = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        mac = ""
        addresses = []
        for addr in addrs:
            if addr.family in link_families:
                mac = addr.address or mac
            elif addr.family in (socket.AF_INET, socket.AF_INET6):
                entry = {"address": addr.address}
                if addr.netmask:
                    entry["netmask"] = addr.netmask
                addresses.append(entry)
        stat = stats.get(name)
        out.append(
            {
                "name": name,
                "mac": mac,
                "addresses": addresses,
                "is_up": bool(stat.isup) if stat else None,
                "speed_mbps": int(stat.speed) if stat and stat.speed else None,
            }
        )
    return out


def installed_software() -> list[dict[str, str]]:
    """Installed packages (name, version), at most 5000, sorted: dpkg, rpm or the registry."""
    system = platform_name()
    items: list[dict[str, str]] = []
    if system == "linux" and shutil.which("dpkg-query"):
        _code, out = run_command(
            ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"]
        )
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0].startswith("ii"):
                items.append({"name": parts[1], "version": parts[2]})
    elif system == "linux" and shutil.which("rpm"):
        _code, out = run_command(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"])
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2:
                items.append({"name": parts[0], "version": parts[1]})
    elif system == "windows":
        items = _windows_software()
    else:
        raise Unsupported(f"installed software is not listed on {system}")
    items.sort(key=lambda item: (item["name"].lower(), item["version"]))
    return items[:MAX_SOFTWARE]


def _windows_software() -> list[dict[str, str]]:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    found: dict[tuple[str, str], dict[str, str]] = {}
    roots = [
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
    ]
    hklm = winreg.HKEY_LOCAL_MACHINE  # type: ignore[attr-defined,unused-ignore]
    for root in roots:
        try:
            handle = winreg.OpenKey(hklm, root)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            continue
        with handle:
            index = 0
            while len(found) < MAX_SOFTWARE:
                try:
                    sub = winreg.EnumKey(handle, index)  # type: ignore[attr-defined,unused-ignore]
                except OSError:
                    break
                index += 1
                try:
                    with winreg.OpenKey(handle, sub) as key:  # type: ignore[attr-defined,unused-ignore]
                        name = str(winreg.QueryValueEx(key, "DisplayName")[0])  # type: ignore[attr-defined,unused-ignore]
                        try:
                            version = str(winreg.QueryValueEx(key, "DisplayVersion")[0])  # type: ignore[attr-defined,unused-ignore]
                        except OSError:
                            version = ""
                except OSError:
                    continue
                found[(name, version)] = {"name": name, "version": version}
    return list(found.values())

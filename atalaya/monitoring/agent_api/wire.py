"""Reading agent requests off the wire: JSON to checked values, or an error naming the field.

Both front doors (the Django views and the lean ASGI app) use these functions, so an
agent gets the same answer from either. The checks are hand-written rather than a
schema library's: the check-in is the hot path (thousands a second), and a plain
function that walks the parsed JSON once costs a fraction of a model validation.
Every problem is a ``WireError`` with the status of agent/PROTOCOL.md (400 not JSON,
401 token, 413 too large, 422 a field) and, for 422, the fields at fault, named the
way the agent sent them (``samples[3].cpu_pct``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

# Epoch seconds an agent may plausibly send: 2001-09-09 … 2100-01-01. Anything outside
# is a bug (milliseconds, an unset clock), not a time.
T_MIN = 1_000_000_000
T_MAX = 4_102_444_800
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

MAX_SAMPLES = 500
MAX_VOLUMES = 64
MAX_JOBS = 100
MAX_RESULTS = 100
MAX_NAMED = 200  # services, processes, users
MAX_SMART = 32
MAX_MISSING = 64
# The combined output of an action kept on the server: its last 64 KiB, like the agent.
MAX_OUTPUT_CHARS = 64 * 1024
MAX_ERRORS = 20

RESULT_STATUSES = ("succeeded", "failed", "refused")
TOKEN_PREFIX = "atd_"
MAX_TOKEN_LEN = 200


class WireError(Exception):
    """A request the server answers with an error instead of storing it."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "errors": self.errors}


@dataclass(slots=True)
class Sample:
    t: int
    n: int
    cpu_pct: float | None
    mem_pct: float | None
    swap_pct: float | None
    load1: float | None
    # (mountpoint, free bytes, used percent)
    volumes: list[tuple[str, int, float]]


@dataclass(slots=True)
class StateVolume:
    mount: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    read_only: bool


@dataclass(slots=True)
class Job:
    name: str
    t: int
    ok: bool
    message: str


@dataclass(slots=True)
class Result:
    action_id: str
    nonce: str
    status: str
    exit_code: int | None
    output: str
    duration_ms: int | None
    finished_at: int | None
    reason: str
    # A scan action's result (the scan JSON of agent/PROTOCOL.md), bounded; else None.
    scan: dict[str, Any] | None = None


@dataclass(slots=True)
class Checkin:
    """One parsed, checked check-in; ``token_hash`` is the SHA-256 of its bearer token."""

    token_hash: str
    sent_at: int
    agent_version: str | None
    config_version: int | None
    scripts_enabled: bool | None
    samples: list[Sample]
    # The snapshot for Device.latest (known keys only) and its volumes, when sent.
    state: dict[str, Any] | None
    state_volumes: list[StateVolume] | None
    inventory_hash: str | None
    inventory: dict[str, Any] | None
    jobs: list[Job]
    results: list[Result]
    weight: int = field(default=1)


class _Errors:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"field": path, "message": message})


def token_hash_from_header(value: str | None) -> str:
    """The SHA-256 of a well-formed ``Authorization: Bearer atd_…``; 401 otherwise."""
    if not value:
        raise WireError(401, "Missing device token (Authorization: Bearer atd_…).")
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if (
        scheme.lower() != "bearer"
        or not token.startswith(TOKEN_PREFIX)
        or len(token) > MAX_TOKEN_LEN
    ):
        raise WireError(401, "Invalid device token.")
    return hashlib.sha256(token.encode()).hexdigest()


def load_json(body: bytes) -> Any:
    """The parsed body; 400 when it is not UTF-8 JSON."""
    try:
        # Decoded here, not by json.loads: it would first sniff the encoding.
        return json.loads(body.decode())
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and JSONDecodeError; RecursionError deep nesting.
        raise WireError(400, "The body is not valid JSON.") from None


# --- field checks: each returns the clean value or records an error and returns None ---


def _int(
    v: Any, path: str, errs: _Errors, lo: int, hi: int, *, nullable: bool = False
) -> int | None:
    if v is None and nullable:
        return None
    if type(v) is int:
        if lo <= v <= hi:
            return v
        errs.add(path, f"Must be between {lo} and {hi}.")
        return None
    if type(v) is float and v.is_integer() and lo <= v <= hi:
        return int(v)
    errs.add(path, "Must be a whole number." if v is not None else "Required.")
    return None


def _time(v: Any, path: str, errs: _Errors, *, nullable: bool = False) -> int | None:
    if v is None and nullable:
        return None
    if (type(v) is int or type(v) is float) and not (T_MIN <= v <= T_MAX):
        errs.add(path, "Must be a Unix time in seconds (UTC).")
        return None
    return _int(v, path, errs, T_MIN, T_MAX)


def _num(v: Any, path: str, errs: _Errors, lo: float, hi: float) -> float | None:
    """A finite number in [lo, hi] or null (a metric the platform lacks)."""
    if v is None:
        return None
    t = type(v)
    if t is float:
        if v != v or v in (math.inf, -math.inf):
            errs.add(path, "Must be a finite number.")
            return None
    elif t is not int:
        errs.add(path, "Must be a number or null.")
        return None
    if lo <= v <= hi:
        return float(v)
    # Means of values up to 100 can come out a rounding error above it.
    if hi == 100.0 and 100.0 < v <= 100.001:
        return 100.0
    errs.add(path, f"Must be between {lo:g} and {hi:g}.")
    return None


def _str(
    v: Any, path: str, errs: _Errors, limit: int, *, required: bool = False, cut: bool = False
) -> str | None:
    if v is None and not required:
        return ""
    if type(v) is not str:
        errs.add(path, "Must be text." if v is not None else "Required.")
        return None
    if "\x00" in v:
        errs.add(path, "Must not contain NUL characters.")
        return None
    if len(v) > limit:
        if cut:
            return v[:limit]
        errs.add(path, f"At most {limit} characters.")
        return None
    if required and not v:
        errs.add(path, "Must not be empty.")
        return None
    return v


def _bool(v: Any, path: str, errs: _Errors, *, nullable: bool = False) -> bool | None:
    if type(v) is bool or (v is None and nullable):
        return v
    errs.add(path, "Must be true or false." if v is not None else "Required.")
    return None


def _list(v: Any, path: str, errs: _Errors, limit: int) -> list[Any]:
    if v is None:
        return []
    if type(v) is not list:
        errs.add(path, "Must be a list.")
        return []
    if len(v) > limit:
        errs.add(path, f"At most {limit} items.")
        return []
    return v


def _obj(v: Any, path: str, errs: _Errors) -> dict[str, Any] | None:
    if type(v) is dict:
        return v
    errs.add(path, "Must be an object.")
    return None


# --- the check-in ---------------------------------------------------------------------


def _sample(raw: Any, path: str, errs: _Errors) -> Sample | None:
    d = _obj(raw, path, errs)
    if d is None:
        return None
    before = len(errs.items)
    t = _time(d.get("t"), path + ".t", errs)
    n = _int(d.get("n", 1), path + ".n", errs, 1, 1_000_000)
    cpu = _num(d.get("cpu_pct"), path + ".cpu_pct", errs, 0.0, 100.0)
    mem = _num(d.get("mem_pct"), path + ".mem_pct", errs, 0.0, 100.0)
    swap = _num(d.get("swap_pct"), path + ".swap_pct", errs, 0.0, 100.0)
    load1 = _num(d.get("load1"), path + ".load1", errs, 0.0, 1e6)
    volumes: list[tuple[str, int, float]] = []
    seen: set[str] = set()
    for i, rv in enumerate(_list(d.get("volumes"), path + ".volumes", errs, MAX_VOLUMES)):
        # The common case without building field paths (see _state_volume_fast).
        if type(rv) is dict:
            mount, free, used = rv.get("mount"), rv.get("free"), rv.get("used_pct")
            if (
                _text_ok(mount, 500)
                and mount
                and mount not in seen
                and _size_ok(free)
                and (used is None or _pct_ok(used))
            ):
                seen.add(mount)
                volumes.append((mount, free, float(used) if used is not None else 0.0))  # type: ignore[arg-type]
                continue
        vp = f"{path}.volumes[{i}]"
        vd = _obj(rv, vp, errs)
        if vd is None:
            continue
        mount = _str(vd.get("mount"), vp + ".mount", errs, 500, required=True)
        free = _int(vd.get("free"), vp + ".free", errs, 0, INT64_MAX)
        used = _num(vd.get("used_pct"), vp + ".used_pct", errs, 0.0, 100.0)
        if mount is None or free is None:
            continue
        if mount in seen:
            errs.add(vp + ".mount", "Each mountpoint at most once per sample.")
            continue
        seen.add(mount)
        volumes.append((mount, free, used if used is not None else 0.0))
    if len(errs.items) != before or t is None or n is None:
        return None
    return Sample(t, n, cpu, mem, swap, load1, volumes)


def _text_ok(v: Any, limit: int) -> bool:
    return type(v) is str and len(v) <= limit and "\x00" not in v


def _size_ok(v: Any) -> bool:
    return type(v) is int and 0 <= v <= INT64_MAX


def _state_volume_fast(vd: Any, seen: set[str]) -> StateVolume | None:
    """A well-formed volume of the state without building field paths; None: check slowly.

    Every check-in carries a few; the slow path below builds the paths that name a field
    in an error, which costs more than the checks themselves.
    """
    if type(vd) is not dict:
        return None
    mount = vd.get("mount")
    dev = vd.get("device") or ""
    fstype = vd.get("fstype") or ""
    total, used, free = vd.get("total"), vd.get("used"), vd.get("free")
    ro = vd.get("read_only", False)
    if (
        _text_ok(mount, 500)
        and mount
        and mount not in seen
        and _text_ok(dev, 255)
        and _text_ok(fstype, 40)
        and _size_ok(total)
        and _size_ok(used)
        and _size_ok(free)
        and type(ro) is bool
    ):
        seen.add(mount)
        return StateVolume(mount, dev, fstype, total, used, free, ro)  # type: ignore[arg-type]
    return None


def _pct_ok(v: Any) -> bool:
    return (type(v) is float and 0.0 <= v <= 100.0) or (type(v) is int and 0 <= v <= 100)


def _state(raw: Any, errs: _Errors) -> tuple[dict[str, Any], list[StateVolume]] | None:
    d = _obj(raw, "state", errs)
    if d is None:
        return None
    before = len(errs.items)
    state: dict[str, Any] = {
        "t": _time(d.get("t"), "state.t", errs),
        "uptime_s": _int(d.get("uptime_s"), "state.uptime_s", errs, 0, INT64_MAX, nullable=True),
        "boot_time": _time(d.get("boot_time"), "state.boot_time", errs, nullable=True),
        "reboot_pending": _bool(
            d.get("reboot_pending"), "state.reboot_pending", errs, nullable=True
        ),
    }
    users = []
    for i, u in enumerate(_list(d.get("users"), "state.users", errs, MAX_NAMED)):
        user = _str(u, f"state.users[{i}]", errs, 100, required=True)
        if user is not None:
            users.append(user)
    state["users"] = users
    volumes: list[StateVolume] = []
    seen: set[str] = set()
    for i, rv in enumerate(_list(d.get("volumes"), "state.volumes", errs, MAX_VOLUMES)):
        fast = _state_volume_fast(rv, seen)
        if fast is not None:
            volumes.append(fast)
            continue
        p = f"state.volumes[{i}]"
        vd = _obj(rv, p, errs)
        if vd is None:
            continue
        mount = _str(vd.get("mount"), p + ".mount", errs, 500, required=True)
        dev = _str(vd.get("device"), p + ".device", errs, 255)
        fstype = _str(vd.get("fstype"), p + ".fstype", errs, 40)
        total = _int(vd.get("total"), p + ".total", errs, 0, INT64_MAX)
        used = _int(vd.get("used"), p + ".used", errs, 0, INT64_MAX)
        free = _int(vd.get("free"), p + ".free", errs, 0, INT64_MAX)
        ro = _bool(vd.get("read_only", False), p + ".read_only", errs)
        if mount is not None and mount in seen:
            errs.add(p + ".mount", "Each mountpoint at most once.")
            continue
        if None in (mount, dev, fstype, total, used, free, ro):
            continue
        seen.add(mount)  # type: ignore[arg-type]
        volumes.append(StateVolume(mount, dev, fstype, total, used, free, ro))  # type: ignore[arg-type]
    services: dict[str, str] = {}
    raw_services = d.get("services")
    if raw_services is not None and _obj(raw_services, "state.services", errs) is not None:
        if len(raw_services) > MAX_NAMED:
            errs.add("state.services", f"At most {MAX_NAMED} items.")
        else:
            for name, value in raw_services.items():
                p = f"state.services.{name[:100]}"
                if len(name) > 255 or not name:
                    errs.add(p, "Service names are 1 to 255 characters.")
                    continue
                status = _str(value, p, errs, 20, required=True)
                if status is not None:
                    services[name] = status
    state["services"] = services
    processes: dict[str, int] = {}
    raw_processes = d.get("processes")
    if raw_processes is not None and _obj(raw_processes, "state.processes", errs) is not None:
        if len(raw_processes) > MAX_NAMED:
            errs.add("state.processes", f"At most {MAX_NAMED} items.")
        else:
            for name, value in raw_processes.items():
                p = f"state.processes.{name[:100]}"
                if len(name) > 255 or not name:
                    errs.add(p, "Process names are 1 to 255 characters.")
                    continue
                count = _int(value, p, errs, 0, 1_000_000)
                if count is not None:
                    processes[name] = count
    state["processes"] = processes
    smart: list[dict[str, Any]] | None = None
    if d.get("smart") is not None:
        smart = []
        for i, rs in enumerate(_list(d.get("smart"), "state.smart", errs, MAX_SMART)):
            p = f"state.smart[{i}]"
            sd = _obj(rs, p, errs)
            if sd is None:
                continue
            smart.append(
                {
                    "device": _str(sd.get("device"), p + ".device", errs, 255, required=True),
                    "healthy": _bool(sd.get("healthy"), p + ".healthy", errs, nullable=True),
                    "model": _str(sd.get("model"), p + ".model", errs, 200, cut=True),
                    "temperature_c": _num(
                        sd.get("temperature_c"), p + ".temperature_c", errs, -100.0, 200.0
                    ),
                }
            )
    state["smart"] = smart
    missing = []
    for i, m in enumerate(_list(d.get("missing"), "state.missing", errs, MAX_MISSING)):
        name = _str(m, f"state.missing[{i}]", errs, 40, required=True)
        if name is not None:
            missing.append(name)
    state["missing"] = missing
    if len(errs.items) != before:
        return None
    return state, volumes


def _job(raw: Any, path: str, errs: _Errors) -> Job | None:
    d = _obj(raw, path, errs)
    if d is None:
        return None
    name = _str(d.get("name"), path + ".name", errs, 100, required=True)
    t = _time(d.get("t"), path + ".t", errs)
    ok = _bool(d.get("ok"), path + ".ok", errs)
    message = _str(d.get("message"), path + ".message", errs, 500, cut=True)
    if name is None or t is None or ok is None or message is None:
        return None
    return Job(name, t, ok, message)


def _uuid_text(v: Any, path: str, errs: _Errors) -> str | None:
    if type(v) is str and len(v) == 36 and v.count("-") == 4:
        try:
            int(v.replace("-", ""), 16)
            return v.lower()
        except ValueError:
            pass
    errs.add(path, "Must be the action's id (a UUID).")
    return None


def _result(raw: Any, path: str, errs: _Errors) -> Result | None:
    d = _obj(raw, path, errs)
    if d is None:
        return None
    before = len(errs.items)
    action_id = _uuid_text(d.get("action_id"), path + ".action_id", errs)
    nonce = _str(d.get("nonce"), path + ".nonce", errs, 64)
    status = d.get("status")
    if status not in RESULT_STATUSES:
        errs.add(path + ".status", "Must be one of: " + ", ".join(RESULT_STATUSES) + ".")
    exit_code = _int(
        d.get("exit_code"), path + ".exit_code", errs, -INT32_MAX - 1, INT32_MAX, nullable=True
    )
    output = d.get("output") or ""
    if type(output) is not str:
        errs.add(path + ".output", "Must be text.")
    duration = _int(d.get("duration_ms"), path + ".duration_ms", errs, 0, INT32_MAX, nullable=True)
    finished = _time(d.get("finished_at"), path + ".finished_at", errs, nullable=True)
    reason = _str(d.get("reason"), path + ".reason", errs, 300, cut=True)
    scan = None
    if d.get("scan") is not None:
        from atalaya.security.scans.ingest import ScanDataError, bound_scan_result

        try:
            scan = bound_scan_result(d["scan"])
        except ScanDataError as exc:
            errs.add(path + ".scan" + exc.path, exc.message)
    if len(errs.items) != before:
        return None
    # The agent already keeps the last 64 KiB; a longer text is cut the same way.
    output = output.replace("\x00", "")[-MAX_OUTPUT_CHARS:]
    return Result(
        action_id,  # type: ignore[arg-type]
        nonce or "",
        status,  # type: ignore[arg-type]
        exit_code,
        output,
        duration,
        finished,
        reason or "",
        scan,
    )


def parse_checkin(body: bytes, token_hash: str) -> Checkin:
    """The check-in of agent/PROTOCOL.md from a request body, or a ``WireError``."""
    data = load_json(body)
    errs = _Errors()
    if type(data) is not dict:
        raise WireError(
            422,
            "The check-in must be a JSON object.",
            [{"field": "", "message": "Must be an object."}],
        )
    sent_at = _time(data.get("sent_at"), "sent_at", errs)
    agent_version = data.get("agent_version")
    if agent_version is not None:
        agent_version = _str(agent_version, "agent_version", errs, 40)
    config_version = data.get("config_version")
    if config_version is not None:
        config_version = _int(config_version, "config_version", errs, 0, INT32_MAX)
    scripts_enabled = _bool(data.get("scripts_enabled"), "scripts_enabled", errs, nullable=True)
    samples: list[Sample] = []
    for i, raw in enumerate(_list(data.get("samples"), "samples", errs, MAX_SAMPLES)):
        sample = _sample(raw, f"samples[{i}]", errs)
        if sample is not None:
            samples.append(sample)
    state = state_volumes = None
    if data.get("state") is not None:
        parsed = _state(data["state"], errs)
        if parsed is not None:
            state, state_volumes = parsed
    inventory_hash = inventory = None
    raw_inventory = data.get("inventory")
    if raw_inventory is not None and _obj(raw_inventory, "inventory", errs) is not None:
        inventory_hash = _str(raw_inventory.get("hash"), "inventory.hash", errs, 64, required=True)
        inventory = raw_inventory.get("data")
        if type(inventory) is not dict:
            errs.add("inventory.data", "Must be an object.")
    jobs = []
    for i, raw in enumerate(_list(data.get("jobs"), "jobs", errs, MAX_JOBS)):
        job = _job(raw, f"jobs[{i}]", errs)
        if job is not None:
            jobs.append(job)
    results = []
    for i, raw in enumerate(_list(data.get("results"), "results", errs, MAX_RESULTS)):
        result = _result(raw, f"results[{i}]", errs)
        if result is not None:
            results.append(result)
    if errs.items:
        fields = ", ".join(e["field"] for e in errs.items[:3])
        raise WireError(422, f"Invalid check-in: {fields}.", errs.items)
    return Checkin(
        token_hash=token_hash,
        sent_at=sent_at,  # type: ignore[arg-type]
        agent_version=agent_version,
        config_version=config_version,
        scripts_enabled=scripts_enabled,
        samples=samples,
        state=state,
        state_volumes=state_volumes,
        inventory_hash=inventory_hash,
        inventory=inventory if inventory_hash is not None else None,
        jobs=jobs,
        results=results,
        weight=1 + len(samples),
    )


ENROLL_FIELDS = ("hostname", "machine_id", "platform", "os_name", "os_version", "agent_version")


def parse_enroll(body: bytes) -> dict[str, Any]:
    """The enrollment request's fields (type checks only; lengths are the service's)."""
    data = load_json(body)
    if type(data) is not dict:
        raise WireError(
            422,
            "The enrollment must be a JSON object.",
            [{"field": "", "message": "Must be an object."}],
        )
    errs = _Errors()
    token = data.get("token")
    if type(token) is not str or not token:
        errs.add("token", "Required: the enrollment token (ate_…).")
    out: dict[str, Any] = {"token": token}
    for name in ENROLL_FIELDS:
        value = data.get(name)
        if name == "hostname" and (type(value) is not str or not value.strip()):
            errs.add(name, "Required.")
        elif value is not None and type(value) is not str:
            errs.add(name, "Must be text.")
        out[name] = value if value is not None else ""
    if errs.items:
        raise WireError(422, "Invalid enrollment request.", errs.items)
    return out

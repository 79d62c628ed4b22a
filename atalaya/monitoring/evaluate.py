"""The check evaluator: every device seen since the last run, against the checks in force.

Devices are taken in chunks of ``CHUNK`` by (last_seen_at, id); each chunk costs a
fixed number of queries whatever its size, plus the alerts touched. Only what can
change something is read or built:

* A check state that is *settled* — passing, no failures counted, nothing to
  remember — behaves exactly like no state at all: a pass leaves it as it is, a
  failure starts counting from zero. So only the *unsettled* states are read (failing,
  counting failures, or a pending reboot's "since"), through a partial index, and a
  passing observation of a check without an unsettled state is not even built. A
  healthy fleet therefore costs no state reads and no writes.
* The facts are read from the database already narrowed to what could fail: volumes
  over the lowest disk thresholds in force in the chunk (or with a forecast inside
  the horizon), devices whose CPU or memory stayed above the lowest threshold over
  the window (``HAVING MIN(…) >= …``), the newest heartbeat of each backup job; and
  the devices' ``latest`` is read as the four small parts the checks use (services,
  processes, SMART, reboot pending), not the whole snapshot. Devices with unsettled
  states get their full facts, so a failing check is always observed again.
* The checks in force are resolved once per client (devices without overrides share
  it) and compiled once into a plan of plain tuples.
* An alert is only touched when its observation differs from the open alert (severity,
  message, suppression, or the value by a material step: ``alerts.is_material``) or it
  still wants a ticket: the chunk's open alerts are read in one query.

Hysteresis: each evaluation is one observation. A failing observation bumps
``consecutive_failures`` (and zeroes the passes); the alert opens once it reaches the
check's ``fail_after``. A passing one bumps ``consecutive_passes``; a failing state
clears (its alert resolves) only after ``clear_after`` passes in a row. A check with
no data this time (a service the agent has not been asked about yet) is left as it is.

"Sustained over a window" reads the raw samples: CPU is sustained above 95 % over
15 minutes when the window holds enough samples for the device's interval (at least
half of window/interval, the oldest within two intervals of the window's start) and
every one of them is at or above the threshold.

A device already evaluated for its latest check-in (one of its states has an
``evaluated_at`` not older than ``last_seen_at``) is skipped, so re-running over the
same span never counts one check-in twice.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.monitoring import alerts, checks, maintenance
from atalaya.monitoring.checks import EffectiveCheck
from atalaya.monitoring.models import (
    Alert,
    Check,
    CheckKind,
    CheckState,
    Device,
    JobHeartbeat,
    MetricSample,
    Severity,
    Volume,
)

CHUNK = 2000
GB = 1024**3
EVALUATED_KINDS = {
    CheckKind.DISK,
    CheckKind.DISK_FORECAST,
    CheckKind.CPU,
    CheckKind.MEMORY,
    CheckKind.SERVICE,
    CheckKind.PROCESS,
    CheckKind.BACKUP,
    CheckKind.SMART,
    CheckKind.REBOOT_PENDING,
}
DISK_KINDS = (CheckKind.DISK, CheckKind.DISK_FORECAST)
SUSTAINED_KINDS = (CheckKind.CPU, CheckKind.MEMORY)
# Never reached by a percentage: "no check of this metric for this window".
NEVER = 1e18
# Which states are read (see the module's note); the partial index of the same
# condition (models.CheckState) keeps the read proportional to them.
UNSETTLED_SQL = (
    "(is_failing OR consecutive_failures > 0 OR (key = 'reboot_pending' AND value IS NOT NULL))"
)


@dataclass
class Observation:
    """One check's verdict on one device this time."""

    kind: str
    target: str
    is_failing: bool
    severity: str
    value: float | None
    message: str
    check: EffectiveCheck

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(slots=True)
class _State:
    """A CheckState row as the evaluator works on it (plain attributes, no model)."""

    id: int | None
    device_id: int
    key: str
    is_failing: bool = False
    consecutive_failures: int = 0
    consecutive_passes: int = 0
    value: float | None = None
    message: str = ""
    evaluated_at: datetime | None = None

    def facts(self) -> tuple[Any, ...]:
        return (
            self.is_failing,
            self.consecutive_failures,
            self.consecutive_passes,
            self.value,
            self.message,
        )


@dataclass(slots=True)
class _Device:
    """The columns of a device the checks read: ``latest`` only in the parts they use."""

    pk: int
    client_id: int
    site_id: int
    hostname: str
    display_name: str
    interval: int
    enrolled_t: float
    services: dict[str, Any]
    processes: dict[str, Any]
    # The SMART disks reported unhealthy (None: no SMART report at all).
    smart: list[Any] | None
    has_reboot: bool
    reboot_pending: bool

    @property
    def name(self) -> str:
        return self.display_name or self.hostname


@dataclass(slots=True)
class _Volume:
    device_id: int
    mountpoint: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    full_t: float | None


@dataclass
class _Plan:
    """The checks in force on a device, compiled once per distinct set (per client)."""

    disk: dict[str, EffectiveCheck]
    forecast: dict[str, EffectiveCheck]
    cpu: EffectiveCheck | None
    mem: EffectiveCheck | None
    services: list[tuple[str, EffectiveCheck]]
    processes: list[tuple[str, EffectiveCheck, float]]
    backups: list[tuple[str, EffectiveCheck, float]]
    smart: EffectiveCheck | None
    reboot: EffectiveCheck | None

    @classmethod
    def of(cls, in_force: dict[tuple[str, str], EffectiveCheck]) -> _Plan:
        by_kind: dict[str, list[tuple[str, EffectiveCheck]]] = defaultdict(list)
        for (kind, target), check in in_force.items():
            by_kind[str(kind)].append((target, check))
        # A named backup job's own check replaces the catch-all for that job.
        backups = sorted(by_kind[CheckKind.BACKUP], key=lambda item: item[0] == "")
        return cls(
            disk=dict(by_kind[CheckKind.DISK]),
            forecast=dict(by_kind[CheckKind.DISK_FORECAST]),
            cpu=in_force.get((CheckKind.CPU, "")),
            mem=in_force.get((CheckKind.MEMORY, "")),
            services=by_kind[CheckKind.SERVICE],
            processes=[(t, c, c.param("min_count")) for t, c in by_kind[CheckKind.PROCESS]],
            backups=[(t, c, c.param("max_age_hours") * 3600) for t, c in backups],
            smart=in_force.get((CheckKind.SMART, "")),
            reboot=in_force.get((CheckKind.REBOOT_PENDING, "")),
        )


@dataclass
class EvaluationReport:
    devices: int = 0
    skipped: int = 0
    observations: int = 0
    states_written: int = 0
    alerts_raised: int = 0
    alerts_resolved: int = 0
    chunks: int = 0
    queries: int = 0
    seconds: float = 0.0
    until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["until"] = self.until.isoformat() if self.until else None
        return data


@dataclass
class _Facts:
    volumes: dict[int, list[_Volume]] = field(default_factory=dict)
    sustained: dict[tuple[int, str, int], tuple[int, float | None, float | None, int]] = field(
        default_factory=dict
    )
    jobs: dict[int, dict[str, tuple[int, bool, str]]] = field(default_factory=dict)


# --- SQL helpers -------------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _in(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """``column IN (ids)``: one array parameter on PostgreSQL, a list of marks elsewhere."""
    if _pg():
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _epoch(column: str) -> str:
    """A datetime column as epoch seconds (a float), computed by the database."""
    if _pg():
        return f"extract(epoch from {column})::float8"
    return f"(julianday({column}) - 2440587.5) * 86400.0"


def _latest_parts() -> tuple[str, str]:
    """SQL for the parts of ``latest`` the checks read, as one small JSON array, and
    whether ``reboot_pending`` is present at all."""
    if _pg():
        return (
            "jsonb_build_array(latest->'services', latest->'processes',"
            " jsonb_typeof(latest->'smart') = 'array',"
            " CASE WHEN jsonb_typeof(latest->'smart') = 'array' THEN (SELECT"
            " coalesce(jsonb_agg(coalesce(e->'device', '\"?\"'::jsonb)), '[]'::jsonb)"
            " FROM jsonb_array_elements(latest->'smart') AS e"
            " WHERE e->'healthy' = 'false'::jsonb) END, latest->'reboot_pending')::text",
            "latest ? 'reboot_pending'",
        )
    return (
        "json_array(json_extract(latest, '$.services'), json_extract(latest, '$.processes'),"
        " json_type(latest, '$.smart') = 'array',"
        " (SELECT json_group_array(coalesce(json_extract(value, '$.device'), '?'))"
        " FROM json_each(latest, '$.smart') WHERE json_type(latest, '$.smart') = 'array'"
        " AND json_type(value, '$.healthy') = 'false'), json_extract(latest, '$.reboot_pending'))",
        "json_type(latest, '$.reboot_pending') IS NOT NULL",
    )


def _devices_page(
    since: Any, now: Any, after: tuple[Any, int] | None, chunk: int
) -> list[tuple[Any, ...]]:
    """One page of active devices seen in (since, now], by (last_seen_at, id).

    Each row: the _Device fields, then the stored ``last_seen_at`` as the database
    holds it (the next page's cursor, compared exactly as stored).
    """
    parts, has_reboot = _latest_parts()
    where = ["retired_at IS NULL", "last_seen_at <= %s"]
    params: list[Any] = [now]
    if since is not None:
        where.append("last_seen_at > %s")
        params.append(since)
    if after is not None:
        where.append("(last_seen_at > %s OR (last_seen_at = %s AND id > %s))")
        params += [after[0], after[0], after[1]]
    sql = (
        f"SELECT id, client_id, site_id, hostname, display_name, checkin_interval_s,"  # noqa: S608
        f" {_epoch('enrolled_at')}, {parts}, {has_reboot}, last_seen_at"
        f" FROM {_q(Device._meta.db_table)} WHERE {' AND '.join(where)}"
        f" ORDER BY last_seen_at, id LIMIT {int(chunk)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_PARTS_MEMO: dict[str, Any] = {}


def _parts(text: str | None) -> Any:
    """The decoded parts of ``latest``; most devices send the very same text (every
    service running, the same processes), so decoding is memoised (the values are only
    read, never changed)."""
    if not text:
        return (None, None, False, None, None)
    parts = _PARTS_MEMO.get(text)
    if parts is None:
        if len(_PARTS_MEMO) > 20_000:
            _PARTS_MEMO.clear()
        parts = _PARTS_MEMO[text] = json.loads(text)
        if isinstance(parts[3], str):  # SQLite's subquery loses the JSON subtype
            parts[3] = json.loads(parts[3])
    return parts


def _device_of(row: tuple[Any, ...]) -> _Device:
    pk, client_id, site_id, hostname, display_name, interval, enrolled_t, parts, has = row[:9]
    services, processes, has_smart, bad_smart, reboot = _parts(parts)
    return _Device(
        pk=pk,
        client_id=client_id,
        site_id=site_id,
        hostname=hostname,
        display_name=display_name or "",
        interval=max(1, int(interval or 60)),
        enrolled_t=float(enrolled_t or 0.0),
        services=services if isinstance(services, dict) else {},
        processes=processes if isinstance(processes, dict) else {},
        smart=(bad_smart or []) if has_smart else None,
        has_reboot=bool(has),
        reboot_pending=bool(reboot),
    )


def _states(ids: list[int], oldest_seen: Any) -> tuple[dict[int, dict[str, _State]], set[int]]:
    """The chunk's unsettled states, and the devices already evaluated for their check-in.

    Two indexed reads: the partial index of unsettled states, and (device, evaluated_at)
    for the states written at or after the chunk's oldest check-in.
    """
    table = _q(CheckState._meta.db_table)
    devices = _q(Device._meta.db_table)
    where, params = _in("device_id", ids)
    out: dict[int, dict[str, _State]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, device_id, key, is_failing, consecutive_failures,"  # noqa: S608
            f" consecutive_passes, value, message FROM {table}"
            f" WHERE {where} AND {UNSETTLED_SQL}",
            params,
        )
        for row in cursor.fetchall():
            state = _State(*row)
            state.is_failing = bool(state.is_failing)
            out[state.device_id][state.key] = state
        where_s, params_s = _in("s.device_id", ids)
        cursor.execute(
            f"SELECT DISTINCT s.device_id FROM {table} s JOIN {devices} d"  # noqa: S608
            f" ON d.id = s.device_id WHERE {where_s} AND s.evaluated_at >= %s"
            " AND s.evaluated_at >= d.last_seen_at",
            [*params_s, oldest_seen],
        )
        done = {row[0] for row in cursor.fetchall()}
    return out, done


def _volumes(
    ids: list[int], plans: dict[int, _Plan], unsettled: set[int], now_t: int
) -> dict[int, list[_Volume]]:
    """Volumes that could fail a disk or forecast check in force, and every volume of
    the devices with an unsettled disk state.

    The bounds are the loosest thresholds of the chunk's plans, so the exact grading in
    Python sees every volume that could fail and few others.
    """
    disk = [c for p in {id(p): p for p in plans.values()}.values() for c in p.disk.values()]
    fc = [c for p in {id(p): p for p in plans.values()}.values() for c in p.forecast.values()]
    clauses: list[str] = []
    params: list[Any] = []
    if disk:
        used = min(min(c.param("warning_used_pct"), c.param("critical_used_pct")) for c in disk)
        floor = min(c.param("min_total_gb_for_free") for c in disk) * GB
        free = max(max(c.param("warning_free_gb"), c.param("critical_free_gb")) for c in disk)
        clauses.append(
            "100.0 * used_bytes >= %s * total_bytes OR (total_bytes >= %s AND free_bytes < %s)"
        )
        params += [used - 1e-6, floor - 1, free * GB + 1]
    if fc:
        hours = max(max(c.param("warning_hours"), c.param("critical_hours")) for c in fc)
        pct = max(max(c.param("warning_free_pct"), c.param("critical_free_pct")) for c in fc)
        clauses.append(
            "(forecast_full_at IS NOT NULL AND forecast_full_at <= %s"
            " AND 100.0 * free_bytes < %s * total_bytes)"
        )
        horizon = datetime.fromtimestamp(now_t + hours * 3600 + 1, tz=UTC)
        params += [connection.ops.adapt_datetimefield_value(horizon), pct + 1e-6]
    recheck = sorted(unsettled)
    if recheck:
        where_u, params_u = _in("device_id", recheck)
        clauses.append(where_u)
        params += params_u
    if not clauses:
        return {}
    where, id_params = _in("device_id", ids)
    sql = (
        f"SELECT device_id, mountpoint, total_bytes, used_bytes, free_bytes,"  # noqa: S608
        f" {_epoch('forecast_full_at')} FROM {_q(Volume._meta.db_table)}"
        f" WHERE {where} AND is_present AND NOT is_read_only AND total_bytes > 0"
        f" AND ({' OR '.join(clauses)})"
    )
    out: dict[int, list[_Volume]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*id_params, *params])
        for row in cursor.fetchall():
            out[row[0]].append(_Volume(*row))
    return out


def _window_aggregates(
    plans: dict[int, _Plan], unsettled: set[int], now_t: int
) -> dict[tuple[int, str, int], tuple[int, float | None, float | None, int]]:
    """(device, metric, window s) → (samples, min, avg, oldest t) over the raw samples.

    One query per distinct window, over the devices whose plan uses it, returning only
    the devices whose minimum reached the lowest threshold in force (the only ones that
    can be failing) and those with an unsettled CPU or memory state.
    """
    windows: dict[int, list[int]] = defaultdict(list)
    lows: dict[int, list[float]] = defaultdict(lambda: [NEVER, NEVER])
    for device_id, plan in plans.items():
        for k, check in enumerate((plan.cpu, plan.mem)):
            if check is None:
                continue
            window = int(check.param("window_min") * 60)
            if not windows[window] or windows[window][-1] != device_id:
                windows[window].append(device_id)
            lows[window][k] = min(lows[window][k], check.param("pct"))
    table = _q(MetricSample._meta.db_table)
    out: dict[tuple[int, str, int], tuple[int, float | None, float | None, int]] = {}
    with connection.cursor() as cursor:
        for window, ids in sorted(windows.items()):
            where, params = _in("device_id", ids)
            having = "MIN(cpu_pct) >= %s OR MIN(mem_pct) >= %s"
            having_params: list[Any] = [lows[window][0] - 1e-9, lows[window][1] - 1e-9]
            recheck = [d for d in ids if d in unsettled]
            if recheck:
                where_u, params_u = _in("device_id", recheck)
                having += f" OR {where_u}"
                having_params += params_u
            cursor.execute(
                f"SELECT device_id, COUNT(cpu_pct), MIN(cpu_pct), AVG(cpu_pct),"  # noqa: S608
                f" COUNT(mem_pct), MIN(mem_pct), AVG(mem_pct), MIN(t) FROM {table}"
                f" WHERE {where} AND t > %s AND t <= %s GROUP BY device_id HAVING {having}",
                [*params, now_t - window, now_t + 60, *having_params],
            )
            for device_id, nc, cmin, cavg, nm, mmin, mavg, oldest in cursor.fetchall():
                out[(device_id, "cpu", window)] = (nc, cmin, cavg, oldest)
                out[(device_id, "mem", window)] = (nm, mmin, mavg, oldest)
    return out


def _latest_jobs(device_ids: list[int]) -> dict[int, dict[str, tuple[int, bool, str]]]:
    """Each device's newest heartbeat per job name: (t, is_ok, message), by one query
    walking the (device, name, t) primary key."""
    table = _q(JobHeartbeat._meta.db_table)
    where, params = _in("device_id", device_ids)
    if _pg():
        sql = (
            f"SELECT DISTINCT ON (device_id, name) device_id, name, t, is_ok, message"  # noqa: S608
            f" FROM {table} WHERE {where} ORDER BY device_id, name, t DESC"
        )
    else:
        # SQLite takes the bare columns from the row holding the MAX.
        sql = (
            f"SELECT device_id, name, MAX(t), is_ok, message FROM {table}"  # noqa: S608
            f" WHERE {where} GROUP BY device_id, name"
        )
    out: dict[int, dict[str, tuple[int, bool, str]]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for device_id, name, t, is_ok, message in cursor.fetchall():
            out[device_id][name] = (int(t), bool(is_ok), message or "")
    return out


# --- observing --------------------------------------------------------------------------


def _grade(
    check: EffectiveCheck, value: float, warn: str, crit: str, higher_is_worse: bool = True
) -> str | None:
    """The severity ``value`` reaches against the check's warning/critical params, or None."""
    if higher_is_worse:
        if value >= check.param(crit):
            return Severity.CRITICAL
        if value >= check.param(warn):
            return Severity.WARNING
    else:
        if value < check.param(crit):
            return Severity.CRITICAL
        if value < check.param(warn):
            return Severity.WARNING
    return None


def _worse(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if alerts.SEVERITY_RANK[Severity(a)] >= alerts.SEVERITY_RANK[Severity(b)] else b


def _disk(
    device: _Device,
    plan: _Plan,
    volumes: list[_Volume],
    states: dict[str, _State],
    now_t: int,
) -> list[Observation]:
    out = []
    for volume in volumes:
        mount = volume.mountpoint
        check = plan.disk.get(mount) or plan.disk.get("")
        if check is not None:
            used_pct = 100.0 * volume.used_bytes / volume.total_bytes
            grade = _grade(check, used_pct, "warning_used_pct", "critical_used_pct")
            if volume.total_bytes >= check.param("min_total_gb_for_free") * GB:
                grade = _worse(
                    grade,
                    _grade(
                        check,
                        volume.free_bytes / GB,
                        "warning_free_gb",
                        "critical_free_gb",
                        higher_is_worse=False,
                    ),
                )
            if grade is not None or f"{CheckKind.DISK}:{mount}" in states:
                message = _("%(m)s on %(d)s is %(p).0f%% full (%(f).1f GB free)") % {
                    "m": mount,
                    "d": device.name,
                    "p": used_pct,
                    "f": volume.free_bytes / GB,
                }
                out.append(
                    Observation(
                        CheckKind.DISK,
                        mount,
                        grade is not None,
                        grade or check.severity,
                        round(used_pct, 1),
                        message,
                        check,
                    )
                )
        check = plan.forecast.get(mount) or plan.forecast.get("")
        if check is None:
            continue
        grade = None
        value = None
        message = ""
        if volume.full_t is not None:
            free_pct = 100.0 * volume.free_bytes / volume.total_bytes
            hours = max(0.0, (volume.full_t - now_t) / 3600)
            value = round(hours, 1)
            if hours <= check.param("critical_hours") and free_pct < check.param(
                "critical_free_pct"
            ):
                grade = Severity.CRITICAL
            elif hours <= check.param("warning_hours") and free_pct < check.param(
                "warning_free_pct"
            ):
                grade = Severity.WARNING
            message = _("%(m)s on %(d)s will be full in about %(h).0f hours") % {
                "m": mount,
                "d": device.name,
                "h": hours,
            }
        if grade is not None or f"{CheckKind.DISK_FORECAST}:{mount}" in states:
            out.append(
                Observation(
                    CheckKind.DISK_FORECAST,
                    mount,
                    grade is not None,
                    grade or check.severity,
                    value,
                    message,
                    check,
                )
            )
    return out


def _sustained(
    device: _Device, check: EffectiveCheck, facts: _Facts, metric: str, now_t: int
) -> Observation | None:
    window = int(check.param("window_min") * 60)
    row = facts.sustained.get((device.pk, metric, window))
    if row is None:
        return None
    samples, minimum, average, oldest = row
    interval = device.interval
    if samples < max(1, (window // interval) // 2) or oldest > now_t - window + 2 * interval:
        return None  # not enough history in the window to call anything sustained
    threshold = check.param("pct")
    failing = minimum is not None and minimum >= threshold
    label = _("CPU") if metric == "cpu" else _("Memory")
    message = _("%(w)s above %(p).0f%% for %(n)d minutes on %(d)s (average %(a).0f%%)") % {
        "w": label,
        "p": threshold,
        "n": window // 60,
        "d": device.name,
        "a": average or 0,
    }
    kind = CheckKind.CPU if metric == "cpu" else CheckKind.MEMORY
    value = round(average, 1) if average is not None else None
    return Observation(kind, "", failing, check.severity, value, message, check)


def _backups(
    device: _Device,
    plan: _Plan,
    jobs: dict[str, tuple[int, bool, str]],
    states: dict[str, _State],
    now_t: int,
) -> list[Observation]:
    out: list[Observation] = []
    done: set[str] = set()
    for target, check, max_age in plan.backups:
        names = [target] if target else sorted(jobs)
        for name in names:
            if name in done:
                continue  # one observation per job: its own check, else the catch-all
            done.add(name)
            beat = jobs.get(name)
            if beat is None:
                # A named job that never reported: missed once the device has been
                # enrolled longer than the job's period.
                if now_t - device.enrolled_t < max_age:
                    continue
                out.append(
                    Observation(
                        CheckKind.BACKUP,
                        name,
                        True,
                        check.severity,
                        None,
                        _("Backup job %(j)s never reported on %(d)s")
                        % {"j": name, "d": device.name},
                        check,
                    )
                )
                continue
            t, is_ok, text = beat
            if is_ok and now_t - t <= max_age and f"{CheckKind.BACKUP}:{name}" not in states:
                continue  # a pass that changes nothing
            age_h = max(0.0, (now_t - t) / 3600)
            if not is_ok:
                message = _("Backup job %(j)s failed on %(d)s") % {"j": name, "d": device.name}
                if text:
                    message = f"{message}: {text}"
                failing = True
            elif now_t - t > max_age:
                message = _("Backup job %(j)s has not run for %(h).0f hours on %(d)s") % {
                    "j": name,
                    "h": age_h,
                    "d": device.name,
                }
                failing = True
            else:
                message, failing = _("Backup job %(j)s ran") % {"j": name}, False
            out.append(
                Observation(
                    CheckKind.BACKUP, name, failing, check.severity, round(age_h, 1), message, check
                )
            )
    return out


def observe(
    device: _Device,
    plan: _Plan,
    facts: _Facts,
    states: dict[str, _State],
    now: datetime,
) -> list[Observation]:
    """The observations that can change something: every failing one, and the passing
    ones of checks with an unsettled state (no queries).

    A passing observation of a check without an unsettled state is left out: it would
    leave the (settled or missing) state exactly as it is.
    """
    now_t = int(now.timestamp())
    out: list[Observation] = []
    volumes = facts.volumes.get(device.pk)
    if volumes:
        out += _disk(device, plan, volumes, states, now_t)
    for check, metric in ((plan.cpu, "cpu"), (plan.mem, "mem")):
        if check is not None:
            seen = _sustained(device, check, facts, metric, now_t)
            if seen is not None and (seen.is_failing or seen.key in states):
                out.append(seen)
    services = device.services
    if services:
        for target, check in plan.services:
            if target not in services:
                continue
            running = str(services[target])
            failing = running != "running"
            if not failing and f"{CheckKind.SERVICE}:{target}" not in states:
                continue
            message = (
                _("Service %(s)s is not installed on %(d)s")
                if running == "missing"
                else _("Service %(s)s is %(state)s on %(d)s")
            ) % {"s": target, "d": device.name, "state": running}
            out.append(
                Observation(
                    CheckKind.SERVICE,
                    target,
                    failing,
                    check.severity,
                    0.0 if failing else 1.0,
                    message,
                    check,
                )
            )
    processes = device.processes
    if processes:
        for target, check, min_count in plan.processes:
            if target not in processes:
                continue
            try:
                count = int(processes[target])
            except (TypeError, ValueError):
                continue
            failing = count < min_count
            if not failing and f"{CheckKind.PROCESS}:{target}" not in states:
                continue
            message = _("%(n)d %(p)s processes running on %(d)s") % {
                "n": count,
                "p": target,
                "d": device.name,
            }
            out.append(
                Observation(
                    CheckKind.PROCESS, target, failing, check.severity, float(count), message, check
                )
            )
    if plan.backups:
        for seen in _backups(device, plan, facts.jobs.get(device.pk, {}), states, now_t):
            if seen.is_failing or seen.key in states:
                out.append(seen)
    bad = device.smart
    if plan.smart is not None and bad is not None and (bad or CheckKind.SMART in states):
        failing_disks = ", ".join(str(d) for d in bad)
        message = (
            _("Disk health failing on %(d)s: %(n)s") % {"d": device.name, "n": failing_disks}
            if bad
            else _("Disks healthy")
        )
        out.append(
            Observation(
                CheckKind.SMART,
                "",
                bool(bad),
                plan.smart.severity,
                float(len(bad)),
                message,
                plan.smart,
            )
        )
    reboot_check = plan.reboot
    if reboot_check is not None and device.has_reboot:
        reboot_state = states.get(CheckKind.REBOOT_PENDING)
        # The state's value remembers since when (epoch s) the reboot has been pending.
        since = reboot_state.value if reboot_state is not None and reboot_state.value else None
        if device.reboot_pending:
            since = since or float(now_t)
            days = (now_t - since) / 86400
            failing = days >= reboot_check.param("days")
            message = _("%(d)s has been waiting for a reboot for %(n).0f days") % {
                "d": device.name,
                "n": days,
            }
            out.append(
                Observation(
                    CheckKind.REBOOT_PENDING,
                    "",
                    failing,
                    reboot_check.severity,
                    since,
                    message,
                    reboot_check,
                )
            )
        elif reboot_state is not None:
            out.append(
                Observation(
                    CheckKind.REBOOT_PENDING,
                    "",
                    False,
                    reboot_check.severity,
                    None,
                    _("No reboot pending"),
                    reboot_check,
                )
            )
    return out


# --- counting and writing ---------------------------------------------------------------


@dataclass
class _Chunk:
    """What one chunk's evaluation decided: states to write, alerts to raise or resolve."""

    writes: list[_State] = field(default_factory=list)
    raises: list[tuple[int, Observation, str]] = field(default_factory=list)
    resolves: list[tuple[int, str, str, str]] = field(default_factory=list)


def _apply(
    device: _Device,
    seen: list[Observation],
    states: dict[str, _State],
    now: datetime,
    scopes: maintenance.Scopes,
    out: _Chunk,
) -> None:
    """Count each observation into its state and note the alert transitions.

    Only states that changed are written: counters, the failing flag, a failing
    check's value or message, or a passing one's value by a material step. An
    observation of a check without an unsettled state starts from a settled one
    (nothing failing, nothing counted), which is what a missing row means too.
    """
    reason = alerts.Suppression.MAINTENANCE if scopes.covers(device) else ""  # type: ignore[arg-type]
    seen_keys: set[str] = set()
    for obs in seen:
        key = obs.key
        seen_keys.add(key)
        state = states.get(key)
        is_new = state is None
        if state is None:
            state = _State(id=None, device_id=device.pk, key=key)
            states[key] = state
        before = state.facts()
        old_value = state.value
        state.message = obs.message[:500]
        state.value = obs.value
        raise_it = resolve_it = False
        if obs.is_failing:
            # Counted up to fail_after only (as passes to clear_after): a check that
            # stays failing with the same verdict costs no write.
            state.consecutive_failures = min(
                state.consecutive_failures + 1, max(1, obs.check.fail_after)
            )
            state.consecutive_passes = 0
            if not state.is_failing and state.consecutive_failures >= obs.check.fail_after:
                state.is_failing = raise_it = True
            elif state.is_failing:
                raise_it = True  # still failing: bring the alert's value up to date
        else:
            state.consecutive_passes = min(
                state.consecutive_passes + 1, max(1, obs.check.clear_after)
            )
            state.consecutive_failures = 0
            if state.is_failing and state.consecutive_passes >= obs.check.clear_after:
                state.is_failing = False
                resolve_it = True
        after = state.facts()
        if (
            is_new
            or before[:3] != after[:3]
            or (state.is_failing and before != after)
            or alerts.is_material(old_value, state.value)
        ):
            state.evaluated_at = now
            out.writes.append(state)
        else:
            # Unchanged: keep what is stored (the message may say "ran 3 hours ago").
            state.message, state.value = before[4], old_value
        if raise_it:
            out.raises.append((device.pk, obs, reason))
        elif resolve_it:
            out.resolves.append((device.pk, obs.kind, obs.target, ""))
    # A failing state whose check is no longer in force (switched off, volume gone).
    for key, state in states.items():
        kind, _sep, target = key.partition(":")
        if (
            state.id is not None
            and state.is_failing
            and key not in seen_keys
            and kind in EVALUATED_KINDS
            and not _still_relevant(device, kind, target)
        ):
            state.is_failing = False
            state.consecutive_failures = 0
            state.evaluated_at = now
            out.writes.append(state)
            out.resolves.append((device.pk, kind, target, _("check no longer applies")))


def _still_relevant(device: _Device, kind: str, target: str) -> bool:
    # Services and processes the agent stopped reporting keep their state until it
    # reports them again; everything else that was not observed no longer applies.
    if kind == CheckKind.SERVICE:
        return target in device.services
    if kind == CheckKind.PROCESS:
        return target in device.processes
    return False


def _write_states(writes: list[_State]) -> int:
    """Every changed or new state by one executemany upsert on (device, key).

    An upsert, not an INSERT: a check without an unsettled state may still have its
    settled row, which the new state replaces.
    """
    if not writes:
        return 0
    unique = list({id(st): st for st in writes}.values())
    adapt = connection.ops.adapt_datetimefield_value
    table = _q(CheckState._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (device_id, key, is_failing, consecutive_failures,"  # noqa: S608
            " consecutive_passes, value, message, evaluated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id, key) DO UPDATE SET is_failing = excluded.is_failing,"
            " consecutive_failures = excluded.consecutive_failures,"
            " consecutive_passes = excluded.consecutive_passes, value = excluded.value,"
            " message = excluded.message, evaluated_at = excluded.evaluated_at",
            [
                (
                    st.device_id,
                    st.key,
                    st.is_failing,
                    st.consecutive_failures,
                    st.consecutive_passes,
                    st.value,
                    st.message,
                    adapt(st.evaluated_at),
                )
                for st in unique
            ],
        )
    return len(unique)


def _touch_alerts(decided: _Chunk, now: datetime, report: EvaluationReport) -> None:
    """Raise, update and resolve the chunk's alerts; an unchanged open alert is left be.

    The open alerts of the devices concerned are read in one query, so a check that
    stays failing with the same verdict costs nothing here.
    """
    if not decided.raises and not decided.resolves:
        return
    ids = sorted({d for d, _o, _r in decided.raises} | {d for d, *_x in decided.resolves})
    open_alerts = {
        (a.device_id, a.kind, a.target): a
        for a in Alert.objects.open().filter(device_id__in=ids).select_related("ticket")
    }
    todo = []
    for device_id, obs, reason in decided.raises:
        alert = open_alerts.get((device_id, obs.kind, obs.target))
        if (
            alert is not None
            and alert.severity == obs.severity
            and alert.message == obs.message[:500]
            and alert.suppressed_reason == reason
            and not alerts.is_material(alert.details.get("value"), obs.value)
            and not alerts.wants_ticket(alert, now)
        ):
            # Same verdict, the value within a material step (a failed backup's age
            # growing by minutes): the open alert stays as it is.
            continue
        todo.append((device_id, obs, reason))
    resolves = [r for r in decided.resolves if (r[0], r[1], r[2]) in open_alerts]
    if not todo and not resolves:
        return
    need = {d for d, _o, _r in todo} | {r[0] for r in resolves}
    devices = Device.objects.select_related("site").in_bulk(sorted(need))
    for device_id, obs, reason in todo:
        alerts.raise_or_update(
            device=devices[device_id],
            kind=obs.kind,
            target=obs.target,
            severity=obs.severity,
            message=obs.message,
            value=obs.value,
            suppressed_reason=reason,
            now=now,
        )
        report.alerts_raised += 1
    for device_id, kind, target, why in resolves:
        if alerts.resolve_open(
            device=devices[device_id], kind=kind, target=target, now=now, reason=why
        ):
            report.alerts_resolved += 1


class _CheckBook:
    """Every check row, read once per run: the plans of a client's devices are resolved
    and compiled once, a device with overrides gets its own."""

    def __init__(self) -> None:
        self.defaults: dict[int, list[Check]] = defaultdict(list)
        self.overrides: dict[int, list[Check]] = defaultdict(list)
        for row in Check.objects.all():
            if row.device_id is None:
                self.defaults[row.client_id].append(row)
            else:
                self.overrides[row.device_id].append(row)
        self.per_client: dict[int, _Plan] = {}

    def plan(self, device: _Device) -> _Plan:
        own = self.overrides.get(device.pk)
        if not own:
            plan = self.per_client.get(device.client_id)
            if plan is None:
                in_force = checks.resolve(
                    self.defaults.get(device.client_id, []),
                    [device.pk],
                    {device.pk: device.client_id},
                )
                plan = self.per_client[device.client_id] = _Plan.of(in_force[device.pk])
            return plan
        rows = [*self.defaults.get(device.client_id, []), *own]
        in_force = checks.resolve(rows, [device.pk], {device.pk: device.client_id})
        return _Plan.of(in_force[device.pk])


def evaluate_chunk(
    rows: list[tuple[Any, ...]],
    now: datetime,
    scopes: maintenance.Scopes,
    report: EvaluationReport,
    book: _CheckBook | None = None,
) -> None:
    """Evaluate one page of devices: a fixed number of queries plus the alerts touched."""
    book = book or _CheckBook()
    devices = [_device_of(row) for row in rows]
    ids = [d.pk for d in devices]
    plans = {device.pk: book.plan(device) for device in devices}
    unsettled, done = _states(ids, min(row[-1] for row in rows))
    todo = []
    for device in devices:
        if device.pk in done:
            report.skipped += 1
            continue
        todo.append(device)
    if not todo:
        return
    plans = {d.pk: plans[d.pk] for d in todo}
    now_t = int(now.timestamp())
    disk_again = {
        d
        for d, states in unsettled.items()
        if any(k.partition(":")[0] in DISK_KINDS for k in states)
    }
    sustained_again = {
        d for d, states in unsettled.items() if any(k in SUSTAINED_KINDS for k in states)
    }
    facts = _Facts(
        volumes=_volumes(list(plans), plans, disk_again, now_t),
        sustained=_window_aggregates(plans, sustained_again, now_t),
        jobs=_latest_jobs([d for d, p in plans.items() if p.backups])
        if any(p.backups for p in plans.values())
        else {},
    )
    decided = _Chunk()
    no_states: dict[str, _State] = {}
    for device in todo:
        states = unsettled.get(device.pk, no_states)
        seen = observe(device, plans[device.pk], facts, states, now)
        if not seen and not states:
            continue
        if states is no_states:
            states = {}
        report.observations += len(seen)
        _apply(device, seen, states, now, scopes, decided)
    # Alerts first: a run that dies in between leaves the states as they were, and the
    # next run counts the same transition again (raise_or_update and resolve are
    # idempotent), instead of a settled state whose alert nobody resolves.
    _touch_alerts(decided, now, report)
    report.states_written += _write_states(decided.writes)
    report.devices += len(todo)


def _as_datetime(value: Any) -> datetime:
    """A datetime column's raw value (SQLite: text) as an aware datetime."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    if convert is not None:
        value = convert(value, None, connection)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def evaluate_since(
    since: datetime | None, *, now: datetime | None = None, chunk: int = CHUNK
) -> EvaluationReport:
    """Evaluate every active device seen after ``since`` (up to ``now``), chunk by chunk.

    ``report.until`` is the newest ``last_seen_at`` evaluated: the next run's ``since``.
    """
    started = time.monotonic()
    now = now or timezone.now()
    report = EvaluationReport(until=since)
    scopes = maintenance.scopes_at(now)
    adapt = connection.ops.adapt_datetimefield_value
    since_db = adapt(since) if since is not None else None
    now_db = adapt(now)
    after: tuple[Any, int] | None = None
    book = _CheckBook()
    while True:
        rows = _devices_page(since_db, now_db, after, chunk)
        if not rows:
            break
        evaluate_chunk(rows, now, scopes, report, book)
        report.chunks += 1
        after = (rows[-1][-1], rows[-1][0])
        report.until = _as_datetime(rows[-1][-1])
        if len(rows) < chunk:
            break
    report.seconds = round(time.monotonic() - started, 3)
    return report

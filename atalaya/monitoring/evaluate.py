"""The check evaluator: every device seen since the last run, against the checks in force.

Devices are taken in chunks of ``CHUNK`` by (last_seen_at, id); each chunk costs a
fixed number of queries whatever its size: the devices, their clients' check rows,
their check states, their volumes, the CPU and memory aggregates of the raw samples
over each distinct window, the newest backup heartbeat per job — then one bulk
INSERT of new states and one executemany UPDATE of the few that changed. Alerts are touched only for
failing checks and transitions, which are few.

Hysteresis: each evaluation is one observation. A failing observation bumps
``consecutive_failures`` (and zeroes the passes); the alert opens once it reaches the
check's ``fail_after``. A passing one bumps ``consecutive_passes``; a failing state
clears (its alert resolves) only after ``clear_after`` passes in a row. A check with
no data this time (a service the agent has not been asked about yet) is left as it is.

"Sustained over a window" reads the raw samples: CPU is sustained above 95 % over
15 minutes when the window holds enough samples for the device's interval (at least
half of window/interval, the oldest within two intervals of the window's start) and
every one of them is at or above the threshold.

A device already evaluated for its latest check-in (its states' ``evaluated_at`` is
not older than ``last_seen_at``) is skipped, so re-running over the same span never
counts one check-in twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.monitoring import alerts, checks, maintenance
from atalaya.monitoring.checks import EffectiveCheck
from atalaya.monitoring.models import (
    CheckKind,
    CheckState,
    Device,
    JobHeartbeat,
    MetricSample,
    Severity,
    Volume,
)

CHUNK = 500
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


STATE_COLUMNS = (
    "id",
    "device_id",
    "key",
    "is_failing",
    "consecutive_failures",
    "consecutive_passes",
    "value",
    "message",
    "evaluated_at",
)


@dataclass
class EvaluationReport:
    devices: int = 0
    skipped: int = 0
    observations: int = 0
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
    volumes: dict[int, list[Volume]]
    sustained: dict[tuple[int, str, int], tuple[int, float | None, float | None, int]]
    jobs: dict[int, dict[str, tuple[int, bool, str]]]


def _window_aggregates(
    device_ids: list[int], windows: set[int], now_t: int
) -> dict[tuple[int, str, int], tuple[int, float | None, float | None, int]]:
    """(device, metric, window s) → (samples, min, avg, oldest t) over the raw samples."""
    table = connection.ops.quote_name(MetricSample._meta.db_table)
    out: dict[tuple[int, str, int], tuple[int, float | None, float | None, int]] = {}
    marks = ", ".join(["%s"] * len(device_ids))
    with connection.cursor() as cursor:
        for window in sorted(windows):
            cursor.execute(
                f"SELECT device_id, COUNT(cpu_pct), MIN(cpu_pct), AVG(cpu_pct),"  # noqa: S608
                f" COUNT(mem_pct), MIN(mem_pct), AVG(mem_pct), MIN(t) FROM {table}"
                f" WHERE device_id IN ({marks}) AND t > %s AND t <= %s GROUP BY device_id",
                [*device_ids, now_t - window, now_t + 60],
            )
            for device_id, nc, cmin, cavg, nm, mmin, mavg, oldest in cursor.fetchall():
                out[(device_id, "cpu", window)] = (nc, cmin, cavg, oldest)
                out[(device_id, "mem", window)] = (nm, mmin, mavg, oldest)
    return out


def _latest_jobs(device_ids: list[int]) -> dict[int, dict[str, tuple[int, bool, str]]]:
    """Each device's newest heartbeat per job name: (t, is_ok, message), by one query."""
    table = connection.ops.quote_name(JobHeartbeat._meta.db_table)
    marks = ", ".join(["%s"] * len(device_ids))
    out: dict[int, dict[str, tuple[int, bool, str]]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT h.device_id, h.name, h.t, h.is_ok, h.message FROM {table} h"  # noqa: S608
            f" WHERE h.device_id IN ({marks}) AND h.t = (SELECT MAX(h2.t) FROM {table} h2"
            " WHERE h2.device_id = h.device_id AND h2.name = h.name)",
            device_ids,
        )
        for device_id, name, t, is_ok, message in cursor.fetchall():
            out[device_id][name] = (int(t), bool(is_ok), message or "")
    return out


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
    device: Device,
    in_force: dict[tuple[str, str], EffectiveCheck],
    facts: _Facts,
    kind: str,
    now: datetime,
) -> list[Observation]:
    out = []
    for volume in facts.volumes.get(device.pk, []):
        if volume.is_read_only or not volume.total_bytes or not volume.is_present:
            continue  # squashfs snaps and ISO images are always "full"
        check = in_force.get((kind, volume.mountpoint)) or in_force.get((kind, ""))
        if check is None:
            continue
        free_pct = 100.0 * volume.free_bytes / volume.total_bytes
        used_pct = volume.used_pct
        if kind == CheckKind.DISK:
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
            message = _("%(m)s on %(d)s is %(p).0f%% full (%(f).1f GB free)") % {
                "m": volume.mountpoint,
                "d": device.name,
                "p": used_pct,
                "f": volume.free_bytes / GB,
            }
            value: float | None = round(used_pct, 1)
        else:
            grade = None
            value = None
            full_at = volume.forecast_full_at
            message = ""
            if full_at is not None:
                hours = max(0.0, (full_at - now).total_seconds() / 3600)
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
                    "m": volume.mountpoint,
                    "d": device.name,
                    "h": hours,
                }
        out.append(
            Observation(
                kind,
                volume.mountpoint,
                grade is not None,
                grade or check.severity,
                value,
                message,
                check,
            )
        )
    return out


def _sustained(
    device: Device, check: EffectiveCheck, facts: _Facts, metric: str, now_t: int
) -> Observation | None:
    window = int(check.param("window_min") * 60)
    row = facts.sustained.get((device.pk, metric, window))
    if row is None:
        return None
    samples, minimum, average, oldest = row
    interval = max(1, device.checkin_interval_s)
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


def observe(
    device: Device,
    in_force: dict[tuple[str, str], EffectiveCheck],
    facts: _Facts,
    states: dict[str, _State],
    now: datetime,
) -> list[Observation]:
    """Every check in force on the device, observed once (no queries)."""
    latest = device.latest or {}
    now_t = int(now.timestamp())
    out: list[Observation] = []
    out += _disk(device, in_force, facts, CheckKind.DISK, now)
    out += _disk(device, in_force, facts, CheckKind.DISK_FORECAST, now)
    for metric_kind, metric in ((CheckKind.CPU, "cpu"), (CheckKind.MEMORY, "mem")):
        check = in_force.get((metric_kind, ""))
        if check is not None:
            seen = _sustained(device, check, facts, metric, now_t)
            if seen is not None:
                out.append(seen)
    services = latest.get("services") or {}
    processes = latest.get("processes") or {}
    jobs = facts.jobs.get(device.pk, {})
    for (kind_name, target), check in in_force.items():
        kind = str(kind_name)
        if kind == CheckKind.SERVICE and target in services:
            running = str(services[target])
            failing = running != "running"
            message = (
                _("Service %(s)s is not installed on %(d)s")
                if running == "missing"
                else _("Service %(s)s is %(state)s on %(d)s")
            ) % {"s": target, "d": device.name, "state": running}
            out.append(
                Observation(
                    kind, target, failing, check.severity, 0.0 if failing else 1.0, message, check
                )
            )
        elif kind == CheckKind.PROCESS and target in processes:
            try:
                count = int(processes[target])
            except (TypeError, ValueError):
                continue
            failing = count < check.param("min_count")
            message = _("%(n)d %(p)s processes running on %(d)s") % {
                "n": count,
                "p": target,
                "d": device.name,
            }
            out.append(
                Observation(kind, target, failing, check.severity, float(count), message, check)
            )
        elif kind == CheckKind.BACKUP:
            max_age = check.param("max_age_hours") * 3600
            names = [target] if target else sorted(jobs)
            for name in names:
                beat = jobs.get(name)
                if beat is None:
                    # A named job that never reported: missed once the device has been
                    # enrolled longer than the job's period.
                    if now - device.enrolled_at < timedelta(seconds=max_age):
                        continue
                    out.append(
                        Observation(
                            kind,
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
                        kind,
                        target if target else name,
                        failing,
                        check.severity,
                        round(age_h, 1),
                        message,
                        check,
                    )
                )
    smart_check = in_force.get((CheckKind.SMART, ""))
    smart = latest.get("smart")
    if smart_check is not None and isinstance(smart, list):
        bad = [d for d in smart if isinstance(d, dict) and d.get("healthy") is False]
        failing_disks = ", ".join(str(d.get("device", "?")) for d in bad)
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
                smart_check.severity,
                float(len(bad)),
                message,
                smart_check,
            )
        )
    reboot_check = in_force.get((CheckKind.REBOOT_PENDING, ""))
    if reboot_check is not None and "reboot_pending" in latest:
        reboot_state = states.get(CheckKind.REBOOT_PENDING)
        # The state's value remembers since when (epoch s) the reboot has been pending.
        since = reboot_state.value if reboot_state is not None and reboot_state.value else None
        if latest.get("reboot_pending"):
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
        else:
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


def _gather(
    devices: list[Device], in_force: dict[int, dict[tuple[str, str], EffectiveCheck]], now: datetime
) -> _Facts:
    ids = [d.pk for d in devices]
    volumes: dict[int, list[Volume]] = defaultdict(list)
    needs_volumes = any(
        k[0] in (CheckKind.DISK, CheckKind.DISK_FORECAST) for c in in_force.values() for k in c
    )
    if needs_volumes:
        for volume in Volume.objects.filter(device_id__in=ids, is_present=True).only(
            "id",
            "device_id",
            "mountpoint",
            "total_bytes",
            "used_bytes",
            "free_bytes",
            "is_read_only",
            "is_present",
            "forecast_full_at",
        ):
            volumes[volume.device_id].append(volume)
    windows = {
        int(check.param("window_min") * 60)
        for per_device in in_force.values()
        for (kind, _t), check in per_device.items()
        if kind in (CheckKind.CPU, CheckKind.MEMORY)
    }
    sustained = _window_aggregates(ids, windows, int(now.timestamp())) if windows else {}
    needs_jobs = any(k[0] == CheckKind.BACKUP for c in in_force.values() for k in c)
    jobs = _latest_jobs(ids) if needs_jobs else {}
    return _Facts(volumes=volumes, sustained=sustained, jobs=jobs)


def _apply(
    device: Device,
    seen: list[Observation],
    states: dict[str, _State],
    now: datetime,
    scopes: maintenance.Scopes,
    new_states: list[_State],
    changed: list[_State],
    report: EvaluationReport,
) -> None:
    """Count each observation into its state; raise or resolve on the transitions.

    Only states that changed are written: counters, the failing flag, a failing
    check's value or message, or a passing one's value by a material step. Passes are
    counted up to ``clear_after`` only, so a healthy check costs no write at all.
    """
    reason = alerts.Suppression.MAINTENANCE if scopes.covers(device) else ""
    for obs in seen:
        state = states.get(obs.key)
        is_new = state is None
        if state is None:
            state = _State(id=None, device_id=device.pk, key=obs.key)
            states[obs.key] = state
        before = state.facts()
        old_value = state.value
        state.message = obs.message[:500]
        state.value = obs.value
        raise_it = resolve_it = False
        if obs.is_failing:
            state.consecutive_failures += 1
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
        counters_moved = before[:3] != after[:3]
        if is_new:
            state.evaluated_at = now
            new_states.append(state)
        elif (
            counters_moved
            or (state.is_failing and before != after)
            or alerts.is_material(old_value, state.value)
        ):
            state.evaluated_at = now
            changed.append(state)
        else:
            # Unchanged: keep what is stored (the message may say "ran 3 hours ago").
            state.message, state.value = before[4], old_value
        if raise_it:
            alerts.raise_or_update(
                device=device,
                kind=obs.kind,
                target=obs.target,
                severity=obs.severity,
                message=obs.message,
                value=obs.value,
                suppressed_reason=reason,
                now=now,
            )
            report.alerts_raised += 1
        elif resolve_it and alerts.resolve_open(
            device=device, kind=obs.kind, target=obs.target, now=now
        ):
            report.alerts_resolved += 1
    # A failing state whose check is no longer in force (switched off, volume gone).
    seen_keys = {obs.key for obs in seen}
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
            changed.append(state)
            if alerts.resolve_open(
                device=device,
                kind=kind,
                target=target,
                now=now,
                reason=_("check no longer applies"),
            ):
                report.alerts_resolved += 1


def _write_states(new_states: list[_State], changed: list[_State]) -> None:
    """New states by one bulk INSERT, changed ones by one executemany UPDATE."""
    if new_states:
        CheckState.objects.bulk_create(
            [
                CheckState(
                    device_id=st.device_id,
                    key=st.key,
                    is_failing=st.is_failing,
                    consecutive_failures=st.consecutive_failures,
                    consecutive_passes=st.consecutive_passes,
                    value=st.value,
                    message=st.message,
                    evaluated_at=st.evaluated_at or timezone.now(),
                )
                for st in new_states
            ],
            batch_size=500,
            ignore_conflicts=True,
        )
    if changed:
        unique = list({id(st): st for st in changed}.values())
        adapt = connection.ops.adapt_datetimefield_value
        table = connection.ops.quote_name(CheckState._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET is_failing = %s, consecutive_failures = %s,"  # noqa: S608
                " consecutive_passes = %s, value = %s, message = %s, evaluated_at = %s"
                " WHERE id = %s",
                [
                    (
                        st.is_failing,
                        st.consecutive_failures,
                        st.consecutive_passes,
                        st.value,
                        st.message,
                        adapt(st.evaluated_at),
                        st.id,
                    )
                    for st in unique
                ],
            )


def _still_relevant(device: Device, kind: str, target: str) -> bool:
    # Services and processes the agent stopped reporting keep their state until it
    # reports them again; everything else that was not observed no longer applies.
    latest = device.latest or {}
    if kind == CheckKind.SERVICE:
        return target in (latest.get("services") or {}) or False
    if kind == CheckKind.PROCESS:
        return target in (latest.get("processes") or {}) or False
    return False


def evaluate_chunk(
    devices: list[Device], now: datetime, scopes: maintenance.Scopes, report: EvaluationReport
) -> None:
    """Evaluate one chunk of devices: a fixed number of queries plus the alerts touched."""
    ids = [d.pk for d in devices]
    in_force = checks.checks_for_devices(devices)
    all_states: dict[int, dict[str, _State]] = defaultdict(dict)
    for row in CheckState.objects.filter(device_id__in=ids).values_list(*STATE_COLUMNS):
        state = _State(*row)
        all_states[state.device_id][state.key] = state
    todo = []
    for device in devices:
        states = all_states.get(device.pk, {})
        newest = max((s.evaluated_at for s in states.values() if s.evaluated_at), default=None)
        if newest is not None and device.last_seen_at is not None and newest >= device.last_seen_at:
            report.skipped += 1
            continue
        todo.append(device)
    if not todo:
        return
    facts = _gather(todo, in_force, now)
    new_states: list[_State] = []
    changed: list[_State] = []
    for device in todo:
        states = all_states[device.pk]
        seen = observe(device, in_force.get(device.pk, {}), facts, states, now)
        report.observations += len(seen)
        _apply(device, seen, states, now, scopes, new_states, changed, report)
    _write_states(new_states, changed)
    report.devices += len(todo)


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
    base = (
        Device.objects.filter(retired_at__isnull=True, last_seen_at__lte=now)
        .select_related("site")
        .only(
            "id",
            "client_id",
            "site_id",
            "site__name",
            "site__time_zone",
            "hostname",
            "display_name",
            "latest",
            "checkin_interval_s",
            "enrolled_at",
            "last_seen_at",
            "parent_id",
        )
    )
    if since is not None:
        base = base.filter(last_seen_at__gt=since)
    cursor: tuple[datetime, int] | None = None
    while True:
        page = base
        if cursor is not None:
            page = page.filter(
                Q(last_seen_at__gt=cursor[0]) | Q(last_seen_at=cursor[0], id__gt=cursor[1])
            )
        devices = list(page.order_by("last_seen_at", "id")[:chunk])
        if not devices:
            break
        evaluate_chunk(devices, now, scopes, report)
        report.chunks += 1
        last = devices[-1]
        assert last.last_seen_at is not None
        cursor = (last.last_seen_at, last.pk)
        report.until = last.last_seen_at
        if len(devices) < chunk:
            break
    report.seconds = round(time.monotonic() - started, 3)
    return report

"""The verdicts: each check in force on one device, observed from the facts (no queries).

Only observations that can change something are built: every failing one, and the
passing ones of checks with an unsettled state."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _

from atalaya.monitoring import alerts
from atalaya.monitoring.checks import EffectiveCheck
from atalaya.monitoring.evaluate.facts import GB
from atalaya.monitoring.evaluate.rows import Observation, _Device, _Facts, _Plan, _State, _Volume
from atalaya.monitoring.models import CheckKind, Severity


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

"""The check evaluator: every device seen since the last run, against the checks in force.

Devices are taken in chunks of ``CHUNK`` in (last_seen_at, id) order; each chunk costs a
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

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.monitoring import alerts, checks, maintenance
from atalaya.monitoring.evaluate.facts import (
    _device_of,
    _devices_rows,
    _devices_seen,
    _latest_jobs,
    _q,
    _states,
    _volumes,
    _window_aggregates,
)
from atalaya.monitoring.evaluate.observe import observe
from atalaya.monitoring.evaluate.rows import Observation, _Device, _Facts, _Plan, _State
from atalaya.monitoring.models import Alert, Check, CheckKind, CheckState, Device
from atalaya.monitoring.write_turn import write_turn

__all__ = ["EvaluationReport", "Observation", "evaluate_chunk", "evaluate_since", "observe"]

CHUNK = 2000


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
    # SQLite: the agent API's writers and ours take turns (write_turn.py).
    with write_turn(), transaction.atomic(), connection.cursor() as cursor:
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
        with write_turn():  # one alert's transactions at a time, not the chunk's
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
        with write_turn():
            resolved = alerts.resolve_open(
                device=devices[device_id], kind=kind, target=target, now=now, reason=why
            )
        report.alerts_resolved += resolved


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
        sustained=_window_aggregates(plans, {d.pk: d for d in todo}, sustained_again, now_t),
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
    seen = _devices_seen(since_db, adapt(now))
    book = _CheckBook()
    for start in range(0, len(seen), chunk):
        part = seen[start : start + chunk]
        rows = _devices_rows([device_id for device_id, _t in part])
        if rows:
            evaluate_chunk(rows, now, scopes, report, book)
        report.chunks += 1
        report.until = _as_datetime(part[-1][1])
    report.seconds = round(time.monotonic() - started, 3)
    return report

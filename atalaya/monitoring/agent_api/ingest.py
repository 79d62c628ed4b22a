"""Storing check-ins: many at once, in one transaction, by a fixed handful of statements.

``ingest_checkins`` takes a batch of parsed check-ins (one from a Django view, hundreds
from the ASGI app's writer thread) and returns one answer per check-in. Whatever the
batch size, the common case costs six statements: find the devices by token hash,
upsert the reported volumes, mark the ones no longer reported, insert the metric
samples, insert the volume samples, update the devices. Rows travel as one JSON array
parameter per statement (``json_each`` on SQLite, ``json_array_elements`` on
PostgreSQL): the SQL text never changes with the batch, so it is prepared once and no
backend's parameter limit is reached. Heartbeats, action results, waiting actions and
configuration changes add a statement or two only for the batches that carry them.

Samples are keyed by (device, t), volume samples by (volume, t), heartbeats by
(device, name, t): inserts skip what is already stored, which makes a replayed or
duplicated spool batch an idempotent accept, and the ``RETURNING`` of the sample insert
says which samples were new. This module evaluates no checks and leaves
``Device.status`` alone: the sweeper reads ``last_seen_at`` and the stored data.
"""

# ruff: noqa: S608 - the SQL is built from model table names and fixed text; values are parameters
from __future__ import annotations

import json
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q

from atalaya.core.models import Client
from atalaya.core.services import record_audit
from atalaya.monitoring.agent_api.wire import Checkin, Result
from atalaya.monitoring.agent_config import AGENT_TARGET_KINDS
from atalaya.monitoring.models import (
    ACTION_WAITING,
    ActionStatus,
    Check,
    CheckKind,
    Device,
    RemoteAction,
    Volume,
)

# A clock further off than this is corrected (agent/PROTOCOL.md), in steps of 10 s so
# that a replay of the same batch lands on the same seconds.
SKEW_TOLERANCE_S = 30
SKEW_STEP_S = 10
# A volume row is rewritten at least this often while its device reports it.
VOLUME_REFRESH_S = 300
# A sample from further ahead than this (after the skew correction) is not believed.
FUTURE_TOLERANCE_S = 300


@dataclass(slots=True)
class Outcome:
    """The answer to one check-in: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


def _unauthorized(detail: str) -> Outcome:
    return Outcome(401, {"detail": detail, "errors": []})


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class _Statements:
    """The batch statements in the dialect of one backend, built once per process."""

    def __init__(self, vendor: str) -> None:
        qn = connection.ops.quote_name
        device, volume = qn(Device._meta.db_table), qn(Volume._meta.db_table)
        if vendor == "postgresql":
            rows = "json_array_elements(%s::json) AS j(v)"

            def col(i: int, cast: str = "") -> str:
                return f"(j.v->>{i}){cast}"

            where, p = "", "%s"
            stored_volumes = (
                "(SELECT json_agg(json_build_array(v.mountpoint, v.device_name, v.fstype, "
                "v.total_bytes, v.free_bytes, v.is_read_only, v.is_present, "
                f"extract(epoch FROM v.updated_at)::bigint)) FROM {volume} v "
                f"WHERE v.device_id = {device}.id)"
            )
            self.auth = (
                "SELECT id, public_id, client_id, retired_at IS NOT NULL, config_version, "
                "has_pending_actions, inventory_hash, checkin_interval_s, "
                f"(latest->>'t')::bigint, token_hash, {stored_volumes} "
                f"FROM {device} WHERE token_hash = ANY(%s::text[])"
            )
            big, flt, boo, integer = "::bigint", "::float8", "::boolean", "::integer"
            latest_new = "(j.v->4)::jsonb"
            latest_t = f"coalesce(({device}.latest->>'t')::bigint, 0)"
            inventory_new = "(j.v->5)::jsonb"
            present_true, present_false = "true", "false"
        else:
            rows = "json_each(%s) AS j"

            def col(i: int, cast: str = "") -> str:
                return f"j.value->>{i}"

            where, p = " WHERE true", "%s"
            stored_volumes = (
                "(SELECT json_group_array(json_array(v.mountpoint, v.device_name, v.fstype, "
                "v.total_bytes, v.free_bytes, v.is_read_only, v.is_present, "
                f"unixepoch(v.updated_at))) FROM {volume} v WHERE v.device_id = {device}.id)"
            )
            self.auth = (
                "SELECT id, public_id, client_id, retired_at IS NOT NULL, config_version, "
                "has_pending_actions, inventory_hash, checkin_interval_s, "
                f"json_extract(latest, '$.t'), token_hash, {stored_volumes} FROM {device} "
                "WHERE token_hash IN (SELECT value FROM json_each(%s))"
            )
            big = flt = boo = integer = ""
            latest_new = col(4)
            latest_t = f"coalesce(json_extract({device}.latest, '$.t'), 0)"
            inventory_new = col(5)
            present_true, present_false = "1", "0"
        self.vendor = vendor
        # Rows: device, mount, device name, fstype, total, used, free, read-only.
        self.volume_upsert = (
            f"INSERT INTO {volume} (device_id, mountpoint, device_name, fstype, total_bytes, "
            "used_bytes, free_bytes, is_read_only, is_present, updated_at) "
            f"SELECT {col(0, big)}, {col(1)}, {col(2)}, {col(3)}, {col(4, big)}, "
            f"{col(5, big)}, {col(6, big)}, {col(7, boo)}, {present_true}, {p} FROM {rows}{where} "
            "ON CONFLICT (device_id, mountpoint) DO UPDATE SET "
            "device_name = excluded.device_name, fstype = excluded.fstype, "
            "total_bytes = excluded.total_bytes, used_bytes = excluded.used_bytes, "
            "free_bytes = excluded.free_bytes, is_read_only = excluded.is_read_only, "
            f"is_present = {present_true}, updated_at = excluded.updated_at"
        )
        # Mountpoints seen only in samples (a replay without state): a row to hang them on.
        # Rows: device, mount, free.
        self.volume_ensure = (
            f"INSERT INTO {volume} (device_id, mountpoint, device_name, fstype, total_bytes, "
            "used_bytes, free_bytes, is_read_only, is_present, updated_at) "
            f"SELECT {col(0, big)}, {col(1)}, '', '', 0, 0, {col(2, big)}, {present_false}, "
            f"{present_false}, {p} FROM {rows}{where} "
            "ON CONFLICT (device_id, mountpoint) DO NOTHING"
        )
        # Rows: device, mount. Volumes the newest state no longer lists.
        self.volume_absent = (
            f"UPDATE {volume} SET is_present = {present_false}, updated_at = {p} "
            f"WHERE id IN (SELECT vol.id FROM {rows} {{joined}})"
        )
        # Rows: device, t, cpu, mem, swap, load1.
        self.samples = (
            "INSERT INTO monitoring_metricsample (device_id, t, cpu_pct, mem_pct, swap_pct, load1) "
            f"SELECT {col(0, big)}, {col(1, big)}, {col(2, flt)}, {col(3, flt)}, {col(4, flt)}, "
            f"{col(5, flt)} FROM {rows}{where} ON CONFLICT DO NOTHING RETURNING device_id, t"
        )
        # Rows: device, mount, t, free, used %.
        # One index lookup per row: as a plain join PostgreSQL would hash the whole
        # volume table for every batch (it cannot know the JSON holds a few hundred rows),
        # so the lookup is a lateral subquery that LIMIT keeps from being flattened.
        volume_of = (
            f"(SELECT id FROM {volume} WHERE device_id = {col(0, big)} "
            f"AND mountpoint = {col(1)} LIMIT 1)"
        )
        if vendor == "postgresql":
            joined = f"CROSS JOIN LATERAL {volume_of} AS vol"
        else:
            # SQLite looks each row up by the unique index anyway (and has no LATERAL).
            joined = (
                f"JOIN {volume} vol ON vol.device_id = {col(0, big)} AND vol.mountpoint = {col(1)}"
            )
        self.volume_samples = (
            "INSERT INTO monitoring_volumesample (volume_id, t, free_bytes, used_pct) "
            f"SELECT vol.id, {col(2, big)}, {col(3, big)}, {col(4, flt)} FROM {rows} "
            f"{joined}{where} ON CONFLICT DO NOTHING"
        )
        self.volume_absent = self.volume_absent.replace("{joined}", joined)
        # Rows: device, name, t, ok, message.
        self.jobs = (
            "INSERT INTO monitoring_jobheartbeat (device_id, name, t, is_ok, message) "
            f"SELECT {col(0, big)}, {col(1)}, {col(2, big)}, {col(3, boo)}, {col(4)} "
            f"FROM {rows}{where} ON CONFLICT DO NOTHING"
        )
        # Rows: device, agent version, scripts enabled, skew, latest, inventory,
        # inventory hash, latest's t. Null keeps what is stored; an older snapshot than
        # the stored one (a slow batch from another process) keeps the stored one.
        if vendor == "postgresql":
            latest_expr = (
                f"CASE WHEN json_typeof(j.v->4) = 'object' AND (j.v->>7)::bigint >= {latest_t} "
                f"THEN {latest_new} ELSE {device}.latest END"
            )
            inventory_expr = (
                f"CASE WHEN json_typeof(j.v->5) = 'object' THEN {inventory_new} "
                f"ELSE {device}.inventory END"
            )
        else:
            latest_expr = (
                f"CASE WHEN {col(4)} IS NOT NULL AND {col(7)} >= {latest_t} "
                f"THEN {latest_new} ELSE {device}.latest END"
            )
            inventory_expr = f"coalesce({inventory_new}, {device}.inventory)"
        self.devices = (
            f"UPDATE {device} SET last_seen_at = {p}, "
            f"agent_version = coalesce({col(1)}, {device}.agent_version), "
            f"scripts_enabled = coalesce({col(2, boo)}, {device}.scripts_enabled), "
            f"clock_skew_s = {col(3, integer)}, latest = {latest_expr}, "
            f"inventory = {inventory_expr}, "
            f"inventory_hash = coalesce({col(6)}, {device}.inventory_hash), "
            f"inventory_at = CASE WHEN {col(6)} IS NULL THEN {device}.inventory_at ELSE {p} END "
            f"FROM {rows} WHERE {device}.id = {col(0, big)}"
        )


_statements: dict[str, _Statements] = {}


def _sql() -> _Statements:
    vendor = connection.vendor
    found = _statements.get(vendor)
    if found is None:
        found = _statements[vendor] = _Statements(vendor)
    return found


def _rows_param(rows: list[Any]) -> str:
    return _dumps(rows)


def _list_param(values: list[Any]) -> Any:
    # PostgreSQL takes a list as an array; SQLite reads it from JSON.
    return values if connection.vendor == "postgresql" else _dumps(values)


@dataclass(slots=True)
class _Device:
    id: int
    public_id: str
    client_id: int
    config_version: int
    has_pending_actions: bool
    inventory_hash: str
    checkin_interval_s: int
    latest_t: int | None
    # mountpoint → [mount, device name, fstype, total, free, read-only, present, updated]
    volumes: dict[str, list[Any]]


def _stored_volumes(value: Any) -> dict[str, list[Any]]:
    # PostgreSQL hands json over parsed, SQLite as text.
    if isinstance(value, str):
        value = json.loads(value)
    return {v[0]: v for v in value or ()}


def _needs_rewrite(stored: list[Any] | None, v: Any, now_s: int) -> bool:
    """Whether a reported volume differs enough from its row to rewrite the row.

    Free space moves a little with every check-in; rewriting three rows per device per
    minute for that would double the pages each check-in dirties. The row follows when
    anything but free space changes, when free space moved by 0.1 % of the disk, and at
    least every ``VOLUME_REFRESH_S``; every sample's free space is in VolumeSample anyway.
    """
    if stored is None:
        return True
    _mount, name, fstype, total, free, read_only, present, updated = stored
    return (
        not present
        or name != v.device
        or fstype != v.fstype
        or total != v.total
        or bool(read_only) != v.read_only
        or abs(free - v.free) * 1000 >= max(v.total, 1)
        or updated is None
        or now_s - int(updated) >= VOLUME_REFRESH_S
    )


def _skew_shift(skew: int) -> int:
    if abs(skew) <= SKEW_TOLERANCE_S:
        return 0
    return int(round(skew / SKEW_STEP_S)) * SKEW_STEP_S


def _configs(devices: Sequence[_Device]) -> dict[int, dict[str, Any]]:
    """``agent_config`` for several devices by one query (the same rules, batched)."""
    if not devices:
        return {}
    rows = (
        Check.objects.filter(
            client_id__in={d.client_id for d in devices}, kind__in=list(AGENT_TARGET_KINDS)
        )
        .filter(Q(device__isnull=True) | Q(device_id__in=[d.id for d in devices]))
        .order_by(F("device_id").asc(nulls_first=True))
        .values_list("client_id", "device_id", "kind", "target", "is_enabled")
    )
    defaults: dict[int, dict[tuple[str, str], bool]] = {}
    overrides: dict[int, dict[tuple[str, str], bool]] = {}
    for client_id, device_id, kind, target, is_enabled in rows:
        into = (
            defaults.setdefault(client_id, {})
            if device_id is None
            else overrides.setdefault(device_id, {})
        )
        into[(kind, target)] = is_enabled
    configs = {}
    for d in devices:
        in_force = {**defaults.get(d.client_id, {}), **overrides.get(d.id, {})}
        config: dict[str, Any] = {
            "version": d.config_version,
            "checkin_interval_s": d.checkin_interval_s,
            "services": [],
            "processes": [],
        }
        for (kind, target), is_enabled in sorted(in_force.items()):
            if is_enabled and target:
                config[AGENT_TARGET_KINDS[CheckKind(kind)]].append(target)
        configs[d.id] = config
    return configs


def _record_results(pairs: list[tuple[_Device, Result, int]], now: datetime) -> None:
    """Store action results: only for the reporting device's own actions, only once."""
    wanted = {r.action_id for _d, r, _shift in pairs}
    actions = {
        str(a.public_id): a
        for a in RemoteAction.objects.filter(
            public_id__in=wanted,
            device_id__in={d.id for d, _r, _s in pairs},
            status__in=ACTION_WAITING,
        )
    }
    for device, result, shift in pairs:
        action = actions.get(result.action_id)
        # Another device's action, an unknown id, a wrong nonce or a result already in:
        # nothing to record, and nothing said about which it was.
        if action is None or action.device_id != device.id:
            continue
        if result.nonce and result.nonce != action.nonce:
            continue
        finished = now
        if result.finished_at is not None:
            finished = min(now, datetime.fromtimestamp(result.finished_at + shift, tz=UTC))
        changes = {
            "status": result.status,
            "exit_code": result.exit_code,
            "output": result.output,
            "duration_ms": result.duration_ms,
            "finished_at": finished,
            "reason": result.reason,
        }
        updated = RemoteAction.objects.filter(pk=action.pk, status__in=ACTION_WAITING).update(
            **changes
        )
        if updated:
            if action.kind == "scan":
                # Only stored here; a background job compares it (not in the hot path).
                from atalaya.security.scans.ingest import store_agent_result

                store_agent_result(action, result.scan, error=result.reason or result.output)
            before = action.status
            for name, value in changes.items():
                setattr(action, name, value)
            del actions[result.action_id]
            record_audit(
                None,
                action,
                "result",
                client=Client(pk=action.client_id),
                before={"status": before},
                after={
                    "status": result.status,
                    "exit_code": result.exit_code,
                    "duration_ms": result.duration_ms,
                    "reason": result.reason,
                },
            )


def _waiting_actions(devices: Sequence[_Device], now: datetime) -> dict[int, list[dict[str, str]]]:
    """The waiting actions of the devices flagged as having some; marks them sent."""
    if not devices:
        return {}
    ids = [d.id for d in devices]
    found: dict[int, list[dict[str, str]]] = {}
    to_mark: list[tuple[int, Any, int]] = []
    rows = (
        RemoteAction.objects.filter(
            device_id__in=ids, status__in=ACTION_WAITING, expires_at__gt=now
        )
        .order_by("created_at", "pk")
        .values_list("pk", "public_id", "client_id", "device_id", "status", "envelope", "signature")
    )
    for pk, public_id, client_id, device_id, status, envelope, signature in rows:
        found.setdefault(device_id, []).append({"payload": envelope, "signature": signature})
        if status == ActionStatus.QUEUED:
            to_mark.append((pk, public_id, client_id))
    if to_mark:
        marked = RemoteAction.objects.filter(
            pk__in=[pk for pk, _p, _c in to_mark], status=ActionStatus.QUEUED
        ).update(status=ActionStatus.SENT, sent_at=now)
        if marked:
            for pk, public_id, client_id in to_mark:
                stub = RemoteAction(pk=pk, public_id=public_id, client_id=client_id)
                record_audit(
                    None,
                    stub,
                    "sent",
                    client=Client(pk=client_id),
                    before={"status": ActionStatus.QUEUED},
                    after={"status": ActionStatus.SENT},
                )
    idle = [i for i in ids if i not in found]
    if idle:
        # Only where no action is waiting at the moment of the update: a technician
        # queueing one right now sets the flag again in their own transaction.
        waiting = RemoteAction.objects.filter(
            device_id=OuterRef("pk"), status__in=ACTION_WAITING, expires_at__gt=now
        )
        Device.objects.filter(pk__in=idle, has_pending_actions=True).exclude(
            Exists(waiting)
        ).update(has_pending_actions=False)
    return found


def ingest_checkins(checkins: Sequence[Checkin], *, now_s: float | None = None) -> list[Outcome]:
    """Store a batch of check-ins in one transaction and return each one's answer.

    The device is the one whose token hash the check-in carries; a retired or unknown
    device gets 401 and nothing of its check-in is stored. ``now_s`` (epoch seconds) is
    for tests; the server's clock otherwise.
    """
    with transaction.atomic():
        return store_prepared(prepare_checkins(checkins, now_s=now_s))


@dataclass(slots=True)
class Prepared:
    """A batch read and turned into rows, ready to be written (``store_prepared``)."""

    checkins: Sequence[Checkin]
    now: datetime
    now_s: int
    now_db: Any
    outcomes: list[Outcome | None]
    owners: list[_Device | None]
    counts: list[list[int]]
    sample_owner: dict[tuple[int, int], int]
    results: list[tuple[_Device, Result, int]]
    inventories: dict[int, str]
    # (statement, parameters) to run in order; the sample insert is the one returning.
    writes: list[tuple[str, list[Any]]]
    samples_param: str | None


def prepare_checkins(checkins: Sequence[Checkin], *, now_s: float | None = None) -> Prepared:
    """Find the batch's devices (one read) and build every row it will write.

    Kept apart from ``store_prepared`` so that a writer can do this outside its write
    transaction (on SQLite, outside the database's one write lock): only the writes
    themselves then hold it. A device retired between the two steps still gets this
    one check-in stored, as if it had come a moment earlier.
    """
    now_f = time.time() if now_s is None else now_s
    sql = _sql()
    now_s = int(now_f)
    now = datetime.fromtimestamp(now_f, tz=UTC)
    now_db = connection.ops.adapt_datetimefield_value(now)
    # Looked up once: ``connection`` is a thread-local proxy, dear in a loop.
    postgresql = sql.vendor == "postgresql"
    oldest = now_s - settings.METRICS_RAW_HOURS * 3600
    newest = now_s + FUTURE_TOLERANCE_S

    with connection.cursor() as cursor:
        cursor.execute(sql.auth, [_list_param(list({c.token_hash for c in checkins}))])
        found = cursor.fetchall()
    by_hash: dict[str, _Device | None] = {}
    for row in found:
        retired = bool(row[3])
        by_hash[row[9]] = (
            None
            if retired
            else _Device(
                id=row[0],
                public_id=str(row[1]) if postgresql else _uuid(row[1]),
                client_id=row[2],
                config_version=row[4],
                has_pending_actions=bool(row[5]),
                inventory_hash=row[6],
                checkin_interval_s=row[7],
                latest_t=int(row[8]) if row[8] is not None else None,
                volumes=_stored_volumes(row[10]),
            )
        )

    by_id = {d.id: d for d in by_hash.values() if d is not None}
    outcomes: list[Outcome | None] = [None] * len(checkins)
    owners: list[_Device | None] = [None] * len(checkins)
    counts = [[0, 0, 0] for _ in checkins]  # accepted, duplicates, rejected
    sample_rows: list[list[Any]] = []
    sample_owner: dict[tuple[int, int], int] = {}
    volume_sample_rows: list[list[Any]] = []
    ensure_rows: dict[tuple[int, str], list[Any]] = {}
    job_rows: dict[tuple[int, str, int], list[Any]] = {}
    # Per device: the newest state in the batch and what it updates.
    device_rows: dict[int, list[Any]] = {}
    newest_state: dict[int, tuple[int, Checkin, int]] = {}
    results: list[tuple[_Device, Result, int]] = []
    inventories: dict[int, str] = {}

    for index, checkin in enumerate(checkins):
        if checkin.token_hash not in by_hash:
            outcomes[index] = _unauthorized("Unknown device token: enroll the agent again.")
            continue
        device = by_hash[checkin.token_hash]
        if device is None:
            outcomes[index] = _unauthorized("This device was retired: enroll it again.")
            continue
        owners[index] = device
        skew = now_s - checkin.sent_at
        shift = _skew_shift(skew)
        count = counts[index]
        newest_metrics: dict[str, Any] | None = None
        for sample in checkin.samples:
            t = sample.t + shift
            if t < oldest or t > newest:
                count[2] += 1
                continue
            key = (device.id, t)
            if key in sample_owner:
                count[1] += 1
                continue
            sample_owner[key] = index
            sample_rows.append(
                [device.id, t, sample.cpu_pct, sample.mem_pct, sample.swap_pct, sample.load1]
            )
            for mount, free, used_pct in sample.volumes:
                volume_sample_rows.append([device.id, mount, t, free, used_pct])
            if newest_metrics is None or t >= newest_metrics["t"]:
                newest_metrics = {
                    "t": t,
                    "cpu_pct": sample.cpu_pct,
                    "mem_pct": sample.mem_pct,
                    "swap_pct": sample.swap_pct,
                    "load1": sample.load1,
                }
        for job in checkin.jobs:
            t = job.t + shift
            if t > newest:
                count[2] += 1
                continue
            job_rows.setdefault(
                (device.id, job.name, t), [device.id, job.name, t, job.ok, job.message]
            )
        for result in checkin.results:
            results.append((device, result, shift))

        row = device_rows.get(device.id)
        if row is None:
            row = device_rows[device.id] = [device.id, None, None, skew, None, None, None, 0]
        # The newest check-in of the batch speaks for the agent.
        if checkin.agent_version is not None:
            row[1] = checkin.agent_version
        if checkin.scripts_enabled is not None:
            row[2] = checkin.scripts_enabled
        row[3] = skew
        if checkin.inventory is not None and checkin.inventory_hash is not None:
            row[5] = checkin.inventory
            row[6] = checkin.inventory_hash
            inventories[device.id] = checkin.inventory_hash
        if checkin.state is not None:
            state_t = checkin.state["t"] + shift
            latest = {**checkin.state, "t": state_t, "received_at": now_s}
            if latest.get("boot_time") is not None:
                latest["boot_time"] += shift
            latest["metrics"] = newest_metrics
            previous = newest_state.get(device.id)
            stored_t = device.latest_t
            if (previous is None or state_t >= previous[0]) and (
                stored_t is None or state_t >= stored_t
            ):
                newest_state[device.id] = (state_t, checkin, shift)
                row[4] = latest
                row[7] = state_t

    # Volumes: the newest state's list is what the device has now.
    upserts: list[list[Any]] = []
    absent: list[list[Any]] = []
    known: set[tuple[int, str]] = set()
    for device_id, (_t, checkin, _shift) in newest_state.items():
        stored = by_id[device_id].volumes
        listed = set()
        for v in checkin.state_volumes or ():
            listed.add(v.mount)
            known.add((device_id, v.mount))
            if _needs_rewrite(stored.get(v.mount), v, now_s):
                upserts.append(
                    [
                        device_id,
                        v.mount,
                        v.device,
                        v.fstype,
                        v.total,
                        v.used,
                        v.free,
                        v.read_only,
                    ]
                )
        absent.extend([device_id, m] for m, row in stored.items() if row[6] and m not in listed)
    for vs_row in volume_sample_rows:
        mount_key: tuple[int, str] = (vs_row[0], vs_row[1])
        if mount_key not in known and vs_row[1] not in by_id[vs_row[0]].volumes:
            ensure_rows.setdefault(mount_key, [vs_row[0], vs_row[1], vs_row[3]])
    writes: list[tuple[str, list[Any]]] = []
    if upserts:
        writes.append((sql.volume_upsert, [now_db, _rows_param(sorted(upserts, key=_by_key))]))
    if ensure_rows:
        writes.append((sql.volume_ensure, [now_db, _rows_param(list(ensure_rows.values()))]))
    if absent:
        writes.append((sql.volume_absent, [now_db, _rows_param(sorted(absent))]))
    if volume_sample_rows:
        writes.append((sql.volume_samples, [_rows_param(sorted(volume_sample_rows, key=_by_key3))]))
    if job_rows:
        writes.append((sql.jobs, [_rows_param([job_rows[k] for k in sorted(job_rows)])]))
    if device_rows:
        ordered = [device_rows[k] for k in sorted(device_rows)]
        writes.append((sql.devices, [now_db, now_db, _rows_param(ordered)]))
    return Prepared(
        checkins=checkins,
        now=now,
        now_s=now_s,
        now_db=now_db,
        outcomes=outcomes,
        owners=owners,
        counts=counts,
        sample_owner=sample_owner,
        results=results,
        inventories=inventories,
        writes=writes,
        samples_param=_rows_param(sorted(sample_rows, key=_by_key)) if sample_rows else None,
    )


def store_prepared(batch: Prepared) -> list[Outcome]:
    """Write a prepared batch and return each check-in's answer; call inside a transaction.

    The statements are the same whatever the batch size: volumes (only those that
    changed), samples (returning which were new), volume samples, heartbeats, devices.
    """
    sql = _sql()
    counts, owners, checkins, now, now_s = (
        batch.counts,
        batch.owners,
        batch.checkins,
        batch.now,
        batch.now_s,
    )
    with connection.cursor() as cursor:
        # Volumes first: the volume samples find their rows by (device, mountpoint).
        for statement, params in batch.writes:
            if statement is sql.volume_samples and batch.samples_param is not None:
                _insert_samples(cursor, sql, batch)
                batch.samples_param = None
            cursor.execute(statement, params)
        if batch.samples_param is not None:
            _insert_samples(cursor, sql, batch)
    outcomes = batch.outcomes
    inventories = batch.inventories
    results = batch.results
    if results:
        _record_results(results, now)
    flagged = {d.id: d for d in owners if d is not None and d.has_pending_actions}
    actions = _waiting_actions(list(flagged.values()), now)
    stale = {
        d.id: d
        for d, c in zip(owners, checkins, strict=True)
        if d is not None and c.config_version != d.config_version
    }
    configs = _configs(list(stale.values()))

    for index, device in enumerate(owners):
        if device is None:
            continue
        accepted, duplicates, rejected = counts[index]
        outcomes[index] = Outcome(
            200,
            {
                "server_time": now_s,
                "accepted": accepted,
                "duplicates": duplicates,
                "rejected": rejected,
                "inventory_hash": inventories.get(device.id, device.inventory_hash),
                "next_checkin_s": device.checkin_interval_s,
                "config": configs.get(device.id) if device.id in stale else None,
                "actions": actions.get(device.id, []),
            },
        )
    return outcomes  # type: ignore[return-value]


# Rows go to the database in key order: two processes whose batches share a device (a
# request retried while the first is still in flight) then lock its rows in the same
# order, and PostgreSQL has no deadlock to break.
_by_key = operator.itemgetter(0, 1)
_by_key3 = operator.itemgetter(0, 1, 2)


def _insert_samples(cursor: Any, sql: _Statements, batch: Prepared) -> None:
    cursor.execute(sql.samples, [batch.samples_param])
    inserted = {(int(d), int(t)) for d, t in cursor.fetchall()}
    for key, index in batch.sample_owner.items():
        batch.counts[index][0 if key in inserted else 1] += 1


def _uuid(value: Any) -> str:
    # SQLite keeps UUIDs as 32 hex characters.
    text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text

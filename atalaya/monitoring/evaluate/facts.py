"""The evaluator's reads: each a fixed number of indexed queries per chunk, narrowed in
SQL to what could fail (see the package's note)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from atalaya.monitoring.evaluate.rows import _Device, _Plan, _State, _Volume
from atalaya.monitoring.models import CheckState, Device, JobHeartbeat, MetricSample, Volume

GB = 1024**3


# Never reached by a percentage: "no check of this metric for this window".
NEVER = 1e18


# Which states are read (see the module's note); the partial index of the same
# condition (models.CheckState) keeps the read proportional to them.
UNSETTLED_SQL = (
    "(is_failing OR consecutive_failures > 0 OR (key = 'reboot_pending' AND value IS NOT NULL))"
)


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
            # One jsonpath call, not a subquery per row: the unhealthy disks.
            " jsonb_path_query_array(latest, '$.smart[*] ? (@.healthy == false)'),"
            " latest->'reboot_pending')::text",
            "latest ? 'reboot_pending'",
        )
    return (
        "json_array(json_extract(latest, '$.services'), json_extract(latest, '$.processes'),"
        " json_type(latest, '$.smart') = 'array',"
        " (SELECT json_group_array(json(value))"
        " FROM json_each(latest, '$.smart') WHERE json_type(latest, '$.smart') = 'array'"
        " AND json_type(value, '$.healthy') = 'false'), json_extract(latest, '$.reboot_pending'))",
        "json_type(latest, '$.reboot_pending') IS NOT NULL",
    )


def _devices_seen(since: Any, now: Any) -> list[tuple[int, Any]]:
    """Every active device seen in (since, now], as (id, last_seen_at) in that order.

    One walk of the ``last_seen_at`` index a run (the chunks then read their rows by
    id): paging with a keyset cursor made PostgreSQL sort the rest of the fleet again
    for every page. ``last_seen_at`` is as the database holds it.
    """
    where = ["retired_at IS NULL", "last_seen_at <= %s"]
    params: list[Any] = [now]
    if since is not None:
        where.append("last_seen_at > %s")
        params.append(since)
    # Sorted here, not by the database: without the ORDER BY PostgreSQL reads the heap
    # in its physical order (a bitmap scan) instead of one random read per device.
    sql = (
        f"SELECT id, last_seen_at FROM {_q(Device._meta.db_table)}"  # noqa: S608
        f" WHERE {' AND '.join(where)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    rows.sort(key=lambda row: (row[1], row[0]))
    return rows


def _newest_metrics() -> str:
    """The newest sample's t, CPU and memory, which the check-in keeps in ``latest``."""
    keys = ("t", "cpu_pct", "mem_pct")
    if _pg():
        return ", ".join(f"(latest->'metrics'->>'{k}')::float8" for k in keys)
    return ", ".join(f"json_extract(latest, '$.metrics.{k}')" for k in keys)


def _devices_rows(ids: list[int]) -> list[tuple[Any, ...]]:
    """The chunk's devices: the _Device fields, then ``last_seen_at`` as stored."""
    parts, has_reboot = _latest_parts()
    where, params = _in("id", ids)
    sql = (
        f"SELECT id, client_id, site_id, hostname, display_name, checkin_interval_s,"  # noqa: S608
        f" {_epoch('enrolled_at')}, {parts}, {has_reboot}, {_newest_metrics()}, last_seen_at"
        f" FROM {_q(Device._meta.db_table)} WHERE {where} AND retired_at IS NULL"
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
    newest_t, newest_cpu, newest_mem = row[9:12]
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
        smart=(
            [str(d.get("device", "?")) for d in bad_smart or [] if isinstance(d, dict)]
            if has_smart
            else None
        ),
        has_reboot=bool(has),
        reboot_pending=bool(reboot),
        newest_t=None if newest_t is None else float(newest_t),
        newest=(
            None if newest_cpu is None else float(newest_cpu),
            None if newest_mem is None else float(newest_mem),
        ),
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
    plans: dict[int, _Plan], devices: dict[int, _Device], unsettled: set[int], now_t: int
) -> dict[tuple[int, str, int], tuple[int, float | None, float | None, int]]:
    """(device, metric, window s) → (samples, min, avg, oldest t) over the raw samples.

    Only for the devices that can be failing or have an unsettled CPU or memory state:
    a device whose newest sample (kept in ``latest`` by the check-in) lies inside the
    window and under the threshold cannot have every sample of the window above it. One
    query per distinct window, which also returns only the devices whose minimum
    reached the lowest threshold in force.
    """
    windows: dict[int, list[int]] = defaultdict(list)
    lows: dict[int, list[float]] = defaultdict(lambda: [NEVER, NEVER])
    for device_id, plan in plans.items():
        device = devices[device_id]
        for k, check in enumerate((plan.cpu, plan.mem)):
            if check is None:
                continue
            window = int(check.param("window_min") * 60)
            pct = check.param("pct")
            newest = device.newest[k]
            if (
                device_id not in unsettled
                and device.newest_t is not None
                and device.newest_t > now_t - window
                and newest is not None
                and newest < pct
            ):
                continue  # the newest sample in the window is below: not sustained
            if not windows[window] or windows[window][-1] != device_id:
                windows[window].append(device_id)
            lows[window][k] = min(lows[window][k], pct)
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

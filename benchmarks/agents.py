"""Monitoring figures: simulated agents checking in over real HTTP, offline detection,
disk forecasts for 300,000 volumes, bytes of metric history per device per day.

Seeds a dedicated database with ``--agents`` devices (default 100,000) across the
clients and sites of the help-desk seed, each with a known device token and three
volumes, and 15-minute free-space history for ``--forecast-volumes`` volumes. Then:

1. starts the real agent API server (``agent_serve``: uvicorn) as a subprocess on a free
   port of 127.0.0.1 and the production background worker next to it (the status sweep
   that raises offline alerts);
2. runs the load generator of ``_agents_load.py`` in this process — asyncio, persistent
   HTTP/1.1 keep-alive connections, a hand-written client — as ``--agents`` agents that
   each check in every 60 s with jitter, for ``--seconds`` (``checkins_sustained_per_s``,
   ``checkin_p50/p95/p99_ms`` from the moment a check-in was due, ``checkin_errors``);
   ``--offline-agents`` of them (one whole site and others at random) fall silent part
   way through, and the time from each one's last acknowledged check-in to its offline
   alert is measured (``offline_alert_max_s``, ``offline_detected_pct``);
3. a burst: ``--burst-concurrency`` requests in flight for ``--burst-seconds``
   (``checkins_burst_per_s``, ``checkin_burst_p99_ms``);
4. spool replays: batches sent twice, out of order, and from an agent whose clock is
   five minutes slow; then the server is killed (SIGKILL) and every sample the generator
   got a 200 for is looked up (``lost_results``, ``duplicate_results``);
5. ``recompute_forecasts`` over the seeded history (``forecast_300k_volumes_s``);
6. the bytes the metric tables take per device and day at steady state
   (``metric_bytes_per_device_day``);

and prints where the CPU went (server processes, worker, PostgreSQL backends, generator).

    .venv/bin/python benchmarks/agents.py --agents 10000 --seconds 60
    .venv/bin/python benchmarks/agents.py --reuse
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_agents \\
        .venv/bin/python benchmarks/agents.py --reuse
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import zoneinfo
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _agents_load as load  # noqa: E402 - after the path is set

BENCH_DIR = ROOT / "var" / "bench" / "agents"
DB_NAME = "bench_agents"
SEED_MARKER = "bench_agents_seeded"
FORECAST_MARKER = "bench_agents_forecast"
FORECAST_END_MARKER = "bench_agents_forecast_end"
HOST = "127.0.0.1"
BUCKET_S = 900
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"# {message}", flush=True)


def result(name: str, value: float | int, unit: str) -> None:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    print(f"RESULT {name}={text} {unit}", flush=True)


def agent_token(i: int) -> str:
    """Agent ``i``'s device token: deterministic, so a reused seed keeps working."""
    return "atd_" + hashlib.sha256(f"atalaya-bench-agent-{i}".encode()).hexdigest()[:43]


# --- the database ---------------------------------------------------------------------


def configure_database(url_arg: str | None, fresh: bool) -> str:
    """Point Django at the bench database and data directory before it starts."""
    base = url_arg or os.environ.get("ATALAYA_DATABASE_URL", "")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["ATALAYA_DATA_DIR"] = str(BENCH_DIR)
    os.environ["ATALAYA_MEDIA_ROOT"] = str(BENCH_DIR / "media")
    # Jobs go to the bench's own job store and are run by the worker started here.
    os.environ["ATALAYA_JOBS_IMMEDIATE"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(base)
        name = parsed.path.lstrip("/") or DB_NAME
        if name == "postgres":
            name = DB_NAME  # never measure in (or drop) the server's maintenance database
        admin_url = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        url = urlunparse(parsed._replace(path=f"/{name}"))
        # The job store follows the database kind: on PostgreSQL keep it apart per run.
    else:
        path = BENCH_DIR / "agents.sqlite3"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{BENCH_DIR / 'jobs.sqlite3'}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    os.environ["ATALAYA_DATABASE_URL"] = url
    return url


def marker(name: str) -> int | None:
    from atalaya.tickets.models import Counter as NamedCounter

    try:
        return NamedCounter.objects.filter(name=name).values_list("value", flat=True).first()
    except Exception:  # noqa: BLE001 - no tables yet
        return None


def set_marker(name: str, value: int) -> None:
    from atalaya.tickets.models import Counter as NamedCounter

    NamedCounter.objects.update_or_create(name=name, defaults={"value": value})


# --- seeding --------------------------------------------------------------------------


def seed_fleet(n: int, clients: int) -> None:
    """Clients and sites through the services; devices and volumes in bulk.

    The devices are the rows enrollment would have made (hashed token, hint, platform),
    spread over every site; they start as never seen (``pending``) until the run
    marks them seen.
    """
    import _seed
    from django.db import transaction

    from atalaya.core.models import Site
    from atalaya.monitoring.models import Device, Volume

    zoneinfo.available_timezones = functools.lru_cache(maxsize=1)(zoneinfo.available_timezones)
    started = time.perf_counter()
    with transaction.atomic():
        _seed.seed_people(clients, 4, random.Random(7))
    sites = list(Site.objects.order_by("id").values_list("id", "client_id"))
    log(
        f"{clients} clients with {len(sites)} sites seeded in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    batch = 5000
    for lo in range(0, n, batch):
        rows = []
        for i in range(lo, min(n, lo + batch)):
            site_id, client_id = sites[i % len(sites)]
            token = agent_token(i)
            rows.append(
                Device(
                    client_id=client_id,
                    site_id=site_id,
                    hostname=f"pc{i:06d}",
                    machine_id=f"bench-{i:06d}",
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    token_hint=token[-4:],
                    platform="linux",
                    os_name="Debian GNU/Linux",
                    os_version="12",
                    agent_version="0.1.0",
                )
            )
        with transaction.atomic():
            Device.objects.bulk_create(rows, batch_size=batch)
    ids = dict(Device.objects.filter(machine_id__startswith="bench-").values_list("hostname", "id"))
    for lo in range(0, n, batch):
        vols = []
        for i in range(lo, min(n, lo + batch)):
            for k, mount in enumerate(load.MOUNTS):
                total = load.TOTALS[k]
                free = total // (2 + (i + k) % 5)
                vols.append(
                    Volume(
                        device_id=ids[f"pc{i:06d}"],
                        mountpoint=mount,
                        device_name=f"/dev/sd{'abc'[k]}1",
                        fstype="ext4",
                        total_bytes=total,
                        used_bytes=total - free,
                        free_bytes=free,
                    )
                )
        with transaction.atomic():
            Volume.objects.bulk_create(vols, batch_size=batch)
    log(f"{n} devices and {3 * n} volumes seeded in {time.perf_counter() - started:.1f} s")


def compact_rollups() -> bool:
    """Whether the rollups have the compact layout (bucket numbers, MiB, x100 smallints)."""
    from atalaya.monitoring.models import VolumeRollup

    return "free_avg_mib" in {f.column for f in VolumeRollup._meta.concrete_fields}


def rollup_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM monitoring_volumerollup")
        return int(cursor.fetchone()[0])


def seed_forecast_history(volumes: int, hours: int, agents: int) -> int:
    """15-minute free-space history for ``volumes`` volumes, written by the database itself.

    One volume in ten fills linearly (full in 1 to 20 days), six in ten are flat with a
    little noise, three in ten are noisy (a fit too poor to forecast). The history ends
    at the returned epoch second, which the forecast run is given as its ``now``. The
    volumes are the agents' own; when there are fewer than needed, devices that never
    check in are added for the rest.
    """
    from django.db import connection, transaction

    from atalaya.core.models import Site
    from atalaya.monitoring.models import Device, Volume

    have = Volume.objects.count()
    if have < volumes:
        extra = (volumes - have + 2) // 3
        site = Site.objects.order_by("id").first()
        assert site is not None
        started = time.perf_counter()
        for lo in range(0, extra, 5000):
            rows = [
                Device(
                    client_id=site.client_id,
                    site_id=site.pk,
                    hostname=f"fc{i:06d}",
                    machine_id=f"forecast-{i:06d}",
                    token_hash=hashlib.sha256(f"forecast-{i}".encode()).hexdigest(),
                    token_hint="none",
                    platform="linux",
                )
                for i in range(lo, min(extra, lo + 5000))
            ]
            with transaction.atomic():
                Device.objects.bulk_create(rows)
        new = list(
            Device.objects.filter(machine_id__startswith="forecast-").values_list("id", flat=True)
        )
        for lo in range(0, len(new), 5000):
            with transaction.atomic():
                Volume.objects.bulk_create(
                    [
                        Volume(
                            device_id=d,
                            mountpoint=m,
                            total_bytes=load.TOTALS[k],
                            free_bytes=load.TOTALS[k] // 2,
                            used_bytes=load.TOTALS[k] // 2,
                        )
                        for d in new[lo : lo + 5000]
                        for k, m in enumerate(load.MOUNTS)
                    ]
                )
        log(
            f"{extra} devices that never check in added for the forecast's "
            f"{volumes} volumes in {time.perf_counter() - started:.1f} s"
        )
    ids = list(Volume.objects.order_by("id").values_list("id", flat=True)[:volumes])
    lo_id, hi_id = ids[0], ids[-1]
    buckets = hours * 3600 // BUCKET_S
    end = (int(time.time()) // BUCKET_S) * BUCKET_S - 2 * 3600
    start = end - buckets * BUCKET_S
    started = time.perf_counter()
    table = Volume._meta.db_table
    rollups = "monitoring_volumerollup"
    # The three shapes of free space, from the volume id: k is the bucket index.
    if connection.vendor == "postgresql":
        noise_small = "(random() * 20000000)::bigint"
        noise_big = "(random() * (v.total_bytes / 10))::bigint"
        series = f"generate_series(0, {buckets - 1}) AS b(k)"
        with_clause = ""
    else:
        noise_small = "(abs(random()) % 20000000)"
        noise_big = "(abs(random()) % (v.total_bytes / 10))"
        series = "b"
        with_clause = (
            f"WITH RECURSIVE b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b "
            f"WHERE k + 1 < {buckets}) "
        )
    if compact_rollups():
        # Bucket numbers, whole MiB and hundredths of a percent (migration 0006).
        columns = "(volume_id, bucket, samples, free_avg_mib, free_min_mib, used_pct_max_x100)"
        values = (
            f"{start // BUCKET_S} + k, 15, CAST(f / 1048576 AS INTEGER), "
            "CAST((f - 1000000) / 1048576 AS INTEGER), "
            "CAST(ROUND(10000.0 - 10000.0 * f / total_bytes) AS SMALLINT)"
        )
    else:
        columns = "(volume_id, bucket, samples, free_avg, free_min, used_pct_max)"
        values = f"{start} + k * {BUCKET_S}, 15, f, f - 1000000, 100.0 - 100.0 * f / total_bytes"
    free = (
        "CASE "
        f"WHEN v.id % 10 = 0 THEN v.total_bytes * 3 / 10 - b.k * (v.total_bytes * 3 / 10) / "
        f"((1 + (v.id * 7) % 20) * 96) + {noise_small} "
        f"WHEN v.id % 10 < 7 THEN v.total_bytes / 2 + {noise_small} "
        f"ELSE v.total_bytes * 4 / 10 + {noise_big} END"
    )
    sql = (
        f"{with_clause}INSERT INTO {rollups} "
        f"{columns} SELECT id, {values} FROM ("
        f"SELECT v.id AS id, v.total_bytes AS total_bytes, b.k AS k, {free} AS f "
        f"FROM {table} v, {series} WHERE v.id BETWEEN {lo_id} AND {hi_id}"
        ") s ORDER BY id, k"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {rollups}")
        # Per block of volumes, so one statement never holds gigabytes of sort.
        step = 20000
        for k in range(0, len(ids), step):
            block = ids[k : k + step]
            with transaction.atomic():
                cursor.execute(
                    sql.replace(
                        f"BETWEEN {lo_id} AND {hi_id}", f"BETWEEN {block[0]} AND {block[-1]}"
                    )
                )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {rollups}")
    log(
        f"{len(ids) * buckets} volume rollups ({len(ids)} volumes x {hours} h of 15-minute "
        f"buckets) written in {time.perf_counter() - started:.0f} s"
    )
    return end + BUCKET_S


# --- processes and their CPU ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                parents[int(entry)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier]
        tree += frontier
    return tree


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class CpuMeter:
    """CPU seconds of the server, the worker, the database backends and this process."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def snapshot(self) -> dict[str, float]:
        b = self.bench
        server = process_tree(b.server.pid) if b.server else []
        worker = process_tree(b.worker.pid) if b.worker else []
        snap = {
            "server": cpu_seconds(server),
            "worker": cpu_seconds(worker),
            "generator": cpu_seconds([os.getpid()]),
            "wall": time.perf_counter(),
        }
        snap["machine"], snap["machine_total"] = machine_busy()
        snap["database"] = cpu_seconds(b.database_pids())
        return snap

    @staticmethod
    def report(
        label: str, before: dict[str, float], after: dict[str, float], checkins: int
    ) -> None:
        wall = after["wall"] - before["wall"]
        d = {k: after[k] - before[k] for k in before}
        cores = d["machine_total"] / wall if wall else 0
        ours = d["server"] + d["worker"] + d["database"] + d["generator"]
        parts = [
            f"server {100 * d['server'] / wall:.0f} %",
            f"worker {100 * d['worker'] / wall:.0f} %",
            f"database backends {100 * d['database'] / wall:.0f} %",
            f"generator {100 * d['generator'] / wall:.0f} %",
            f"everything else on the machine {100 * (d['machine'] - ours) / wall:.0f} %",
        ]
        log(
            f"CPU during {label} ({wall:.0f} s, 100 % = one core, {cores:.0f} cores): "
            + ", ".join(parts)
            + f"; machine {100 * d['machine'] / d['machine_total']:.0f} % busy"
        )
        if checkins:
            log(
                f"  per check-in: server {1e6 * d['server'] / checkins:.0f} us, database "
                f"backends {1e6 * d['database'] / checkins:.0f} us, generator "
                f"{1e6 * d['generator'] / checkins:.0f} us of CPU"
            )
        result(f"{label}_server_cpu_pct", 100 * d["server"] / wall, "pct_of_core")
        result(f"{label}_generator_cpu_pct", 100 * d["generator"] / wall, "pct_of_core")
        if checkins:
            result(f"{label}_server_cpu_us_per_checkin", 1e6 * d["server"] / checkins, "us")


# --- the bench ------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from django.db import connection

        self.args = args
        self.vendor = connection.vendor
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.device_ids: list[int] = []
        self.site_of: list[int] = []
        self.tokens: list[str] = []
        self.cpu = CpuMeter(self)
        self.run_start = int(time.time())
        # (device, t) of samples an earlier run stored in the window this run looks at.
        self.pre_existing: set[tuple[int, int]] = set()
        self._pg_pids: list[int] = []
        self._pg_pids_at = 0.0
        self.probe = (0, 0)

    # the fleet ------------------------------------------------------------------------

    def load_fleet(self) -> None:
        from atalaya.monitoring.models import Device

        rows = Device.objects.filter(machine_id__startswith="bench-").values_list(
            "hostname", "id", "site_id"
        )
        by_index = {int(h[2:]): (pk, site) for h, pk, site in rows}
        n = self.args.agents
        if len(by_index) < n:
            raise SystemExit(f"the seed has {len(by_index)} agents, {n} asked for")
        self.device_ids = [by_index[i][0] for i in range(n)]
        self.site_of = [by_index[i][1] for i in range(n)]
        self.tokens = [agent_token(i) for i in range(n)]

    def prepare_run(self) -> datetime:
        """Start from a fleet that was just seen, with nothing open from earlier runs.

        The agents were silent between runs, so their devices would all be offline at
        once; every device is marked seen now (the agents check in within a minute) and
        what earlier runs left open is closed by plain statements (a bench database:
        not through the services, which would write a ticket note per alert).
        """
        from django.db import connection, transaction
        from django.utils import timezone

        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE monitoring_device SET last_seen_at = %s, status = 'online', "
                "status_changed_at = %s WHERE machine_id LIKE 'bench-%%'",
                [now, now],
            )
            cursor.execute(
                "UPDATE monitoring_alert SET resolved_at = %s WHERE resolved_at IS NULL", [now]
            )
            cursor.execute("DELETE FROM monitoring_checkstate")
        return now

    def database_pids(self) -> list[int]:
        """The PostgreSQL backends of the bench database, by their process titles.

        A backend's title reads ``postgres: USER DATABASE HOST(PORT) STATE``; read from
        /proc, so this works from inside the event loop too.
        """
        from django.db import connection

        if self.vendor != "postgresql":
            return []
        if time.time() - self._pg_pids_at > 5:
            mark = f" {connection.settings_dict['NAME']} ".encode()
            pids = []
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        title = f.read(200)
                except OSError:
                    continue
                if title.startswith(b"postgres: ") and mark in title:
                    pids.append(int(entry))
            self._pg_pids, self._pg_pids_at = pids, time.time()
        return self._pg_pids

    # processes ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("ATALAYA_LOG_LEVEL", "WARNING")
        return env

    def server_command(self) -> list[str]:
        if self.args.server_cmd:
            words = self.args.server_cmd.format(host=HOST, port=self.port).split()
            return [sys.executable, "-m", *words]
        cmd = [sys.executable, "-m", "django", "agent_serve", "--host", HOST, "--port"]
        cmd.append(str(self.port))
        if self.args.server_workers:
            cmd += ["--workers", str(self.args.server_workers)]
        return cmd + self.args.server_arg

    def worker_command(self) -> list[str]:
        return [sys.executable, "-m", "django", *self.args.worker_cmd.split()]

    def start_server(self) -> None:
        cmd = self.server_command()
        log("server: " + " ".join(Path(c).name if c == sys.executable else c for c in cmd))
        self.server_log = open(BENCH_DIR / "server.log", "wb")  # noqa: SIM115 - kept open
        self.server = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env(),
            stdout=self.server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            body = load.checkin_body(int(time.time()), int(time.time()), 0)
            request = load.Fleet(HOST, self.port, [self.tokens[0]]).raw(0, body)
            if self.server.poll() is not None:
                raise SystemExit(
                    f"the server exited with {self.server.returncode}:\n" + self.tail()
                )
            try:
                status, answer = asyncio.run(load.send_one(HOST, self.port, request))
            except OSError:
                time.sleep(0.3)
                continue
            if status != 200:
                raise SystemExit(f"first check-in answered {status}: {answer[:500]!r}")
            self.probe = (self.device_ids[0], int(time.time()))
            procs = process_tree(self.server.pid)
            log(f"server up on {HOST}:{self.port}, {len(procs)} processes")
            return
        raise SystemExit("the server did not answer within 90 s:\n" + self.tail())

    def tail(self, path: Path | None = None) -> str:
        path = path or BENCH_DIR / "server.log"
        try:
            return path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start_worker(self) -> None:
        cmd = self.worker_command()
        log("worker: " + " ".join(Path(c).name if c == sys.executable else c for c in cmd))
        self.worker_log = open(BENCH_DIR / "worker.log", "wb")  # noqa: SIM115 - kept open
        self.worker = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env(),
            stdout=self.worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(2)
        if self.worker.poll() is not None:
            raise SystemExit(
                f"the worker exited with {self.worker.returncode}:\n"
                + self.tail(BENCH_DIR / "worker.log")
            )

    def kill_server(self) -> None:
        """SIGKILL, no goodbye: what a 200 promised must already be in the database."""
        if self.server and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=30)

    def stop_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGINT)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait(timeout=30)

    # the load -------------------------------------------------------------------------

    def choose_offline(self) -> list[int]:
        """One whole site (the parent/site suppression path) and others at random."""
        want = min(self.args.offline_agents, self.args.agents // 2)
        if want <= 0:
            return []
        per_site: dict[int, list[int]] = {}
        for i, site in enumerate(self.site_of):
            per_site.setdefault(site, []).append(i)
        rng = random.Random(5)
        site = sorted(per_site, key=lambda s: (len(per_site[s]), s))[len(per_site) // 2]
        chosen = list(per_site[site])[: want // 2]
        rest = [i for i in range(self.args.agents) if self.site_of[i] != site]
        whole = len(chosen) == len(per_site[site])
        of_site = len(chosen)
        chosen += rng.sample(rest, want - of_site)
        log(
            f"{len(chosen)} agents will stop: {of_site} of site {site}"
            f"{' (all of it)' if whole else ''} and {want - of_site} others"
        )
        return chosen

    def detections(self, stopped: list[int], since: datetime) -> dict[int, float]:
        """Stopped agent -> epoch second its offline (or site-offline) alert opened."""
        from django.db.models import Q

        from atalaya.monitoring.models import Alert

        pk_to_agent = {self.device_ids[i]: i for i in stopped}
        sites = {self.site_of[i] for i in stopped}
        rows = Alert.objects.filter(opened_at__gte=since).filter(
            Q(kind="offline", device_id__in=list(pk_to_agent))
            | Q(kind="site_offline", device__isnull=True, site_id__in=list(sites))
        )
        found: dict[int, float] = {}
        site_alerts: dict[int, float] = {}
        for device_id, site_id, kind, opened in rows.values_list(
            "device_id", "site_id", "kind", "opened_at"
        ):
            at = opened.timestamp()
            if kind == "site_offline":
                site_alerts[site_id] = min(at, site_alerts.get(site_id, at))
            elif device_id in pk_to_agent:
                i = pk_to_agent[device_id]
                found[i] = min(at, found.get(i, at))
        for i in stopped:
            if self.site_of[i] in site_alerts:
                at = site_alerts[self.site_of[i]]
                found[i] = min(at, found.get(i, at))
        return found

    def false_offline(self, stopped: list[int], since: datetime) -> int:
        from atalaya.monitoring.models import Alert

        quiet = {self.device_ids[i] for i in stopped}
        opened = Alert.objects.filter(opened_at__gte=since, kind="offline").values_list(
            "device_id", flat=True
        )
        agents = set(self.device_ids)
        return sum(1 for d in opened if d in agents and d not in quiet)

    async def run_load(self, fleet: load.Fleet, since: datetime) -> dict[str, Any]:
        args = self.args
        loop = asyncio.get_running_loop()
        stopped = self.choose_offline() if self.worker else []
        out: dict[str, Any] = {"stopped": stopped}
        state = {"detected": 0, "polling": False, "stop_wall": 0.0}
        min_seconds = args.seconds
        wait_until = (args.offline_at + args.offline_wait) if stopped else 0

        def poll() -> None:
            from django.db import connection

            try:
                state["detected"] = len(self.detections(stopped, since))
            finally:
                connection.close()
                state["polling"] = False

        def should_end(elapsed: float) -> bool:
            if elapsed < min_seconds:
                return False
            if not stopped or elapsed >= wait_until:
                return True
            if not state["polling"] and int(elapsed) % 5 == 0 and elapsed > args.offline_at + 60:
                state["polling"] = True
                loop.run_in_executor(None, poll)
            return state["detected"] >= len(stopped)

        def on_stop() -> None:
            # Only agents with a check-in acknowledged in this run have a "last" one.
            before = len(stopped)
            stopped[:] = [i for i in stopped if fleet.last_ok_wall[i] > 0]
            state["stop_wall"] = time.time()
            log(
                f"{len(stopped)} agents stopped at {args.offline_at:.0f} s"
                + (
                    f" ({before - len(stopped)} had not checked in yet)"
                    if before > len(stopped)
                    else ""
                )
            )

        before = self.cpu.snapshot()
        open_seconds = max(min_seconds, wait_until) if stopped else min_seconds
        stats = await load.run_open(
            fleet,
            open_seconds,
            max_conns=args.max_conns,
            stop_at=args.offline_at if stopped else None,
            stop_agents=stopped,
            on_stop=on_stop,
            should_end=should_end,
        )
        after = self.cpu.snapshot()
        out["sustained"], out["cpu_sustained"] = stats, (before, after)
        out["stop_wall"] = state["stop_wall"]
        if args.burst_seconds > 0:
            await asyncio.sleep(2)
            before = self.cpu.snapshot()
            burst = await load.run_closed(fleet, args.burst_seconds, args.burst_concurrency)
            after = self.cpu.snapshot()
            out["burst"], out["cpu_burst"] = burst, (before, after)
        out["replays"] = await self.run_replays(fleet)
        return out

    async def run_replays(self, fleet: load.Fleet) -> dict[str, Any]:
        """Spool replays: each batch twice, an older batch after a newer one, a slow clock.

        Per agent, batch A holds three samples from an hour ago and three the agent sent
        (and had acknowledged) during this run; batch B three samples from two hours
        ago. The order sent is A, B, A, B. Another set of agents sends three samples
        with its clock five minutes slow, twice: the server shifts them by the skew,
        the same way both times.
        """
        n = min(self.args.replay_agents, fleet.n // 4)
        rng = random.Random(9)
        candidates = [i for i in range(fleet.n) if not fleet.stopped[i]]
        chosen = rng.sample(candidates, min(len(candidates), 2 * n))
        replay, skewed = chosen[:n], chosen[n:]
        acked_by_agent: dict[int, list[int]] = {i: [] for i in replay}
        for key in fleet.acked:
            i = key >> 32
            if i in acked_by_agent:
                acked_by_agent[i].append(key & 0xFFFFFFFF)
        now = int(time.time())
        # Seconds that hold no sample yet (an earlier run may have left some).
        taken = await asyncio.get_running_loop().run_in_executor(
            None, self._stored_between, [fleet_i for fleet_i in chosen], now - 3 * 3600, now - 1800
        )

        def free_seconds(i: int, base: int, count: int) -> list[int]:
            out: list[int] = []
            t = base
            while len(out) < count:
                if (self.device_ids[i], t) not in taken:
                    out.append(t)
                t -= 60
            return sorted(out)

        expect: dict[str, Any] = {"new": set(), "mismatch": [], "requests": 0}
        batches_a, batches_b = [], []
        for i in replay:
            old_a = free_seconds(i, now - 3600, 3)
            old_b = free_seconds(i, now - 7200, 3)
            mine = sorted(acked_by_agent[i])[-3:]
            batches_a.append((i, old_a + mine, len(old_a)))
            batches_b.append((i, old_b, len(old_b)))
            expect["new"].update(i << 32 | t for t in old_a + old_b)
        rounds = [
            (batches_a, "A"),
            (batches_b, "B"),
            (batches_a, "A again"),
            (batches_b, "B again"),
        ]
        for batches, label in rounds:
            sent_at = int(time.time())
            requests = [fleet.raw(i, load.samples_body(sent_at, ts, i)) for i, ts, _new in batches]
            answers = await load.send_many(HOST, self.port, requests)
            expect["requests"] += len(requests)
            first = "again" not in label
            for (i, ts, new), (status, body) in zip(batches, answers, strict=True):
                want = (new, len(ts) - new) if first else (0, len(ts))
                got = parse_counts(status, body)
                if got != want:
                    expect["mismatch"].append(f"batch {label} of agent {i}: want {want}, got {got}")
        # The slow clock: sent_at five minutes behind the server.
        skew_keys: set[int] = set()
        # Samples an hour and a half old by the server's clock, at seconds still free
        # once shifted; the agent's clock says five minutes less.
        skew_ts = {i: [t - 300 for t in free_seconds(i, now - 5400, 3)] for i in skewed}
        for attempt in range(2):
            # The same three samples both times, sent a little later the second time.
            sent_at = int(time.time()) - 300
            requests, plans = [], []
            for i in skewed:
                ts = skew_ts[i]
                requests.append(fleet.raw(i, load.samples_body(sent_at, ts, i)))
                plans.append((i, ts))
            answers = await load.send_many(HOST, self.port, requests)
            expect["requests"] += len(requests)
            if attempt == 0:
                await asyncio.sleep(3)
            for (i, ts), (status, body) in zip(plans, answers, strict=True):
                got = parse_counts(status, body)
                want = (len(ts), 0) if attempt == 0 else (0, len(ts))
                if got != want:
                    expect["mismatch"].append(f"skewed batch {attempt + 1} of agent {i}: {got}")
                server_time = parse_field(body, "server_time")
                if attempt == 0 and server_time is not None:
                    shift = round((server_time - sent_at) / 10) * 10
                    skew_keys.update(i << 32 | (t + shift) for t in ts)
        expect["skewed"] = skew_keys
        expect["skew_agents"] = len(skewed)
        return expect

    def _stored_between(self, agents: list[int], lo: int, hi: int) -> set[tuple[int, int]]:
        from django.db import connection

        from atalaya.monitoring.models import MetricSample

        pks = [self.device_ids[i] for i in agents]
        try:
            return set(
                MetricSample.objects.filter(device_id__in=pks, t__gte=lo, t__lte=hi).values_list(
                    "device_id", "t"
                )
            )
        finally:
            connection.close()  # this thread's own connection

    # after the load -------------------------------------------------------------------

    def stored(self, since: int) -> tuple[dict[tuple[int, int], int], int]:
        """(device, t) -> volume samples stored with it, for samples since ``since``."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT device_id, t FROM monitoring_metricsample WHERE t >= %s", [since]
            )
            metrics = {(d, t): 0 for d, t in cursor.fetchall()}
            cursor.execute(
                "SELECT v.device_id, s.t, COUNT(*) FROM monitoring_volumesample s "
                "JOIN monitoring_volume v ON v.id = s.volume_id WHERE s.t >= %s "
                "GROUP BY v.device_id, s.t",
                [since],
            )
            orphans = 0
            for d, t, c in cursor.fetchall():
                if (d, t) in metrics:
                    metrics[(d, t)] = c
                else:
                    orphans += c
        return metrics, orphans


def parse_counts(status: int, body: bytes) -> tuple[int, int] | str:
    import json

    if status != 200:
        return f"HTTP {status} {body[:200]!r}"
    try:
        data = json.loads(body)
        return int(data["accepted"]), int(data["duplicates"])
    except (ValueError, KeyError, TypeError):
        return f"unreadable answer {body[:200]!r}"


def parse_field(body: bytes, name: str) -> Any:
    import json

    try:
        return json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None


def latency_results(prefix: str, stats: load.Stats) -> None:
    for p in (50, 95, 99):
        result(f"{prefix}_p{p}_ms", stats.percentile("lat_ms", p), "ms")


def log_timeline(stats: load.Stats, step: float) -> None:
    """Answers and p99 per step of the phase: shows stalls (a long write lock, a GC)."""
    line = stats.timeline(step)
    if not line:
        return
    p99s = sorted(p99 for _start, _n, p99 in line)
    log(
        f"  p99 of each {step:.0f} s: median {p99s[len(p99s) // 2]:.0f} ms, worst {p99s[-1]:.0f} ms"
        " (a stall is a few bad windows; a server that cannot keep up, all of them)"
    )
    per_line = 8
    log(f"  per {step:.0f} s (start s: answers/s, p99 ms):")
    for k in range(0, len(line), per_line):
        log(
            "    "
            + "  ".join(
                f"{start:.0f}: {n / step:.0f}/s {p99:.0f}"
                for start, n, p99 in line[k : k + per_line]
            )
        )


def report_load(bench: Bench, fleet: load.Fleet, out: dict[str, Any]) -> None:
    args = bench.args
    s: load.Stats = out["sustained"]
    wall = s.ended - s.started
    answered = len(s.lat_ms)
    log(
        f"sustained: {answered} check-ins answered in {wall:.0f} s by {fleet.n} agents "
        f"(target rate {fleet.n / 60:.0f}/s), {s.ok} with 200; at most "
        f"{s.peak_waiting} waiting for a connection"
    )
    log(
        f"  latency from due: p50 {s.percentile('lat_ms', 50):.1f} ms, p99 "
        f"{s.percentile('lat_ms', 99):.1f} ms, max {max(s.lat_ms, default=0):.0f} ms; on the "
        f"wire only: p50 {s.percentile('net_ms', 50):.1f}, p99 {s.percentile('net_ms', 99):.1f} ms;"
        f" generator's own lag behind schedule p99 {s.percentile('lag_ms', 99):.1f} ms"
    )
    if s.errors:
        log("  errors: " + ", ".join(f"{k} x{v}" for k, v in s.errors.most_common()))
        for line in s.first_error_bodies:
            log(f"    {line}")
    log_timeline(s, 10.0)
    if s.ok > s.ok_in_phase:
        log(f"  {s.ok - s.ok_in_phase} answers came after the phase ended (not in the rate)")
    result("checkins_sustained_per_s", s.ok_in_phase / wall, "per_s")
    latency_results("checkin", s)
    before, after = out["cpu_sustained"]
    bench.cpu.report("sustained", before, after, answered)
    errors = s.error_count
    if "burst" in out:
        b: load.Stats = out["burst"]
        bwall = b.ended - b.started
        log(
            f"burst: {len(b.lat_ms)} check-ins answered in {bwall:.1f} s with "
            f"{args.burst_concurrency} in flight, {b.ok} with 200"
        )
        if b.errors:
            log("  errors: " + ", ".join(f"{k} x{v}" for k, v in b.errors.most_common()))
            for line in b.first_error_bodies:
                log(f"    {line}")
        log_timeline(b, 2.0)
        result("checkins_burst_per_s", b.ok / bwall, "per_s")
        result("checkin_burst_p50_ms", b.percentile("lat_ms", 50), "ms")
        result("checkin_burst_p99_ms", b.percentile("lat_ms", 99), "ms")
        before, after = out["cpu_burst"]
        bench.cpu.report("burst", before, after, len(b.lat_ms))
        errors += b.error_count
    result("checkin_errors", errors, "count")


def report_worker() -> None:
    """The worker's jobs that ran long during the run (they compete with the check-ins)."""
    import re

    try:
        text = (BENCH_DIR / "worker.log").read_text(errors="replace")
    except OSError:
        return
    slow: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for name, seconds in re.findall(r"^([\w.]+): \S+.* executed in ([\d.]+)s", text, re.M):
        short = name.rsplit(".", 1)[-1]
        total[short] += 1
        if float(seconds) >= 2:
            slow[f"{short} {float(seconds):.0f} s"] += 1
    if total:
        log("worker jobs run: " + ", ".join(f"{k} x{v}" for k, v in sorted(total.items())))
    if slow:
        log("worker jobs of 2 s or more: " + ", ".join(f"{k} (x{v})" for k, v in slow.items()))


def report_offline(bench: Bench, fleet: load.Fleet, out: dict[str, Any], since: datetime) -> None:
    stopped = out["stopped"]
    if not stopped:
        log("offline detection not measured (no worker, or --offline-agents 0)")
        return
    found = bench.detections(stopped, since)
    delays = sorted(found[i] - fleet.last_ok_wall[i] for i in found)
    never_ok = sum(1 for i in stopped if fleet.last_ok_wall[i] == 0)
    pct = 100.0 * len(found) / len(stopped)
    if delays:
        log(
            f"offline alerts for {len(found)} of {len(stopped)} stopped agents; from the last "
            f"acknowledged check-in: min {delays[0]:.0f} s, median {delays[len(delays) // 2]:.0f}"
            f" s, max {delays[-1]:.0f} s"
        )
    if never_ok:
        log(f"  {never_ok} stopped agents had no acknowledged check-in in this run")
    false = bench.false_offline(stopped, since)
    log(f"offline alerts for agents that never stopped: {false}")
    result("offline_detected_pct", pct, "pct")
    result("offline_alert_max_s", delays[-1] if delays else float("nan"), "s")
    result("offline_false_alerts", false, "count")


def report_lost(bench: Bench, fleet: load.Fleet, out: dict[str, Any], since_epoch: int) -> None:
    started = time.perf_counter()
    replays = out["replays"]
    stored, orphans = bench.stored(since_epoch - 4 * 3600)
    pk = bench.device_ids
    acked = {(pk[k >> 32], k & 0xFFFFFFFF) for k in fleet.acked}
    acked |= {(pk[k >> 32], k & 0xFFFFFFFF) for k in replays["new"] | replays["skewed"]}
    sent = {(pk[k >> 32], k & 0xFFFFFFFF) for k in fleet.sent} | acked
    missing = [key for key in acked if key not in stored]
    short = [key for key in acked if key in stored and stored[key] != len(load.MOUNTS)]
    # The server's start-up probe (agent 0) counts as sent.
    extra = [
        key
        for key in stored
        if key not in sent and key not in bench.pre_existing and key != bench.probe
    ]
    log(
        f"{len(acked)} acknowledged samples (live and replayed) looked up among {len(stored)} "
        f"stored since the run began, in {time.perf_counter() - started:.1f} s; the server was "
        "killed with SIGKILL first"
    )
    log(
        f"  missing: {len(missing)} samples; with fewer than {len(load.MOUNTS)} volume rows: "
        f"{len(short)}; stored but never sent (a sample stored twice under another second): "
        f"{len(extra)}; volume rows without their sample: {orphans}"
    )
    for key in (missing + short)[:5]:
        log(f"    lost: device {key[0]} t={key[1]} ({stored.get(key)} volume rows)")
    for key in extra[:5]:
        log(f"    extra: device {key[0]} t={key[1]}")
    log(
        f"  replays: {replays['requests']} batches ({len(replays['new'])} new old samples, "
        f"{replays['skew_agents']} agents with a slow clock); answers not as expected: "
        f"{len(replays['mismatch'])}"
    )
    for line in replays["mismatch"][:5]:
        log(f"    {line}")
    result("lost_results", len(missing) + len(short), "count")
    result("duplicate_results", len(extra) + len(replays["mismatch"]), "count")


# --- forecasts and storage ------------------------------------------------------------


def run_forecast(args: argparse.Namespace, end: int) -> None:
    from django.db import connection

    try:
        from atalaya.monitoring.forecast import recompute_forecasts
    except ImportError as exc:
        log(f"forecast not measured: {exc}")
        return
    from atalaya.monitoring.models import Volume

    now = datetime.fromtimestamp(end, UTC)
    # Forget earlier runs' forecasts, so every run computes and writes them all (a run
    # that finds them unchanged skips the writes).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE monitoring_volume SET forecast_full_at = NULL, forecast_slope = NULL, "
            "forecast_r2 = NULL, forecast_computed_at = NULL WHERE forecast_computed_at IS NOT NULL"
        )
    connection.close()
    started = time.perf_counter()
    outcome = recompute_forecasts(now=now)
    elapsed = time.perf_counter() - started
    with_forecast = Volume.objects.filter(forecast_full_at__isnull=False).count()
    computed = Volume.objects.filter(forecast_computed_at__isnull=False).count()
    log(
        f"recompute_forecasts over {args.forecast_volumes} volumes with {args.forecast_hours} h "
        f"of history: {elapsed:.1f} s; {computed} volumes computed, {with_forecast} with a "
        f"full date (one in ten fills up); returned {outcome!r}"[:400]
    )
    name = (
        "forecast_300k_volumes_s"
        if args.forecast_volumes == 300_000
        else f"forecast_{args.forecast_volumes}_volumes_s"
    )
    result(name, elapsed, "s")
    result("forecast_volumes_with_full_date", with_forecast, "count")


TABLES = (
    "monitoring_metricsample",
    "monitoring_volumesample",
    "monitoring_metricrollup",
    "monitoring_volumerollup",
)


def table_bytes() -> dict[str, tuple[int, int]]:
    """Table -> (bytes with its indexes, rows)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            rows = cursor.fetchone()[0]
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                size = cursor.fetchone()[0]
            else:
                cursor.execute(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name = %s)",
                    [table],
                )
                size = cursor.fetchone()[0] or 0
            out[table] = (int(size), int(rows))
    return out


def seed_metric_rollups(devices: list[int], end: int) -> int:
    """A day of 15-minute metric rollups for ``devices``, so the table can be measured."""
    from django.db import connection, transaction

    buckets = 96
    start = end - buckets * BUCKET_S
    rows: list[tuple[Any, ...]] = []
    rng = random.Random(3)
    for d in devices:
        for k in range(buckets):
            cpu = rng.random() * 60
            rows.append((d, start + k * BUCKET_S, 15, cpu, cpu * 1.5, 40.0, 55.0, 1.0, 0.4))
    compact = compact_rollups()
    if compact:
        rows = [
            (r[0], r[1] // BUCKET_S, r[2], *(round(v * 100) for v in r[3:8]), r[8]) for r in rows
        ]
        names = "cpu_avg_x100, cpu_max_x100, mem_avg_x100, mem_max_x100, swap_max_x100"
        lo, hi = start // BUCKET_S, end // BUCKET_S
    else:
        names = "cpu_avg, cpu_max, mem_avg, mem_max, swap_max"
        lo, hi = start, end
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM monitoring_metricrollup WHERE bucket >= %s AND bucket < %s", [lo, hi]
        )
        cursor.executemany(
            f"INSERT INTO monitoring_metricrollup (device_id, bucket, samples, {names}, "
            "load1_avg) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def run_storage(args: argparse.Namespace, bench: Bench, since: int) -> None:
    """Bytes of metric history a device costs per day once retention is steady.

    The per-row cost of each table (data and indexes, as the database lays them out)
    is measured on the rows this run wrote; the steady state holds
    ``METRICS_RAW_HOURS`` of raw rows and ``METRICS_ROLLUP_DAYS`` of rollups, one sample
    a minute and three volumes a device.
    """
    from django.conf import settings
    from django.db import connection

    try:
        from atalaya.monitoring import retention
    except ImportError:
        retention = None  # type: ignore[assignment]
        log("no atalaya.monitoring.retention: rollups seeded here, sizes measured here")
    if retention is not None:
        # The run's raw samples rolled up by the module's own statements.
        started = time.perf_counter()
        report = retention.rollup(start=since, end=int(time.time()) // BUCKET_S * BUCKET_S)
        took = time.perf_counter() - started
        log(f"retention.rollup of the run's buckets: {report} ({took:.1f} s)")
    sizes = table_bytes()
    if sizes["monitoring_metricrollup"][1] < 10000:
        n = seed_metric_rollups(bench.device_ids[:20000], since // BUCKET_S * BUCKET_S)
        log(f"{n} metric rollups seeded to measure their table")
        sizes = table_bytes()
    if connection.vendor == "sqlite":
        log("SQLite sizes from dbstat (pages of each table and its indexes)")
    per_row = {}
    for table, (size, rows) in sizes.items():
        per_row[table] = size / rows if rows else float("nan")
        log(f"  {table}: {rows} rows, {size / 1e6:.1f} MB, {per_row[table]:.1f} bytes a row")
    raw_rows = settings.METRICS_RAW_HOURS * 60
    rollup_rows = settings.METRICS_ROLLUP_DAYS * 96
    vols = len(load.MOUNTS)
    steady = (
        raw_rows * per_row["monitoring_metricsample"]
        + raw_rows * vols * per_row["monitoring_volumesample"]
        + rollup_rows * per_row["monitoring_metricrollup"]
        + rollup_rows * vols * per_row["monitoring_volumerollup"]
    )
    per_day = steady / settings.METRICS_ROLLUP_DAYS
    log(
        f"steady state per device ({settings.METRICS_RAW_HOURS} h raw at one sample a minute, "
        f"{settings.METRICS_ROLLUP_DAYS} days of 15-minute rollups, {vols} volumes): "
        f"{steady / 1e6:.2f} MB, i.e. {per_day / 1000:.1f} KB per device per day of history; "
        f"{args.agents} devices: {steady * args.agents / 1e9:.1f} GB"
    )
    raw_day = per_row["monitoring_metricsample"] + vols * per_row["monitoring_volumesample"]
    log(
        f"  of which raw rows {100 * raw_rows * raw_day / steady:.0f} %; a day of raw rows "
        f"before downsampling would be {1440 * raw_day / 1000:.0f} KB"
    )
    result("metric_bytes_per_device_day", per_day, "bytes")
    measure = getattr(retention, "storage_per_device_day", None)
    if measure is not None:
        theirs = measure()
        log(f"retention.storage_per_device_day(): {theirs}"[:800])
        if isinstance(theirs, dict) and "bytes_per_device_day" in theirs:
            result("metric_bytes_per_device_day_retention", theirs["bytes_per_device_day"], "bytes")


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=120.0, help="sustained phase, at least")
    parser.add_argument("--database", help="database URL (default: ATALAYA_DATABASE_URL, SQLite)")
    parser.add_argument("--reuse", action="store_true", help="keep a database seeded alike")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--server-workers", type=int, help="default: the server's own")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra argument to agent_serve"
    )
    parser.add_argument(
        "--server-cmd",
        help="another server instead, a Python module and its arguments with {host} and "
        "{port}, e.g. 'uvicorn atalaya.asgi:application --host {host} --port {port}'",
    )
    parser.add_argument(
        "--worker-cmd",
        default="run_huey",
        help="management command (with arguments) of the background worker; 'none' for none",
    )
    parser.add_argument("--max-conns", type=int, default=1000, help="connections, sustained")
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--burst-concurrency", type=int, default=1000)
    parser.add_argument("--offline-agents", type=int, default=1000)
    parser.add_argument("--offline-at", type=float, default=70.0, help="s into the run")
    parser.add_argument(
        "--offline-wait", type=float, default=240.0, help="s after the stop, at most"
    )
    parser.add_argument("--replay-agents", type=int, default=500)
    parser.add_argument("--forecast-volumes", type=int, default=300_000)
    parser.add_argument("--forecast-hours", type=int, default=24)
    parser.add_argument("--inventory", action="store_true", help="first check-ins carry one")
    parser.add_argument(
        "--only", default="load,forecast,storage", help="comma list of: load, forecast, storage"
    )
    args = parser.parse_args()
    sections = {s.strip() for s in args.only.split(",") if s.strip()}

    url = configure_database(args.database, fresh=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    loop_kind = load.install_uvloop()
    log(f"database {connection.vendor} {url.rsplit('/', 1)[-1]}; generator on {loop_kind}")
    have = marker(SEED_MARKER) if args.reuse else None
    if have is None or have < args.agents:
        if args.reuse:
            log(f"no reusable seed of {args.agents} agents (found {have}); seeding afresh")
        connection.close()
        configure_database(args.database, fresh=True)
        call_command("migrate", verbosity=0)
        seed_fleet(args.agents, args.clients)
        set_marker(SEED_MARKER, args.agents)
        have = args.agents
    else:
        call_command("migrate", verbosity=0)
        log(f"reusing the seeded database of {have} agents")
    forecast_key = args.forecast_volumes * 1000 + args.forecast_hours
    if "forecast" in sections and (
        marker(FORECAST_MARKER) != forecast_key
        # A migration may have rebuilt the table (or a test emptied it).
        or rollup_rows() < args.forecast_volumes * args.forecast_hours * 4
    ):
        end = seed_forecast_history(args.forecast_volumes, args.forecast_hours, have)
        set_marker(FORECAST_MARKER, forecast_key)
        set_marker(FORECAST_END_MARKER, end)
    if args.seed_only:
        return

    bench = Bench(args)
    bench.load_fleet()
    if "load" in sections:
        run_load_sections(bench)
    # A section that fails says so and the next one still runs.
    if "forecast" in sections:
        guarded("forecast", run_forecast, args, marker(FORECAST_END_MARKER) or int(time.time()))
    if "storage" in sections:
        guarded("storage", run_storage, args, bench, bench.run_start - 3 * 3600)


def guarded(label: str, fn: Any, *args: Any) -> None:
    from django.db import connection

    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported, and the run goes on
        import traceback

        log(f"{label} not measured: {type(exc).__name__}: {exc}"[:500])
        for line in traceback.format_exc().splitlines()[-6:]:
            log(f"  {line}")
        connection.close()


def run_load_sections(bench: Bench) -> None:
    import resource

    from django.db import connection

    args = bench.args
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    since = bench.prepare_run()
    run_start = bench.run_start = int(time.time())
    bench.pre_existing = {
        (d, t) for (d, t) in bench.stored(run_start - 4 * 3600)[0]
    }  # an earlier run's samples
    connection.close()
    bench.start_server()
    if args.worker_cmd != "none":
        bench.start_worker()
    fleet = load.Fleet(HOST, bench.port, bench.tokens, inventory=args.inventory)
    try:
        out = asyncio.run(bench.run_load(fleet, since))
    finally:
        bench.kill_server()
        bench.stop_worker()
    connection.close()
    report_load(bench, fleet, out)
    if bench.worker is not None:
        report_worker()
    report_offline(bench, fleet, out, since)
    report_lost(bench, fleet, out, run_start)


if __name__ == "__main__":
    main()

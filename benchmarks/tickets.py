"""Help-desk figures at scale: ticket list, full-text search, ticket page, API ticket creation.

Seeds a dedicated database with ``--tickets`` tickets (default 1,000,000) of about five
events each across 200 clients, then measures through the real stack — URL routing,
middleware, views, templates and the API — with Django's test client signed in as a
technician. Prints ``RESULT name=value unit`` lines.

The database follows ``ATALAYA_DATABASE_URL``: PostgreSQL gets its own database
``bench_<N>`` on the same server (created here); otherwise SQLite gets a file under
``var/bench/``. Seeding a million tickets takes minutes, so ``--reuse`` keeps a database
that already holds the same seed.

    .venv/bin/python benchmarks/tickets.py --tickets 20000
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/tickets.py --reuse
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import sys
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SEED_MARKER = "bench_seeded"


def log(message: str) -> None:
    print(f"# {message}", flush=True)


def result(name: str, value: float, unit: str) -> None:
    print(
        f"RESULT {name}={value:.1f} {unit}"
        if isinstance(value, float)
        else f"RESULT {name}={value} {unit}",
        flush=True,
    )


# --- the database ---------------------------------------------------------------------


def configure_database(n: int, fresh: bool) -> str:
    """The bench database of this size (see _bench_db.py)."""
    import _bench_db

    return _bench_db.configure_database(
        pg_name=f"bench_{n}", sqlite_name=f"tickets_{n}", fresh=fresh
    )


def seeded_count() -> int | None:
    from atalaya.tickets.models import Counter

    try:
        return Counter.objects.filter(name=SEED_MARKER).values_list("value", flat=True).first()
    except Exception:  # noqa: BLE001 - no tables yet
        return None


def seed(n: int, clients: int, technicians: int) -> None:
    import _seed
    from django.db import connection, transaction

    from atalaya.tickets.models import Counter

    _seed.check_columns()
    # Each full_clean() of a client, site or contact validates its time zone against
    # zoneinfo.available_timezones(), which walks the zoneinfo tree on disk (~20 ms);
    # thousands of them would dominate the seed, so the listing is cached here.
    zoneinfo.available_timezones = functools.lru_cache(maxsize=1)(zoneinfo.available_timezones)
    started = time.perf_counter()
    rng = random.Random(7)
    with transaction.atomic():
        _seed.seed_people(clients, technicians, rng)
    log(f"people seeded in {time.perf_counter() - started:.1f} s")
    people = _seed.load_people()
    now = _seed.timestamp_now()
    if connection.vendor == "postgresql":
        with transaction.atomic():
            _seed.bulk_postgresql(connection, people, n, now, log)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        log(f"vacuum analyze in {time.perf_counter() - t0:.0f} s")
    else:
        connection.ensure_connection()
        _seed.bulk_sqlite(connection, people, n, now, log)
        connection.close()
    Counter.objects.update_or_create(name=SEED_MARKER, defaults={"value": n})
    log(f"seeded {n} tickets in {time.perf_counter() - started:.0f} s")


# --- measuring ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(fn: Callable[[], Any], repeat: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def report(name: str, samples: list[float], *, results: bool = True) -> None:
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    if results:
        result(f"{name}_p50_ms", p50, "ms")
        result(f"{name}_p95_ms", p95, "ms")
    else:
        log(
            f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(samples):.1f} ms "
            f"(n={len(samples)})"
        )


def query_profile(label: str, fn: Callable[[], Any], top: int = 3) -> None:
    """One call with the queries captured: how many, and the slowest, for the report."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    queries = sorted(ctx.captured_queries, key=lambda q: float(q["time"]), reverse=True)
    total = sum(float(q["time"]) for q in queries) * 1000
    log(f"{label}: {len(queries)} queries, {total:.1f} ms in the database")
    for q in queries[:top]:
        log(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:300]}")


class Creator:
    """Creates tickets through the API with Django's test client (in this process or a fork)."""

    def __init__(self, token: str, url: str, payloads: list[dict[str, Any]]) -> None:
        self.token, self.url, self.payloads = token, url, payloads
        self._http: Any = None

    def create(self, i: int) -> None:
        if self._http is None:
            from django.test import Client as HttpClient

            self._http = HttpClient(headers={"authorization": f"Bearer {self.token}"})
        payload = self.payloads[i % len(self.payloads)]
        response = self._http.post(self.url, payload, content_type="application/json")
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"POST {self.url} answered {response.status_code}: {response.content[:500]!r}"
            )

    def run(self, limit: int, seconds: float) -> tuple[int, list[float], float]:
        count, samples = 0, []
        started = time.perf_counter()
        deadline = started + seconds
        while count < limit and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            self.create(count)
            samples.append((time.perf_counter() - t0) * 1000)
            count += 1
        return count, samples, time.perf_counter() - started

    def worker(self, queue: Any, start_at: float, seconds: float, k: int) -> None:
        try:
            self._http = None
            self.create(k)  # opens this process's own connection before the clock starts
            time.sleep(max(0.0, start_at - time.time()))
            count, samples, _elapsed = self.run(10**9, seconds)
            queue.put((count, samples))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            queue.put(f"{type(exc).__name__}: {exc}")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from django.db import connection
        from django.test import Client as HttpClient

        from atalaya.core.models import Client, User
        from atalaya.tickets.models import Ticket

        self.args = args
        self.rng = random.Random(11)
        self.tech = User.objects.filter(role="technician").order_by("id").first()
        self.http = HttpClient()
        self.http.force_login(self.tech)
        self.vendor = connection.vendor
        max_id = Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.max_id = max_id
        self.clients = [
            str(c) for c in Client.objects.order_by("id").values_list("public_id", flat=True)
        ]

    def get(self, url: str, expect: int = 200) -> Any:
        response = self.http.get(url)
        if response.status_code != expect:
            raise SystemExit(f"GET {url} answered {response.status_code}, expected {expect}")
        return response

    # scenarios ----------------------------------------------------------------------

    def list_urls(self) -> list[tuple[str, str]]:
        """The list's first page: the default (open tickets, newest activity first) and filters."""
        from django.urls import reverse

        base = reverse("tickets:list")
        client = self.clients[len(self.clients) // 2]
        combos = [
            ("default", {}),
            ("all", {"status": "all"}),
            ("mine", {"assignee": "me"}),
            ("client", {"client": client, "status": "all"}),
            ("waiting_client", {"status": "waiting_client"}),
            ("urgent", {"priority": "urgent"}),
            ("breached", {"sla": "breached"}),
            ("category", {"category": "remote-access"}),
            ("created", {"sort": "created"}),
        ]
        return [
            (label, f"{base}?{urlencode(params)}" if params else base) for label, params in combos
        ]

    def search_terms(self) -> list[tuple[str, str]]:
        return [
            ("common", "vpn"),
            ("common_en", "password"),
            ("spanish", "impresora"),
            ("rare", "zimbra"),
            ("two_words", "outlook correo"),
            ("host", "PC0412"),
            ("none", "zzyzxq"),
        ]

    def random_numbers(self, count: int) -> list[int]:
        from atalaya.tickets.models import Ticket

        ids = [self.rng.randint(1, self.max_id) for _ in range(count)]
        return list(Ticket.objects.filter(id__in=ids).values_list("number", flat=True))

    def run_views(self) -> None:
        from django.urls import reverse

        args = self.args
        # Ticket list, first page: the default and a few common filters.
        all_samples: list[float] = []
        for label, url in self.list_urls():
            samples = timed(lambda url=url: self.get(url), args.repeat, args.warmup)
            all_samples += samples
            report(f"ticket_list_{label}", samples, results=False)
            query_profile(f"list {label} {url}", lambda url=url: self.get(url))
        report("ticket_list", all_samples)

        # Full-text search through the list's q= parameter.
        base = reverse("tickets:list")
        all_samples = []
        for label, term in self.search_terms():
            url = f"{base}?{urlencode({'q': term})}"
            samples = timed(lambda url=url: self.get(url), args.repeat, args.warmup)
            all_samples += samples
            report(f"ticket_search_{label}", samples, results=False)
            query_profile(f"search {label} {term!r}", lambda url=url: self.get(url))
        report("ticket_search", all_samples)

        # Ticket page of random tickets (each a cold-ish one).
        # Ticket page of random tickets, each one a different (cold-ish) ticket.
        numbers = self.random_numbers(args.repeat * 3 + args.warmup)
        for n in numbers[: args.warmup]:
            self.get(reverse("tickets:detail", kwargs={"number": n}))
        samples = []
        for n in numbers[args.warmup :]:
            url = reverse("tickets:detail", kwargs={"number": n})
            t0 = time.perf_counter()
            self.get(url)
            samples.append((time.perf_counter() - t0) * 1000)
        report("ticket_page", samples)
        last = reverse("tickets:detail", kwargs={"number": numbers[-1]})
        query_profile(f"ticket page {last}", lambda: self.get(last))

    def run_api_create(self) -> None:
        """POST /api/v1/tickets with a bearer token: one process, then one per core.

        Each request goes through the API's auth, validation and the create_ticket
        service (number, SLA clocks, timeline event, search document) and commits. The
        single-process figure is sequential requests; the headline runs ``--api-workers``
        processes side by side, as a server runs several workers per machine.
        """
        from django.db import connections

        from atalaya.core.models import Client, ContactMembership
        from atalaya.core.services import create_api_token

        _token, raw = create_api_token(actor=None, user=self.tech, name=f"bench {time.time():.0f}")
        clients = list(Client.objects.order_by("id")[:50])
        contacts = {
            m.client_id: m.contact
            for m in ContactMembership.objects.select_related("contact").filter(client__in=clients)
        }
        payloads = []
        for i in range(64):
            client = clients[i % len(clients)]
            payloads.append(
                {
                    "client": str(client.public_id),
                    "contact": str(contacts[client.pk].public_id),
                    "subject": f"{API_SUBJECT} {i}",
                    "body": "Hola, desde esta mañana la VPN no conecta. El error dice 0x80070005.",
                    "priority": "normal",
                    "category": "remote-access",
                }
            )
        creator = Creator(raw, self.args.api_url, payloads)
        for i in range(self.args.warmup * 4):
            creator.create(i)
        query_profile("api create", lambda: creator.create(0), top=12)

        count, samples, elapsed = creator.run(self.args.api_count, self.args.api_seconds)
        report("api_ticket_create_1worker", samples, results=False)
        result("api_ticket_create_1worker_per_s", count / elapsed, "per_s")

        workers = self.args.api_workers
        connections.close_all()  # each forked worker opens its own
        ctx = multiprocessing.get_context("fork")
        queue: Any = ctx.Queue()
        start_at = time.time() + 1.0
        procs = [
            ctx.Process(target=creator.worker, args=(queue, start_at, self.args.api_seconds, k))
            for k in range(workers)
        ]
        for proc in procs:
            proc.start()
        outcomes = [queue.get(timeout=self.args.api_seconds + 120) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        failures = [o for o in outcomes if isinstance(o, str)]
        if failures:
            raise SystemExit(f"API worker failed: {failures[0]}")
        total = sum(n for n, _ in outcomes)
        merged = [ms for _, lat in outcomes for ms in lat]
        report(f"api_ticket_create_{workers}workers", merged, results=False)
        log(f"{workers} workers created {total} tickets in {self.args.api_seconds:.0f} s")
        result("api_ticket_create_per_s", total / self.args.api_seconds, "per_s")

    def run_direct(self) -> None:
        """The list and search querysets without the view, for comparison and for EXPLAIN."""
        from atalaya.tickets import access, search

        def page(q: str = "", **filters: Any) -> list[Any]:
            qs = (
                access.visible_tickets(self.tech)
                .filter(**filters)
                .select_related("client", "assignee", "category", "contact")
            )
            if q:
                qs = search.filter_tickets(qs, q)
            return list(qs.order_by("-updated_at")[:26])

        for label, q, filters in [("default", "", {}), ("open", "", {"status": "open"})] + [
            (f"search_{label}", term, {}) for label, term in self.search_terms()
        ]:
            samples = timed(
                lambda q=q, filters=filters: page(q, **filters), self.args.repeat, self.args.warmup
            )
            report(f"direct_{label}", samples, results=False)
            if self.args.explain:
                qs = access.visible_tickets(self.tech).filter(**filters)
                if q:
                    qs = search.filter_tickets(qs, q)
                log(f"plan {label}:\n" + explain(qs.order_by("-updated_at")[:26]))


def explain(qs: Any) -> str:
    from django.db import connection

    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join("    " + " ".join(str(c) for c in row) for row in cursor.fetchall())


API_SUBJECT = "Benchmark: la VPN no conecta desde casa"


def forget_api_tickets() -> int:
    """Delete the tickets the API measurement created, with their timelines.

    Left in place they pile up run after run at the top of the open list (the newest
    activity), and every later search for a word they lack walks past all of them: the
    figures drifted by tens of milliseconds after a few runs. Raw SQL, since the
    timeline refuses deletes through the ORM by design.
    """
    from django.db import connection, transaction

    tickets = f"SELECT id FROM tickets_ticket WHERE subject LIKE '{API_SUBJECT}%'"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM tickets_searchdocument WHERE ticket_id IN ({tickets})")
        cursor.execute(f"DELETE FROM tickets_ticketevent WHERE ticket_id IN ({tickets})")
        cursor.execute(f"DELETE FROM tickets_ticket WHERE subject LIKE '{API_SUBJECT}%'")
        return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--technicians", type=int, default=12)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database already seeded with N tickets"
    )
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--api-count", type=int, default=3000, help="at most this many API creations"
    )
    parser.add_argument("--api-seconds", type=float, default=15.0, help="and for at most this long")
    parser.add_argument("--api-url", default="/api/v1/tickets")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="processes creating tickets side by side for the headline figure (default: cores)",
    )
    parser.add_argument("--only", default="views,api", help="comma list of: views, api, direct")
    parser.add_argument(
        "--explain", action="store_true", help="print query plans in the direct section"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the measuring to FILE"
    )
    args = parser.parse_args()

    url = configure_database(args.tickets, fresh=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    log(f"database {connection.vendor} {url.rsplit('/', 1)[-1]}")
    have = seeded_count() if args.reuse else None
    if have != args.tickets:
        if args.reuse:
            log(f"no reusable seed of {args.tickets} tickets (found {have}); seeding afresh")
        connection.close()
        configure_database(args.tickets, fresh=True)
        call_command("migrate", verbosity=0)
        seed(args.tickets, args.clients, args.technicians)
    else:
        call_command("migrate", verbosity=0)
        log(f"reusing the seeded database of {have} tickets")
        if gone := forget_api_tickets():
            log(f"deleted {gone} tickets left by earlier API measurements")
    if args.seed_only:
        return

    from atalaya.tickets.models import Ticket, TicketEvent

    tickets, events = Ticket.objects.count(), TicketEvent.objects.count()
    log(f"{tickets} tickets, {events} events ({events / max(tickets, 1):.2f} per ticket)")
    bench = Bench(args)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if "direct" in sections:
        bench.run_direct()
    if "views" in sections:
        bench.run_views()
    if "api" in sections:
        bench.run_api_create()
        forget_api_tickets()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        log(f"profile written to {args.profile}")


if __name__ == "__main__":
    main()

"""Monthly client reports: one month's reports of 200 clients, with a year of data, to PDF.

    .venv/bin/python benchmarks/reports.py                       # SQLite, 200 clients
    .venv/bin/python benchmarks/reports.py --database postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/reports.py --clients 20 --workers 1   # a quick run

Seeds a dedicated database (``var/bench/reports_bench.sqlite3``, or a database
``bench_reports`` on the PostgreSQL server given, created and dropped by the script)
with ``--clients`` clients and a year of data each: tickets with SLA clocks (some
answered or resolved late), devices with a month of 15-minute check-in rollups (with
outages) and their alerts, scan findings, temporary fixes, issued invoices and
payments. Clients go through the services, the bulk rows through ``bulk_create`` /
``executemany`` in large transactions.

Then it renders the last full month's report of every client to PDF the way the
monthly run does (figures, body in the client's language, WeasyPrint), in a process
pool of ``--workers`` (default: one per core) over the clients, and prints
``RESULT monthly_reports_200_s`` (target ≤ 60 s on two cores) and ``#`` lines with
where the time went (queries and figures, templates and charts, WeasyPrint).

If ``benchmarks/kb_search.py`` exists (the knowledge base's benchmark) it also prints
``RESULT kb_search_p95_ms`` from its ``measure(articles=10000)``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _billing_db import configure, log  # noqa: E402

YEAR, MONTH = 2026, 10  # the reported month; the data runs a year up to its end
DATA_START = datetime(2025, 11, 1, tzinfo=UTC)
DATA_END = datetime(2026, 11, 1, tzinfo=UTC)


def seed(n_clients: int, devices_per_client: int, rng: random.Random) -> None:
    from django.db import connection, transaction

    from atalaya.billing.models import (
        Invoice,
        InvoiceSeries,
        Payment,
        PaymentAllocation,
    )
    from atalaya.core import services as core_services
    from atalaya.core.models import Contact, ContactMembership, Site, User
    from atalaya.monitoring.models import Alert, Device
    from atalaya.security.models import Finding, TemporaryFix
    from atalaya.tickets.models import Category, Ticket

    t0 = time.perf_counter()
    tech = User.objects.create(username="bench-tech", role="technician")
    categories = list(Category.objects.all())
    series = InvoiceSeries.objects.create(code="B", prefix="B-")
    clients = []
    for i in range(n_clients):
        clients.append(
            core_services.create_client(
                actor=None,
                name=f"Cliente {i:03d}",
                language="es" if i % 3 else "en",
                mail_domains=[f"c{i}.example"],
            )
        )
    sites = Site.objects.bulk_create([Site(client=c, name="HQ") for c in clients])
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Persona {i}", email=f"p@c{i}.example") for i in range(n_clients)]
    )
    ContactMembership.objects.bulk_create(
        [
            ContactMembership(contact=p, client=c, site=s, is_decision_maker=True)
            for p, c, s in zip(contacts, clients, sites, strict=True)
        ]
    )
    log(f"seed: {n_clients} clients in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    span = (DATA_END - DATA_START).total_seconds()
    tickets: list[Ticket] = []
    number = 1_000_000
    for client, site, contact in zip(clients, sites, contacts, strict=True):
        for _ in range(rng.randint(200, 400)):  # a year of tickets
            number += 1
            created = DATA_START + timedelta(seconds=rng.random() * span)
            fr_due = created + timedelta(hours=4)
            responded = created + timedelta(minutes=rng.expovariate(1 / 120))
            res_due = created + timedelta(days=3)
            resolved = created + timedelta(hours=rng.expovariate(1 / 40))
            done = resolved < DATA_END
            tickets.append(
                Ticket(
                    number=number,
                    client=client,
                    site=site,
                    contact=contact,
                    category=rng.choice(categories),
                    subject="Incidencia",
                    status="closed" if done else "open",
                    created_at=created,
                    updated_at=resolved if done else created,
                    first_response_due_at=fr_due,
                    first_responded_at=responded if responded < DATA_END else None,
                    resolution_due_at=res_due,
                    resolved_at=resolved if done else None,
                    closed_at=resolved if done else None,
                )
            )
    with transaction.atomic():
        Ticket.objects.bulk_create(tickets, batch_size=2000)
    log(f"seed: {len(tickets)} tickets in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    devices = Device.objects.bulk_create(
        [
            Device(
                client=c,
                site=s,
                hostname=f"pc{k}-{c.pk}",
                token_hash=f"{c.pk:032d}{k:032d}",
                token_hint=f"{k}",
                enrolled_at=DATA_START,
            )
            for c, s in zip(clients, sites, strict=True)
            for k in range(devices_per_client)
        ]
    )
    first = int(datetime(2026, 9, 30, 22, tzinfo=UTC).timestamp()) // 900
    last = int(DATA_END.timestamp()) // 900
    table = "monitoring_metricrollup"
    sql = f"INSERT INTO {table} (device_id, bucket, samples) VALUES (%s, %s, %s)"  # noqa: S608
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for device in devices:
            # An outage or two a month: a run of missing buckets.
            gap = rng.randrange(first, last)
            gap_len = rng.randint(0, 200)
            batch = [(device.pk, b, 15) for b in range(first, last) if not gap <= b < gap + gap_len]
            cursor.executemany(sql, batch)
            rows += len(batch)
    alerts = []
    for device in devices:
        for n in range(rng.randint(5, 40)):
            at = DATA_START + timedelta(seconds=rng.random() * span)
            alerts.append(
                Alert(
                    client_id=device.client_id,
                    site_id=device.site_id,
                    device=device,
                    kind="disk",
                    target=f"/v{n}",
                    severity=rng.choice(["info", "warning", "warning", "critical"]),
                    message="Disco casi lleno",
                    opened_at=at,
                    changed_at=at,
                    resolved_at=at + timedelta(hours=2),
                )
            )
    Alert.objects.bulk_create(alerts, batch_size=2000)
    log(
        f"seed: {len(devices)} devices, {rows} rollups, {len(alerts)} alerts "
        f"in {time.perf_counter() - t0:.1f} s"
    )

    t0 = time.perf_counter()
    findings, fixes, invoices = [], [], []
    for client, site in zip(clients, sites, strict=True):
        for n in range(rng.randint(3, 15)):
            seen = DATA_START + timedelta(seconds=rng.random() * span)
            resolved = seen + timedelta(days=rng.randint(1, 90))
            findings.append(
                Finding(
                    client=client,
                    site=site,
                    kind="risky_service",
                    severity=rng.choice(["low", "medium", "high"]),
                    status="resolved" if resolved < DATA_END else "open",
                    fingerprint=f"f{n}",
                    title=f"Puerto abierto {n}",
                    first_seen_at=seen,
                    last_seen_at=seen,
                    resolved_at=resolved if resolved < DATA_END else None,
                )
            )
        for n in range(rng.randint(0, 4)):
            created = DATA_START + timedelta(days=rng.randint(0, 360))
            fixes.append(
                TemporaryFix(
                    client=client,
                    title=f"Cambio temporal {n}",
                    reason="Teletrabajo",
                    owner=tech,
                    created_by=tech,
                    created_at=created,
                    revert_by=(created + timedelta(days=rng.randint(10, 120))).date(),
                )
            )
        for m in range(12):
            day = date(2025 + (10 + m) // 12, (10 + m) % 12 + 1, 5)
            net = Decimal(rng.randint(100, 3000)).quantize(Decimal("0.01"))
            vat = (net * Decimal("0.21")).quantize(Decimal("0.01"))
            invoices.append(
                Invoice(
                    client=client,
                    series=series,
                    number=len(invoices) + 1,
                    code=f"B-{len(invoices) + 1}",
                    status="issued",
                    issue_date=day,
                    due_date=day + timedelta(days=30),
                    net_total=net,
                    vat_total=vat,
                    total=net + vat,
                )
            )
    Finding.objects.bulk_create(findings, batch_size=2000)
    TemporaryFix.objects.bulk_create(fixes, batch_size=2000)
    invoices = Invoice.objects.bulk_create(invoices, batch_size=2000)
    payments, allocations = [], []
    for invoice in invoices:
        if rng.random() < 0.85:
            payments.append(
                Payment(
                    client_id=invoice.client_id,
                    method="transfer",
                    amount=invoice.total,
                    received_on=invoice.due_date,
                )
            )
            allocations.append((invoice, len(payments) - 1))
    payments = Payment.objects.bulk_create(payments, batch_size=2000)
    PaymentAllocation.objects.bulk_create(
        [
            PaymentAllocation(payment=payments[i], invoice=inv, amount=inv.total)
            for inv, i in allocations
        ],
        batch_size=2000,
    )
    log(
        f"seed: {len(findings)} findings, {len(fixes)} fixes, {len(invoices)} invoices, "
        f"{len(payments)} payments in {time.perf_counter() - t0:.1f} s"
    )


def _worker_init() -> None:
    import django

    django.setup()
    from django.db import connections

    connections.close_all()


def render_clients(client_ids: list[int]) -> dict[str, float]:
    """Figures, body and PDF of each client's report; seconds spent in each step."""
    from atalaya.core.models import Client
    from atalaya.reports import render
    from atalaya.reports.figures import monthly_figures

    spent = {"figures": 0.0, "template": 0.0, "weasyprint": 0.0, "bytes": 0.0}
    cpu = time.process_time()
    now = datetime(2026, 11, 2, 8, tzinfo=UTC)
    for client in Client.objects.filter(pk__in=client_ids):
        t0 = time.perf_counter()
        figures = monthly_figures(client, YEAR, MONTH, now=now)
        t1 = time.perf_counter()
        body = render.render_body(figures, client.language)
        t2 = time.perf_counter()
        pdf = render.render_pdf(str(body), figures, client.language)
        t3 = time.perf_counter()
        spent["figures"] += t1 - t0
        spent["template"] += t2 - t1
        spent["weasyprint"] += t3 - t2
        spent["bytes"] += len(pdf)
    spent["cpu"] = time.process_time() - cpu
    return spent


def measure(workers: int) -> None:
    from django.db import connections

    from atalaya.core.models import Client

    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))
    connections.close_all()
    chunks = [ids[i :: workers * 4] for i in range(workers * 4)]
    t0 = time.perf_counter()
    totals: dict[str, float] = {}
    if workers == 1:
        parts = [render_clients(ids)]
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
            parts = list(pool.map(render_clients, chunks))
    elapsed = time.perf_counter() - t0
    for part in parts:
        for key, value in part.items():
            totals[key] = totals.get(key, 0.0) + value
    busy = totals["figures"] + totals["template"] + totals["weasyprint"]
    log(
        f"profile (CPU-seconds over {workers} worker(s)): figures and queries "
        f"{totals['figures']:.1f} s, templates and charts {totals['template']:.1f} s, "
        f"WeasyPrint {totals['weasyprint']:.1f} s ({100 * totals['weasyprint'] / busy:.0f} %)"
    )
    log(
        f"CPU time of the workers {totals['cpu']:.1f} s ({1000 * totals['cpu'] / len(ids):.0f} ms "
        f"a report); on a busy machine the wall time includes waiting for a core"
    )
    log(
        f"per report: {1000 * busy / len(ids):.0f} ms; "
        f"average PDF {totals['bytes'] / len(ids) / 1024:.0f} KiB"
    )
    print(f"RESULT monthly_reports_{len(ids)}_s={elapsed:.1f} s", flush=True)


def kb_search() -> None:
    if not (HERE / "kb_search.py").exists():
        log("kb_search: benchmarks/kb_search.py is not there yet; skipped")
        return
    spec = importlib.util.spec_from_file_location("kb_search", HERE / "kb_search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.measure(articles=10000)
    print(f"RESULT kb_search_p95_ms={result['kb_search_p95_ms']:.1f} ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--devices", type=int, default=5, help="devices per client")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-kb", action="store_true", help="skip the knowledge base search")
    args = parser.parse_args()
    configure("bench_reports" if args.database else "reports_bench", args.database)
    import django

    django.setup()
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    log(f"migrate: {time.perf_counter() - t0:.1f} s")
    seed(args.clients, args.devices, random.Random(7))
    measure(max(1, args.workers))
    if not args.no_kb:
        kb_search()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

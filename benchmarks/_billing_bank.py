"""A camt.053 statement of 50,000 entries imported and reconciled.

Seeds a fresh database (SQLite file under ``var/bench/``, or with ``--database URL`` a
database ``bench_billing_bank`` on that PostgreSQL server), in bulk and directly:
``--clients`` clients (default 1,000) with a SEPA mandate each, and for a statement of
``--entries`` entries (default 50,000) a quarter each of

* direct debits submitted to the bank, settled in the statement by end-to-end id (one
  in fifty of them comes back instead, with a return reason code);
* issued invoices paid by transfer quoting the invoice code in the remittance text;
* issued invoices paid by transfer from the client's mandate account, amount only;
* entries nobody can match (unknown payers, no reference).

Then times ``bank.import_statement`` (parse, store, reconcile, write the payments):

    RESULT camt_50k_reconcile_s=… s        (target ≤ 30 s)
    RESULT camt_50k_matched=… entries
    RESULT camt_50k_unmatched=… entries

and imports the same file again (must change nothing).

    .venv/bin/python benchmarks/_billing_bank.py
    .venv/bin/python benchmarks/_billing_bank.py --database postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/_billing_bank.py --profile
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _billing_db import configure, log  # noqa: E402

BOOKED = date(2026, 11, 20)
DB_NAME = "bench_billing_bank"
MSP_IBAN = "ES9121000418450200051332"


def seed(clients: int, entries: int, rng: random.Random) -> tuple[list[Any], dict[str, int]]:
    """The books and the statement's lines (in random order)."""
    import schwifty
    from django.db import transaction
    from django.utils import timezone

    from atalaya.billing.models import (
        BillingProfile,
        BillingSettings,
        Collection,
        CollectionBatch,
        Invoice,
        InvoiceSeries,
        Mandate,
    )
    from atalaya.billing.services.collections import new_end_to_end_id
    from atalaya.billing.tests.statement_files import Line
    from atalaya.core.models import Client

    settings = BillingSettings.load()
    settings.legal_name = "Atalaya Servicios SL"
    settings.iban = MSP_IBAN
    settings.creditor_id = "ES12ZZZB12345678"
    settings.save()
    quarter = entries // 4
    now = timezone.now()
    with transaction.atomic():
        Client.objects.bulk_create(
            Client(name=f"Cliente {n:05d} S.L.", language="es" if n % 4 else "en")
            for n in range(clients)
        )
        client_ids = list(Client.objects.order_by("id").values_list("id", flat=True))
        BillingProfile.objects.bulk_create(
            BillingProfile(client_id=c, invoice_email=f"facturas{c}@cliente.example")
            for c in client_ids
        )
        ibans = {
            c: schwifty.IBAN.generate("ES", bank_code="21000813", account_code=f"{c:010d}").compact
            for c in client_ids
        }
        Mandate.objects.bulk_create(
            Mandate(
                client_id=c,
                reference=f"MAND-{c:06d}",
                signed_on=date(2025, 1, 1),
                debtor_name=f"Cliente {c}",
                iban=ibans[c],
                sequence="RCUR",
            )
            for c in client_ids
        )
        mandate_of = dict(Mandate.objects.values_list("client_id", "id"))
        series = InvoiceSeries.objects.create(code="F2026", prefix="F2026-")
        # Three kinds of invoice, a quarter of the entries each; every open invoice of a
        # client has its own amount, so the match by amount can be unique.
        invoices = []
        for n in range(3 * quarter):
            kind = n % 3  # 0 direct debit, 1 by reference, 2 by amount
            client_id = client_ids[n % clients]
            total = Decimal(1000 + n) / 100 + 50
            invoices.append(
                Invoice(
                    client_id=client_id,
                    series=series,
                    number=n + 1,
                    code=f"F2026-{n + 1:06d}",
                    status="issued",
                    kind="invoice",
                    issue_date=BOOKED - timedelta(days=30),
                    due_date=BOOKED - timedelta(days=1),
                    payment_method="direct_debit" if kind == 0 else "transfer",
                    mandate_id=mandate_of[client_id] if kind == 0 else None,
                    net_total=total,
                    vat_total=Decimal("0.00"),
                    total=total,
                    issued_at=now,
                )
            )
        Invoice.objects.bulk_create(invoices, batch_size=2000)
        InvoiceSeries.objects.filter(pk=series.pk).update(next_number=len(invoices) + 1)
        batch = CollectionBatch.objects.create(
            message_id="BENCH-RCUR", due_on=BOOKED, sequence="RCUR", submitted_at=now
        )
        debits = [inv for n, inv in enumerate(invoices) if n % 3 == 0]
        collections = [
            Collection(
                client_id=inv.client_id,
                invoice=inv,
                mandate_id=inv.mandate_id,
                batch=batch,
                amount=inv.total,
                end_to_end_id=new_end_to_end_id(),
                due_on=BOOKED,
                sequence="RCUR",
                status="submitted",
                prenotified_at=now - timedelta(days=15),
                submitted_at=now - timedelta(days=3),
            )
            for inv in debits
        ]
        Collection.objects.bulk_create(collections, batch_size=2000)
    lines: list[Any] = []
    for n, collection in enumerate(collections):
        if n % 50 == 0:
            lines.append(
                Line(
                    f"-{collection.amount}",
                    e2e=collection.end_to_end_id,
                    reason=rng.choice(["AM04", "MD06", "AC04", "MS02"]),
                    name=f"Cliente {collection.client_id}",
                    bank_ref=f"R{n:07d}",
                )
            )
        else:
            lines.append(
                Line(collection.amount, e2e=collection.end_to_end_id, bank_ref=f"D{n:07d}")
            )
    for n, inv in enumerate(invoices):
        if n % 3 == 1:
            lines.append(
                Line(
                    inv.total,
                    remittance=f"Pago factura {inv.code} gracias",
                    name=f"Cliente {inv.client_id}",
                    iban=schwifty.IBAN.generate(
                        "ES", bank_code="00492352", account_code=f"{n:010d}"
                    ).compact,
                    bank_ref=f"T{n:07d}",
                )
            )
        elif n % 3 == 2:
            lines.append(
                Line(
                    inv.total,
                    remittance="Transferencia",
                    name=f"Cliente {inv.client_id}",
                    iban=ibans[inv.client_id],
                    bank_ref=f"A{n:07d}",
                )
            )
    for n in range(entries - len(lines)):
        lines.append(
            Line(
                f"{rng.randint(100, 99999) / 100:.2f}"
                if n % 5
                else f"-{rng.randint(100, 9999) / 100:.2f}",
                remittance=rng.choice(["Ingreso", "Devolucion proveedor", "Abono", ""]),
                iban=schwifty.IBAN.generate(
                    "ES", bank_code="30580001", account_code=f"{n:010d}"
                ).compact,
                bank_ref=f"U{n:07d}",
            )
        )
    rng.shuffle(lines)
    counts = {
        "clients": clients,
        "invoices": len(invoices),
        "collections": len(collections),
        "entries": len(lines),
    }
    return lines, counts


def measure(args: argparse.Namespace) -> list[str]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries

    from atalaya.billing import balance
    from atalaya.billing.models import BankEntry, Collection, Payment
    from atalaya.billing.services import bank
    from atalaya.billing.tests.statement_files import camt053

    rng = random.Random(43)
    log(f"database {connection.vendor} {connection.settings_dict['NAME']}")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    lines, counts = seed(args.clients, args.entries, rng)
    data = camt053(lines, iban=MSP_IBAN, start=BOOKED, end=BOOKED)
    log(
        "seeded in {:.1f} s: {clients} clients, {invoices} invoices, {collections} submitted "
        "debits; statement of {entries} entries, {mb:.1f} MB".format(
            time.perf_counter() - started, mb=len(data) / 1e6, **counts
        )
    )
    profiler = None
    if args.profile:
        import cProfile

        # CPU time, not wall time: the machine is shared and a busy neighbour would show
        # up as time spent anywhere.
        profiler = cProfile.Profile(time.perf_counter if args.wall else time.process_time)
    settings.DEBUG = bool(args.queries)
    reset_queries()
    if profiler:
        profiler.enable()
    t0, cpu0 = time.perf_counter(), time.process_time()
    statement = bank.import_statement(actor=None, data=data, filename="bench.camt053.xml")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if profiler:
        profiler.disable()
    queries = len(connection.queries) if args.queries else None
    settings.DEBUG = False
    result = statement.result
    log(
        f"imported in {elapsed:.2f} s ({cpu:.2f} s of this process's CPU; the rest is waiting"
        " for the database or for a busy machine)"
        + (f" ({queries} queries)" if queries is not None else "")
        + ": "
        + ", ".join(f"{k} {v}" for k, v in result.as_dict().items())
    )
    again = time.perf_counter()
    second = bank.import_statement(actor=None, data=data, filename="again.xml")
    log(
        f"the same file again: duplicate={second.result.duplicate_file} "
        f"in {time.perf_counter() - again:.2f} s"
    )
    problems = []
    expected_returns = (counts["collections"] + 49) // 50
    if result.returned != expected_returns:
        problems.append(f"returned {result.returned} != {expected_returns}")
    if result.settled != counts["collections"] - expected_returns:
        problems.append(f"settled {result.settled}")
    if (
        result.by_reference != counts["invoices"] // 3
        or result.by_amount != counts["invoices"] // 3
    ):
        problems.append(f"by reference {result.by_reference}, by amount {result.by_amount}")
    if BankEntry.objects.count() != counts["entries"]:
        problems.append("entries stored")
    if Collection.objects.filter(status="submitted").exists():
        problems.append("collections left submitted")
    sample = list(Payment.objects.filter(bank_entry__isnull=False).order_by("?")[:50])
    paid_ids = [a.invoice_id for p in sample for a in p.allocations.all()]
    open_left = [v for v in balance.open_balances(paid_ids).values() if v != 0]
    if open_left:
        problems.append(f"{len(open_left)} sampled paid invoices still open")
    if not second.result.duplicate_file:
        problems.append("second import not a duplicate")
    if profiler:
        import pstats

        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.print_callees("mark_returned|_notify_return|create_system_ticket")
        stats.sort_stats("tottime").print_stats(20)
    if problems:
        log("FAILED: " + "; ".join(problems))
    return [
        f"RESULT camt_50k_reconcile_s={elapsed:.2f} s",
        f"RESULT camt_50k_matched={result.matched} entries",
        f"RESULT camt_50k_unmatched={result.unmatched} entries",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the run")
    parser.add_argument("--queries", action="store_true", help="count the run's queries")
    parser.add_argument(
        "--wall", action="store_true", help="profile wall time (database waits) instead of CPU"
    )
    args, _rest = parser.parse_known_args()
    configure(DB_NAME, args.database)
    for line in measure(args):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

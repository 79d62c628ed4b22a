"""A reminder proposal over 100,000 open invoices.

Seeds a fresh database (SQLite file under ``var/bench/``, or with ``--database URL`` a
database ``bench_billing_reminders`` on that PostgreSQL server), in bulk and directly:
``--clients`` clients (default 2,000, a quarter of them English-speaking) with a billing
e-mail each, and ``--invoices`` issued invoices (default 100,000) due between 90 days
ago and 10 days ahead, of which

* one in five is paid in full and one in ten in part (payments with allocations);
* one in twenty is paid by a direct debit still on its way (scheduled or submitted),
  one in fifty by one that came back (returned, with its reason code);
* one in a hundred is disputed; twenty clients have a pause of their own;
* one in six has had the friendly notice already, one in twelve the reminder too;
* a credit note corrects one in a hundred.

Then times ``reminders.propose_run`` (every decision, every preview rendered in the
client's language, the items written):

    RESULT reminder_proposal_100k_s=… s        (target ≤ 10 s)
    RESULT reminder_proposal_100k_proposed=… items
    RESULT reminder_proposal_100k_excluded=… invoices

    .venv/bin/python benchmarks/_billing_reminders.py
    .venv/bin/python benchmarks/_billing_reminders.py --database postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/_billing_reminders.py --profile
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _billing_db import configure, log  # noqa: E402

DB_NAME = "bench_billing_reminders"
BATCH = 5000


def seed(clients: int, invoices: int, rng: random.Random, now: Any) -> dict[str, int]:
    """The books, written straight into the tables in bulk."""
    from django.db import transaction

    from atalaya.billing.models import (
        BankStatement,
        BillingProfile,
        BillingSettings,
        Collection,
        Invoice,
        InvoiceSeries,
        Mandate,
        Payment,
        PaymentAllocation,
        ReminderItem,
        ReminderPause,
        ReminderRun,
        SentReminder,
    )
    from atalaya.billing.services.reminders import default_policy
    from atalaya.core.models import Client

    settings = BillingSettings.load()
    settings.legal_name = "Atalaya Servicios SL"
    settings.save()
    default_policy()
    today = now.date()
    counts = {"clients": clients, "invoices": invoices}
    with transaction.atomic():
        Client.objects.bulk_create(
            (
                Client(name=f"Cliente {n:05d} S.L.", language="en" if n % 4 == 0 else "es")
                for n in range(clients)
            ),
            batch_size=BATCH,
        )
        client_ids = list(Client.objects.order_by("id").values_list("id", flat=True))
        BillingProfile.objects.bulk_create(
            (
                BillingProfile(client_id=c, invoice_email=f"facturas{c}@cliente.example")
                for c in client_ids
            ),
            batch_size=BATCH,
        )
        Mandate.objects.bulk_create(
            (
                Mandate(
                    client_id=c,
                    reference=f"MAND-{c:06d}",
                    signed_on=today - timedelta(days=400),
                    debtor_name=f"Cliente {c}",
                    iban="ES9121000418450200051332",
                    sequence="RCUR",
                )
                for c in client_ids
            ),
            batch_size=BATCH,
        )
        mandate_of = dict(Mandate.objects.values_list("client_id", "id"))
        series = InvoiceSeries.objects.create(code="F2026", prefix="F2026-")
        credit_series = InvoiceSeries.objects.create(
            code="R2026", prefix="R2026-", is_for_credit_notes=True
        )
        rows = []
        for n in range(invoices):
            client = client_ids[n % len(client_ids)]
            net = Decimal(rng.randrange(2000, 200000)) / 100
            vat = (net * Decimal("0.21")).quantize(Decimal("0.01"))
            due = today - timedelta(days=rng.randint(-10, 90))
            debit = n % 20 == 3 or n % 50 == 7
            rows.append(
                Invoice(
                    client_id=client,
                    series=series,
                    number=n + 1,
                    code=f"F2026-{n + 1:06d}",
                    status="issued",
                    issue_date=due - timedelta(days=30),
                    due_date=due,
                    net_total=net,
                    vat_total=vat,
                    total=net + vat,
                    payment_method="direct_debit" if debit else "transfer",
                    mandate_id=mandate_of[client] if debit else None,
                    issued_at=now,
                    is_disputed=n % 100 == 11,
                    dispute_reason="Hours not agreed" if n % 100 == 11 else "",
                    language="es",
                )
            )
        Invoice.objects.bulk_create(rows, batch_size=BATCH)
        invoice_rows = list(
            Invoice.objects.order_by("id").values_list("id", "client_id", "total", "due_date")
        )
        payments, collections, credit_notes = [], [], []
        for n, (pk, client, total, due) in enumerate(invoice_rows):
            if n % 5 == 0:
                payments.append((pk, client, total))
            elif n % 10 == 1:
                payments.append((pk, client, (total / 3).quantize(Decimal("0.01"))))
            elif n % 20 == 3:
                status = "scheduled" if n % 40 == 3 else "submitted"
                collections.append((pk, client, total, status, due))
            elif n % 50 == 7:
                collections.append((pk, client, total, "returned", due))
            elif n % 100 == 13:
                credit_notes.append((pk, client, total))
        Payment.objects.bulk_create(
            (
                Payment(
                    client_id=client,
                    method="transfer",
                    amount=amount,
                    received_on=today - timedelta(days=5),
                    reference=f"pay-{pk}",
                    created_at=now,
                )
                for pk, client, amount in payments
            ),
            batch_size=BATCH,
        )
        pay_ids = list(Payment.objects.order_by("id").values_list("id", flat=True))
        PaymentAllocation.objects.bulk_create(
            (
                PaymentAllocation(payment_id=pay_id, invoice_id=pk, amount=amount)
                for pay_id, (pk, _client, amount) in zip(pay_ids, payments, strict=True)
            ),
            batch_size=BATCH,
        )
        Collection.objects.bulk_create(
            (
                Collection(
                    client_id=client,
                    invoice_id=pk,
                    mandate_id=mandate_of[client],
                    amount=total,
                    end_to_end_id=f"E2E-{pk:08d}",
                    due_on=due,
                    sequence="RCUR",
                    status=status,
                    return_reason="AM04" if status == "returned" else "",
                    returned_at=now - timedelta(days=10) if status == "returned" else None,
                )
                for pk, client, total, status, due in collections
            ),
            batch_size=BATCH,
        )
        Invoice.objects.bulk_create(
            (
                Invoice(
                    client_id=client,
                    series=credit_series,
                    number=i + 1,
                    code=f"R2026-{i + 1:06d}",
                    status="issued",
                    kind="credit_note",
                    corrects_id=pk,
                    issue_date=today - timedelta(days=3),
                    due_date=today - timedelta(days=3),
                    net_total=-(total / Decimal("1.21")).quantize(Decimal("0.01")),
                    vat_total=-(total - (total / Decimal("1.21")).quantize(Decimal("0.01"))),
                    total=-total,
                )
                for i, (pk, client, total) in enumerate(credit_notes)
            ),
            batch_size=BATCH,
        )
        # Earlier reminders: a run long sent, with the friendly notice (and for some the
        # reminder) to invoices still open.
        old_run = ReminderRun.objects.create(
            status="sent", as_of=now - timedelta(days=20), created_at=now - timedelta(days=20)
        )
        earlier = []
        for n, (pk, client, total, due) in enumerate(invoice_rows):
            days = (today - due).days
            if n % 6 == 2 and days >= 20:
                earlier.append((pk, client, total, 1, now - timedelta(days=days - 5)))
                if n % 12 == 2 and days >= 35:
                    earlier.append((pk, client, total, 2, now - timedelta(days=days - 20)))
        ReminderItem.objects.bulk_create(
            (
                ReminderItem(
                    run=old_run,
                    client_id=client,
                    invoice_id=pk,
                    step=step,
                    kind="friendly" if step == 1 else "reminder",
                    channel="email",
                    open_balance=total,
                    fingerprint="0" * 64,
                    status="sent",
                    sent_at=at,
                )
                for pk, client, total, step, at in earlier
                if step == 1
            ),
            batch_size=BATCH,
        )
        second_run = ReminderRun.objects.create(
            status="sent", as_of=now - timedelta(days=8), created_at=now - timedelta(days=8)
        )
        ReminderItem.objects.bulk_create(
            (
                ReminderItem(
                    run=second_run,
                    client_id=client,
                    invoice_id=pk,
                    step=step,
                    kind="reminder",
                    channel="email",
                    open_balance=total,
                    fingerprint="0" * 64,
                    status="sent",
                    sent_at=at,
                )
                for pk, client, total, step, at in earlier
                if step == 2
            ),
            batch_size=BATCH,
        )
        item_of = {
            (invoice_id, step): (pk, at)
            for pk, invoice_id, step, at in ReminderItem.objects.values_list(
                "pk", "invoice_id", "step", "sent_at"
            )
        }
        SentReminder.objects.bulk_create(
            (
                SentReminder(
                    invoice_id=invoice_id,
                    client_id=client,
                    step=step,
                    kind="friendly" if step == 1 else "reminder",
                    channel="email",
                    item_id=item_of[(invoice_id, step)][0],
                    sent_at=at,
                )
                for invoice_id, client, _total, step, at in earlier
            ),
            batch_size=BATCH,
        )
        ReminderPause.objects.bulk_create(
            ReminderPause(
                client_id=c,
                reason="Office flooded",
                starts_at=now - timedelta(days=2),
                expires_at=now + timedelta(days=20),
                created_at=now,
            )
            for c in client_ids[:: max(1, len(client_ids) // 20)][:20]
        )
        BankStatement.objects.create(format="camt053", sha256="b" * 64, covers_until=today)
    counts.update(
        payments=len(payments),
        collections=len(collections),
        credit_notes=len(credit_notes),
        earlier_reminders=len(earlier),
    )
    return counts


def measure(args: argparse.Namespace) -> list[str]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.utils import timezone

    from atalaya.billing.models import ReminderItem
    from atalaya.billing.services import reminders

    rng = random.Random(45)
    log(f"database {connection.vendor} {connection.settings_dict['NAME']}")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    now = timezone.now()
    counts = seed(args.clients, args.invoices, rng, now)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    log(
        "seeded in {:.1f} s: {clients} clients, {invoices} invoices, {payments} payments, "
        "{collections} debits, {credit_notes} credit notes, {earlier_reminders} earlier "
        "reminders".format(time.perf_counter() - started, **counts)
    )
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    settings.DEBUG = bool(args.queries)
    reset_queries()
    if profiler:
        profiler.enable()
    t0, cpu0 = time.perf_counter(), time.process_time()
    run = reminders.propose_run(actor=None, now=now)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if profiler:
        profiler.disable()
    queries = len(connection.queries) if args.queries else None
    settings.DEBUG = False
    summary = run.summary
    log(
        f"proposed in {elapsed:.2f} s ({cpu:.2f} s of this process's CPU; the rest is waiting"
        " for the database or for a busy machine)"
        + (f" ({queries} queries)" if queries is not None else "")
    )
    log(
        "considered {considered}, not yet due {not_yet_due}, proposed {proposed}, excluded "
        "{excluded}: ".format(**summary)
        + ", ".join(f"{k} {v}" for k, v in sorted(summary["excluded_by_reason"].items()))
    )
    steps: dict[int, int] = {}
    for step in ReminderItem.objects.filter(run=run).values_list("step", flat=True):
        steps[step] = steps.get(step, 0) + 1
    log("proposed by step: " + ", ".join(f"{k}: {v}" for k, v in sorted(steps.items())))
    sample = ReminderItem.objects.filter(run=run, language="es").first()
    if sample:
        log(f"a preview: {sample.subject!r}")
    if profiler:
        import pstats

        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
    return [
        f"RESULT reminder_proposal_100k_s={elapsed:.2f} s",
        f"RESULT reminder_proposal_100k_proposed={summary['proposed']} items",
        f"RESULT reminder_proposal_100k_excluded={summary['excluded']} invoices",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the run")
    parser.add_argument("--queries", action="store_true", help="count the run's queries")
    args, _rest = parser.parse_known_args()
    configure(DB_NAME, args.database)
    for line in measure(args):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

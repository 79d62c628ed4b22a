"""The recurring run at scale: drafting the invoices of 10,000 agreements.

Seeds a fresh database (SQLite file under ``var/bench/``, or with ``--database URL`` a
database ``bench_billing_agreements`` on that PostgreSQL server) with ``--clients``
clients (default 1,000), their monitored devices and user contacts, a small catalogue
(a package, per-user, per-device, fixed and hourly products) and ``--agreements``
agreements (default 10,000) of 2–4 lines each, a third of them counted by devices or
users, a tenth starting mid-period (prorated), a fifth quarterly, plus approved ticket
time for some clients. Then times ``draft_due_invoices`` for all of them:

    RESULT draft_10k_agreements_s=… s        (target ≤ 30 s)

and checks a sample of the drafts against a plain recomputation (quantities counted
one by one, quantity × price × days/days-in-period rounded per line, VAT per bucket).

    .venv/bin/python benchmarks/_billing_agreements.py
    .venv/bin/python benchmarks/_billing_agreements.py --database postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _billing_db import configure, log  # noqa: E402

AS_OF = date(2026, 12, 20)
DB_NAME = "bench_billing_agreements"


def seed(clients: int, agreements: int, rng: random.Random) -> dict[str, int]:
    from django.db import transaction
    from django.utils import timezone

    from atalaya.billing.models import (
        Agreement,
        AgreementLine,
        BillingProfile,
        InvoiceSeries,
        TimeCharge,
    )
    from atalaya.billing.services import catalog
    from atalaya.core import services as core_services
    from atalaya.core.models import Client, Contact, ContactMembership, Site
    from atalaya.monitoring.models import Device
    from atalaya.tickets.models import Ticket, TimeEntry, WorkType

    boss = core_services.create_staff_user(
        actor=None, username="bench-billing", password="bench-billing-pw-123", role="billing"
    )
    tech = core_services.create_staff_user(
        actor=None, username="bench-tech", password="bench-tech-pw-12345", role="technician"
    )

    def product(code: str, unit: str, price: str, **more: Any) -> Any:
        return catalog.create_product(
            actor=None,
            code=code,
            name_en=code.replace("-", " ").title(),
            name_es=f"{code} (es)",
            unit=unit,
            unit_price=Decimal(price),
            **more,
        )

    vpn = product("vpn", "user", "5")
    mfa = product("mfa", "user", "3")
    av = product("antivirus", "device", "4")
    backup = product("backup", "user", "8")
    bundle = catalog.create_product(
        actor=None,
        code="remote-worker",
        name_en="Remote worker bundle",
        name_es="Pack teletrabajo",
        unit="user",
        unit_price=Decimal("25"),
        components=[(vpn, 1), (mfa, 1), (av, 1), (backup, 1)],
    )
    monitoring = product("monitoring", "device", "7.5")
    fee = product("fee", "fixed", "100")
    books = product("books", "fixed", "12.40", vat_rate="4")
    training = product("training", "fixed", "80", vat_category="E", vat_rate="0")
    remote = WorkType.objects.get(slug="remote")
    product("remote-hour", "hour", "60", work_type=remote)
    series = InvoiceSeries.objects.create(code="F2026", prefix="F2026-")
    per_user = [bundle, vpn, backup, mfa]
    per_device = [monitoring, av]
    fixed = [fee, books, training]

    now = timezone.now()
    with transaction.atomic():
        Client.objects.bulk_create(
            Client(name=f"Cliente {n:05d} S.L.", language="es" if n % 4 else "en")
            for n in range(clients)
        )
        client_ids = list(Client.objects.order_by("id").values_list("id", flat=True))
        Site.objects.bulk_create(Site(client_id=c, name="HQ") for c in client_ids)
        site_of = dict(Site.objects.values_list("client_id", "id"))
        BillingProfile.objects.bulk_create(
            BillingProfile(client_id=c, tax_id="B65410011") for c in client_ids
        )
        devices = []
        for c in client_ids:
            for k in range(rng.randint(0, 20)):
                devices.append(
                    Device(
                        client_id=c,
                        site_id=site_of[c],
                        hostname=f"pc-{c}-{k}",
                        token_hash=f"{c:010d}{k:054d}",
                        token_hint="bench",
                        retired_at=now if k % 7 == 6 else None,
                    )
                )
        Device.objects.bulk_create(devices, batch_size=2000)
        contacts = []
        for c in client_ids:
            for k in range(rng.randint(1, 12)):
                contacts.append(Contact(name=f"Persona {c}-{k}", email=f"p{k}@c{c}.example"))
        Contact.objects.bulk_create(contacts, batch_size=2000)
        memberships = []
        for contact in Contact.objects.order_by("id").only("id", "name"):
            c = int(contact.name.split()[1].split("-")[0])
            memberships.append(
                ContactMembership(contact_id=contact.pk, client_id=c, is_user=contact.pk % 5 != 0)
            )
        ContactMembership.objects.bulk_create(memberships, batch_size=2000)

        rows = []
        for n in range(agreements):
            c = client_ids[n % len(client_ids)]
            mid = n % 10 == 3
            start = date(2026, 12, 15) if mid else date(2026, 12, 1)
            period = "quarterly" if n % 5 == 1 else "monthly"
            if period == "quarterly" and not mid:
                start = date(2026, 10, 1)
            rows.append(
                Agreement(
                    client_id=c,
                    name=f"Agreement {n}",
                    billing_period=period,
                    starts_on=start,
                    billed_until=start,
                    series=series,
                    payment_terms_days=30,
                )
            )
        Agreement.objects.bulk_create(rows, batch_size=2000)
        lines = []
        for agreement in Agreement.objects.order_by("id").only("id", "starts_on"):
            count = rng.randint(2, 4)
            for k in range(count):
                kind = rng.random()
                if kind < 0.2:
                    lines.append(
                        AgreementLine(
                            agreement_id=agreement.pk,
                            product=rng.choice(per_user),
                            quantity_mode="users",
                        )
                    )
                elif kind < 0.35:
                    lines.append(
                        AgreementLine(
                            agreement_id=agreement.pk,
                            product=rng.choice(per_device),
                            quantity_mode="devices",
                        )
                    )
                else:
                    ends = date(2026, 12, 10) if rng.random() < 0.03 else None
                    lines.append(
                        AgreementLine(
                            agreement_id=agreement.pk,
                            product=rng.choice(fixed + per_user),
                            quantity=Decimal(rng.randint(1, 30)),
                            unit_price=(
                                Decimal(rng.randint(100, 9999)) / 100
                                if k == 0 and kind > 0.9
                                else None
                            ),
                            ends_on=ends,
                        )
                    )
        AgreementLine.objects.bulk_create(lines, batch_size=2000)

    # Approved ticket time for a tenth of the clients (tickets through the service).
    from atalaya.tickets import services as ticket_services

    charges = 0
    for c in client_ids[: max(1, len(client_ids) // 10)]:
        ticket = ticket_services.create_ticket(
            actor=tech, client=Client.objects.get(pk=c), subject="Slow VPN", body="It is slow."
        )
        for _k in range(2):
            entry = TimeEntry.objects.create(
                ticket=ticket, user=tech, minutes=rng.choice([15, 30, 45, 90]), work_type=remote
            )
            TimeCharge.objects.create(
                time_entry=entry,
                client_id=c,
                status="approved",
                hourly_rate=Decimal("60"),
                amount=(Decimal(entry.minutes) * 60 / 60).quantize(Decimal("0.01")),
                decided_by=boss,
            )
            charges += 1
    _ = Ticket
    return {
        "clients": len(client_ids),
        "devices": len(devices),
        "contacts": len(contacts),
        "agreements": agreements,
        "lines": len(lines),
        "charges": charges,
    }


def check_sample(invoices: list[Any], rng: random.Random, size: int = 50) -> int:
    """Recompute sampled drafts the slow, obvious way; the number of mismatches."""
    from atalaya.billing.models import Agreement, AgreementLine, Invoice
    from atalaya.billing.money import round_money, totals
    from atalaya.billing.services.agreements import calendar_period
    from atalaya.core.models import ContactMembership
    from atalaya.monitoring.models import Device

    bad = 0
    for drafted in rng.sample(invoices, min(size, len(invoices))):
        invoice = Invoice.objects.get(pk=drafted.pk)
        agreement = Agreement.objects.get(pk=invoice.agreement_id)
        cal_start, cal_end = calendar_period(invoice.period_start, agreement.billing_period)
        in_period = (cal_end - cal_start).days + 1
        expected = []
        for line in AgreementLine.objects.filter(agreement=agreement).order_by("id"):
            start = max(invoice.period_start, line.starts_on or agreement.starts_on)
            end = min(invoice.period_end, line.ends_on or invoice.period_end)
            if end < start:
                continue
            if line.quantity_mode == "devices":
                q = Decimal(
                    Device.objects.filter(client_id=agreement.client_id, retired_at=None).count()
                )
            elif line.quantity_mode == "users":
                q = Decimal(
                    ContactMembership.objects.filter(
                        client_id=agreement.client_id, is_user=True
                    ).count()
                )
            else:
                q = line.quantity
            if q == 0:
                continue
            price = line.unit_price if line.unit_price is not None else line.product.unit_price
            days = (end - start).days + 1
            expected.append(
                (
                    line.product.vat_category,
                    line.product.vat_rate,
                    round_money(q * price * days / in_period),
                )
            )
        got = list(
            invoice.lines.filter(agreement_line__isnull=False)
            .order_by("position")
            .values_list("vat_category", "vat_rate", "net_amount")
        )
        all_lines = list(invoice.lines.values_list("vat_category", "vat_rate", "net_amount"))
        result = totals(all_lines)
        buckets = sorted(invoice.vat_totals.values_list("vat_category", "vat_rate", "base", "tax"))
        want_buckets = sorted((b.category, b.rate, b.base, b.tax) for b in result.buckets)
        if (
            [(c, Decimal(r), n) for c, r, n in got] != [(c, Decimal(r), n) for c, r, n in expected]
            or (invoice.net_total, invoice.vat_total, invoice.total)
            != (result.net, result.vat, result.total)
            or buckets != want_buckets
        ):
            bad += 1
            log(f"MISMATCH invoice {invoice.pk}: {got} != {expected}")
    return bad


def measure(args: argparse.Namespace) -> list[str]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries

    from atalaya.billing.models import Invoice, InvoiceLine, InvoiceVatTotal
    from atalaya.billing.services import agreements as agreement_services

    rng = random.Random(5)
    log(f"database {connection.vendor} {connection.settings_dict['NAME']}")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    counts = seed(args.clients, args.agreements, rng)
    log(
        "seeded in {:.1f} s: {clients} clients, {devices} devices, {contacts} contacts, "
        "{agreements} agreements, {lines} lines, {charges} approved time charges".format(
            time.perf_counter() - started, **counts
        )
    )
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    spent: dict[str, list[float]] = {}

    def timing(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = " ".join(sql.split()[:6])[:90]
            spent.setdefault(shape, []).append(time.perf_counter() - began)

    if profiler:
        profiler.enable()
    t0 = time.perf_counter()
    if args.queries:
        with connection.execute_wrapper(timing):
            drafted = agreement_services.draft_due_invoices(actor=None, as_of=AS_OF)
    else:
        drafted = agreement_services.draft_due_invoices(actor=None, as_of=AS_OF)
    elapsed = time.perf_counter() - t0
    if profiler:
        profiler.disable()
    queries = sum(len(v) for v in spent.values()) if args.queries else None
    for shape, times in sorted(spent.items(), key=lambda kv: -sum(kv[1]))[:10]:
        log(f"  {sum(times):6.2f} s in {len(times):4d} × {shape}")
    _ = reset_queries
    lines = InvoiceLine.objects.filter(invoice__in=Invoice.objects.filter(status="draft")).count()
    log(
        f"drafted {len(drafted)} invoices, {lines} lines, "
        f"{InvoiceVatTotal.objects.count()} VAT buckets in {elapsed:.2f} s"
        + (f" ({queries} queries)" if queries is not None else "")
    )
    again = time.perf_counter()
    second = agreement_services.draft_due_invoices(actor=None, as_of=AS_OF)
    log(f"second run drafted {len(second)} (idempotent) in {time.perf_counter() - again:.2f} s")
    bad = check_sample(drafted, rng)
    log(f"sample of {min(50, len(drafted))} drafts recomputed one by one: {bad} mismatches")
    if profiler:
        import pstats

        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
    from atalaya.core.models import AuditEvent

    empty = AuditEvent.objects.filter(action="agreement.nothing_to_bill").count()
    log(f"{empty} agreements had nothing to bill this period (moved on without an invoice)")
    if bad or second or len(drafted) + empty != args.agreements:
        log("FAILED: mismatches, a non-idempotent second run, or agreements not drafted")
    return [f"RESULT draft_10k_agreements_s={elapsed:.2f} s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the run")
    parser.add_argument("--queries", action="store_true", help="count the run's queries")
    args, _rest = parser.parse_known_args()
    configure(DB_NAME, args.database)
    for line in measure(args):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

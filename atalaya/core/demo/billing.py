"""Demo billing: the MSP's catalogue, an agreement per client, two months of invoices.

Everything goes through billing's services, so the rows are what real use writes: the
catalogue (with the remote worker bundle), billing profiles with valid tax ids,
mandates, agreements whose quantities are counted from the demo's devices and user
contacts, invoices issued in order, payments, debits scheduled with their
pre-notification, a disputed invoice, a client whose reminders are paused, and a
prepaid hour block running low. The current month's invoices are left as drafts of
the recurring run, for a person to review and issue.

Invoices are issued from two months back so the reminder run has overdue invoices to
propose, and some that it must leave alone (paid, on their way by direct debit,
disputed, paused): the demo shows both sides of humane reminders.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import schwifty
from stdnum.es import cif
from stdnum.eu import at_02

from atalaya.billing.models import Collection, CollectionStatus, Invoice, InvoiceSeries
from atalaya.billing.services import (
    agreements,
    bank,
    catalog,
    collections,
    invoices,
    mandates,
    profiles,
)
from atalaya.billing.services import time as billing_time
from atalaya.billing.services.reminders import policy as reminder_policy
from atalaya.core.models import Client, ContactMembership, User
from atalaya.tickets.models import WorkType

MSP_TAX_ID = "B58378431"
MSP_IBAN = "ES9121000418450200051332"

# (code, English name, Spanish name, unit, price, VAT rate)
PRODUCTS = (
    ("vpn", "Business VPN", "VPN corporativa", "user", "6.00", "21"),
    ("mfa", "Multi-factor authentication", "Autenticación multifactor", "user", "3.50", "21"),
    ("antivirus", "Managed antivirus / EDR", "Antivirus / EDR gestionado", "device", "4.90", "21"),
    ("backup", "Cloud backup, 100 GB", "Copia en la nube, 100 GB", "device", "7.50", "21"),
    ("monitoring", "Remote monitoring", "Monitorización remota", "device", "5.00", "21"),
    ("retainer", "Help desk retainer", "Cuota de soporte", "fixed", "150.00", "21"),
    ("training", "Security awareness course", "Curso de ciberseguridad", "fixed", "90.00", "0"),
)
BUNDLE = ("remote-worker", "Remote worker bundle", "Pack teletrabajo", "user", "19.00", "21")


def _creditor_id(tax_id: str) -> str:
    """The SEPA creditor identifier Spanish banks derive from the NIF (ESkkZZZ + NIF)."""
    return next(
        candidate
        for digits in range(100)
        if at_02.is_valid(candidate := f"ES{digits:02d}ZZZ{tax_id}")
    )


def _tax_id(rng: random.Random) -> str:
    body = f"B{rng.randrange(10**6, 10**7):07d}"
    return body + cif.calc_check_digits(body)[-1]


def _iban(rng: random.Random) -> str:
    account = f"{rng.randrange(10**9, 10**10):010d}"
    return schwifty.IBAN.generate("ES", bank_code="21000418", account_code=account).compact


def _first_of_month(day: date, months_back: int) -> date:
    year, month = day.year, day.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


class BillingDemo:
    """Loads the demo's billing for the loader's clients; ``load()`` returns counts."""

    def __init__(self, *, admin: User, clients: list[Client], today: date, seed: int) -> None:
        self.admin = admin
        self.clients = clients
        self.today = today
        self.rng = random.Random(seed + 5)

    def load(self) -> dict[str, int]:
        self.settings()
        self.products = self.catalogue()
        series = InvoiceSeries.objects.get(code="F")
        reminder_policy.default_policy()
        start = _first_of_month(self.today, 2)
        for index, client in enumerate(self.clients):
            self.profile(client)
            self.agreement(client, series, start, index)
        issued: list[Invoice] = []
        # Two past months, issued on their first day, in order: the numbers follow the dates.
        for month in (start, _first_of_month(self.today, 1)):
            drafted = agreements.draft_due_invoices(actor=self.admin, as_of=month)
            issued += agreements.issue_drafts(actor=self.admin, invoices=drafted, issue_date=month)
        counts = {"agreements": len(self.clients), "invoices": len(issued)}
        counts.update(self.settle(issued))
        # This month's run stays a proposal: drafts for a person to review and issue.
        counts["drafts"] = len(agreements.draft_due_invoices(actor=self.admin, as_of=self.today))
        self.special_cases(issued)
        return counts

    def settings(self) -> None:
        profiles.save_billing_settings(
            actor=self.admin,
            legal_name="Atalaya Servicios Gestionados, S.L.",
            tax_id=MSP_TAX_ID,
            address="Calle Mayor 1, 28013 Madrid",
            email="facturas@atalaya-msp.example",
            iban=MSP_IBAN,
            creditor_id=_creditor_id(MSP_TAX_ID),
            prenotification_days=14,
            bank_data_max_age_hours=72,
        )
        credit = invoices.create_series(
            actor=self.admin, code="R", prefix=f"R{self.today.year}-", is_for_credit_notes=True
        )
        invoices.create_series(
            actor=self.admin, code="F", prefix=f"F{self.today.year}-", credit_note_series=credit
        )

    def catalogue(self) -> dict[str, Any]:
        made = {}
        for code, name_en, name_es, unit, price, rate in PRODUCTS:
            made[code] = catalog.create_product(
                actor=self.admin,
                code=code,
                name_en=name_en,
                name_es=name_es,
                unit=unit,
                unit_price=Decimal(price),
                vat_category="S" if rate != "0" else "E",
                vat_rate=Decimal(rate),
            )
        code, name_en, name_es, unit, price, rate = BUNDLE
        made[code] = catalog.create_product(
            actor=self.admin,
            code=code,
            name_en=name_en,
            name_es=name_es,
            unit=unit,
            unit_price=Decimal(price),
            vat_rate=Decimal(rate),
            components=[(made[c], 1) for c in ("vpn", "mfa", "antivirus", "backup")],
        )
        support = WorkType.objects.order_by("id").first()
        if support is not None:
            made["support"] = catalog.create_product(
                actor=self.admin,
                code="support-hour",
                name_en="Technician hour",
                name_es="Hora de técnico",
                unit="hour",
                unit_price=Decimal("55.00"),
                vat_rate=Decimal("21"),
                work_type=support,
            )
        return made

    def profile(self, client: Client) -> None:
        contact = client.contacts.order_by("id").first()
        if contact is not None:
            # The first contact signs the invoices: billing contact, sees them in the portal.
            ContactMembership.objects.filter(client=client, contact=contact).update(is_billing=True)
        profiles.save_billing_profile(
            actor=self.admin,
            client=client,
            tax_id=_tax_id(self.rng),
            address=f"Avenida de la Constitución {self.rng.randrange(1, 200)}",
            postal_code=f"{self.rng.randrange(1000, 52999):05d}",
            city="Madrid",
            country="ES",
            invoice_email=contact.email if contact is not None else "",
            payment_terms_days=30,
        )

    def agreement(self, client: Client, series: InvoiceSeries, start: date, index: int) -> Any:
        direct_debit = index % 3 == 0
        mandate = None
        if direct_debit:
            mandate = mandates.create_mandate(
                actor=self.admin,
                client=client,
                reference=f"ATA-DEMO-{index + 1:04d}",
                signed_on=start - timedelta(days=20),
                iban=_iban(self.rng),
                debtor_name=(client.legal_name or client.name)[:70],
            )
        agreement = agreements.create_agreement(
            actor=self.admin,
            client=client,
            name="Managed services" if client.language == "en" else "Servicios gestionados",
            billing_period="monthly",
            starts_on=start,
            series=series,
            payment_method="direct_debit" if direct_debit else "transfer",
            mandate=mandate,
            payment_terms_days=30,
        )
        products = self.products
        agreements.add_line(
            actor=self.admin,
            agreement=agreement,
            product=products["remote-worker"],
            quantity_mode="users",
        )
        agreements.add_line(
            actor=self.admin,
            agreement=agreement,
            product=products["monitoring"],
            quantity_mode="devices",
        )
        agreements.add_line(
            actor=self.admin,
            agreement=agreement,
            product=products["retainer"],
            quantity_mode="fixed",
            quantity=Decimal(1),
        )
        return agreement

    def settle(self, issued: list[Invoice]) -> dict[str, int]:
        """Transfers arrive for most invoices a few days before they fall due, and reach
        Atalaya as the bank's camt.053 statement, reconciled by the invoice number in the
        remittance text. A few clients are late, so the reminder run has something to
        propose. Direct debits stay on their way (pre-notified, with the bank): the
        reminder run must leave them be.
        """
        entries = []
        for number, invoice in enumerate(issued):
            if invoice.payment_method != "transfer" or number % 5 == 1:
                continue
            if invoice.due_date is None or invoice.due_date > self.today:
                continue
            booked = invoice.due_date - timedelta(days=self.rng.randrange(1, 5))
            entries.append((booked, invoice))
        statement = bank.import_statement(
            actor=self.admin, data=self.camt053(entries), filename="demo-camt053.xml"
        )
        debits = [i for i in issued if i.payment_method == "direct_debit"]
        return {"payments": statement.matched_count, "debits": len(debits)}

    def camt053(self, entries: list[tuple[date, Invoice]]) -> bytes:
        """The MSP's account statement up to yesterday: one credit per transfer."""
        yesterday = self.today - timedelta(days=1)
        first = min((booked for booked, _invoice in entries), default=yesterday)
        booked_entries = "".join(
            f'<Ntry><Amt Ccy="EUR">{invoice.total:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{booked:%Y-%m-%d}</Dt></BookgDt>"
            f"<ValDt><Dt>{booked:%Y-%m-%d}</Dt></ValDt>"
            f"<AcctSvcrRef>DEMO-{invoice.number:06d}</AcctSvcrRef>"
            "<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RltdPties><Dbtr><Pty><Nm>{escape(invoice.client.legal_name or invoice.client.name)}"
            "</Nm></Pty></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>Pago factura {invoice.code}</Ustrd></RmtInf></TxDtls></NtryDtls>"
            "</Ntry>"
            for booked, invoice in entries
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
            f"<BkToCstmrStmt><GrpHdr><MsgId>DEMO-{yesterday:%Y%m%d}</MsgId>"
            f"<CreDtTm>{self.today:%Y-%m-%d}T06:00:00</CreDtTm></GrpHdr>"
            f"<Stmt><Id>DEMO-{yesterday:%Y%m%d}</Id><CreDtTm>{self.today:%Y-%m-%d}T06:00:00</CreDtTm>"
            f"<FrToDt><FrDtTm>{first:%Y-%m-%d}T00:00:00</FrDtTm>"
            f"<ToDtTm>{yesterday:%Y-%m-%d}T23:59:59</ToDtTm></FrToDt>"
            f"<Acct><Id><IBAN>{MSP_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            f"{booked_entries}</Stmt></BkToCstmrStmt></Document>"
        ).encode()

    def special_cases(self, issued: list[Invoice]) -> None:
        """A disputed invoice, a paused client, a returned debit, an hour block running low."""
        late = [
            i
            for i in issued
            if i.payment_method == "transfer" and i.due_date and i.due_date < self.today
        ]
        if late:
            reminder_policy.set_dispute(
                actor=self.admin,
                invoice=late[0],
                reason="The client says the retainer was agreed at a lower price.",
            )
        if len(self.clients) > 2:
            reminder_policy.pause_reminders(
                actor=self.admin,
                client=self.clients[2],
                reason="Harvest season: the owner asked us to wait until January.",
                expires_at=datetime.combine(
                    self.today + timedelta(days=40), datetime.min.time(), UTC
                ),
            )
        debit = Collection.objects.filter(status=CollectionStatus.SCHEDULED).order_by("id").first()
        if debit is not None:
            # The earliest debits went to the bank in a pain.008 file; one came back.
            for batch in collections.create_batches(actor=self.admin, due_on=debit.due_on):
                collections.submit_batch(actor=self.admin, batch=batch)
            debit.refresh_from_db()
            collections.mark_returned(actor=self.admin, collection=debit, reason_code="AM04")
        billing_time.create_hour_block(
            actor=self.admin,
            client=self.clients[1 % len(self.clients)],
            name="Bolsa de 10 horas",
            minutes_total=600,
            low_balance_minutes=120,
            purchased_on=self.today - timedelta(days=40),
        )


def load_billing(loader: Any, seed: int) -> dict[str, int]:
    started = time.monotonic()
    clients = [loader.clients[plan.spec.key] for plan in loader.plan.clients]
    demo = BillingDemo(
        admin=loader.users["admin"],
        clients=clients,
        today=loader.plan.now.date(),
        seed=seed,
    )
    result = demo.load()
    loader.progress(
        f"{result['invoices']} invoices, {result['payments']} payments, "
        f"{result['drafts']} drafts to review in {time.monotonic() - started:.1f} s"
    )
    return result

"""Agreements and the recurring run: what each client pays every period, drafted for review.

Periods are calendar months, quarters (January, April, July, October) or years. An
agreement is billed in advance: once the first day it has not been billed for
(``billed_until``) has come, the run drafts the invoice from that day to the end of its
calendar period (or the agreement's end). A person reviews the drafts; issuing them
moves ``billed_until`` on, discarding one leaves it, so the next run drafts it again.

Proration: a line (or an agreement) that starts or ends inside a period is billed for
the days it covers: ``net = quantity × price × days covered / days in the calendar
period``, rounded half-up to cents once per line (``money.round_money``). A whole period
is fraction 1 exactly, so no rounding enters a full month.

Counted quantities are read when the draft is made: monitored devices are the client's
devices not retired, users are the client's contacts whose membership is flagged
``is_user``. A line whose quantity comes to 0 is left out; an agreement with nothing to
bill for a period is moved past it without an invoice (recorded in the audit trail).
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from atalaya.billing.models import (
    Agreement,
    AgreementLine,
    AgreementRate,
    BillingPeriod,
    BillingSettings,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    InvoiceVatTotal,
    Mandate,
    PackageComponent,
    PaymentMethod,
    Product,
    QuantityMode,
    TimeCharge,
    TimeChargeStatus,
    Unit,
    VatCategory,
)
from atalaya.billing.money import round_money, totals
from atalaya.billing.services.catalog import (
    MAX_PRICE,
    MAX_QUANTITY,
    clean_decimal,
    line_text,
    require_billing_writer,
)
from atalaya.core.models import AuditEvent, Client, ContactMembership, User
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Device
from atalaya.tickets.models import WorkType

# Agreements drafted per transaction: a few queries each, whatever the chunk's size.
CHUNK = 500
ONE = Decimal(1)
SIXTY = Decimal(60)
HOUR_PLACES = Decimal("0.001")


# ---------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------

_MONTHS = {BillingPeriod.MONTHLY: 1, BillingPeriod.QUARTERLY: 3, BillingPeriod.YEARLY: 12}


def calendar_period(day: date, period: str) -> tuple[date, date]:
    """The calendar month, quarter or year holding ``day``: (first day, last day)."""
    months = _MONTHS[BillingPeriod(period)]
    first_month = ((day.month - 1) // months) * months + 1
    start = date(day.year, first_month, 1)
    last_month = first_month + months - 1
    end = date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])
    return start, end


def next_period(agreement: Any) -> tuple[date, date] | None:
    """The period the next invoice covers: from ``billed_until`` to its calendar period's
    end or the agreement's end; None once the agreement's whole term is billed."""
    start = agreement.billed_until
    if agreement.ends_on is not None and start > agreement.ends_on:
        return None
    _first, end = calendar_period(start, agreement.billing_period)
    if agreement.ends_on is not None and agreement.ends_on < end:
        end = agreement.ends_on
    return start, end


# ---------------------------------------------------------------------------------------
# Computing the lines of a period (shared by the preview and the run)
# ---------------------------------------------------------------------------------------


@dataclass
class DraftLine:
    """One line as it will be drafted (the invoice line's fields)."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    net_amount: Decimal
    vat_category: str
    vat_rate: Decimal
    unit: str
    product_id: int | None = None
    agreement_line_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    charge_id: int | None = None
    days: tuple[int, int] | None = None  # (covered, in period) when prorated


@dataclass
class PeriodDraft:
    agreement: Agreement
    period_start: date
    period_end: date
    lines: list[DraftLine] = field(default_factory=list)

    @property
    def totals(self) -> Any:
        return totals((ln.vat_category, ln.vat_rate, ln.net_amount) for ln in self.lines)


@dataclass
class _Catalogue:
    """What the run reads once: the products, package components, hourly products by
    work type; and the texts it has already built (one gettext activation per text, not
    per line)."""

    products: dict[int, Product]
    components: dict[int, list[tuple[str, str, Decimal]]]
    hourly: dict[int, Product]
    texts: dict[tuple[Any, ...], str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> _Catalogue:
        components: dict[int, list[tuple[str, str, Decimal]]] = defaultdict(list)
        rows = PackageComponent.objects.order_by("package_id", "id").values_list(
            "package_id", "product__name_en", "product__name_es", "quantity"
        )
        for package_id, name_en, name_es, quantity in rows:
            components[package_id].append((name_en, name_es, quantity))
        products = {p.pk: p for p in Product.objects.all()}
        hourly = {
            p.work_type_id: p
            for p in products.values()
            if p.is_active and p.unit == Unit.PER_HOUR and p.work_type_id is not None
        }
        return cls(products=products, components=dict(components), hourly=hourly)

    def product_text(self, product: Product, language: str) -> str:
        key = ("product", product.pk, language)
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = line_text(
                product, language, self.components.get(product.pk, [])
            )
        return text

    def period_note(
        self, language: str, start: date, end: date, days: tuple[int, int] | None
    ) -> str:
        key = ("period", language, start, end, days)
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = _period_note(language, start, end, days)
        return text


def _counts(client_ids: Iterable[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Active devices and user contacts per client: one grouped query each."""
    ids = list(set(client_ids))
    devices = dict(
        Device.objects.filter(client_id__in=ids, retired_at__isnull=True)
        .values_list("client_id")
        .annotate(n=Count("id"))
        .values_list("client_id", "n")
    )
    users = dict(
        ContactMembership.objects.filter(client_id__in=ids, is_user=True)
        .values_list("client_id")
        .annotate(n=Count("id"))
        .values_list("client_id", "n")
    )
    return devices, users


def _days(start: date, end: date) -> int:
    return (end - start).days + 1


def _period_note(language: str, start: date, end: date, days: tuple[int, int] | None) -> str:
    with override(language):
        text = _("%(start)s to %(end)s") % {
            "start": start.strftime("%d/%m/%Y"),
            "end": end.strftime("%d/%m/%Y"),
        }
        if days is not None:
            text += ", " + _("prorated %(covered)d of %(total)d days") % {
                "covered": days[0],
                "total": days[1],
            }
    return text


def _recurring_lines(
    agreement: Any,
    lines: Sequence[Any],
    period: tuple[date, date],
    *,
    language: str,
    devices: int,
    users: int,
    catalogue: _Catalogue,
) -> list[DraftLine]:
    start, end = period
    cal_start, cal_end = calendar_period(start, agreement.billing_period)
    in_period = _days(cal_start, cal_end)
    drafted = []
    for line in lines:
        line_start = max(start, line.starts_on or agreement.starts_on, agreement.starts_on)
        line_end = min(end, line.ends_on or end)
        if line_end < line_start:
            continue
        if line.quantity_mode == QuantityMode.MONITORED_DEVICES:
            quantity = Decimal(devices)
        elif line.quantity_mode == QuantityMode.USER_CONTACTS:
            quantity = Decimal(users)
        else:
            quantity = line.quantity
        if quantity == 0:
            continue
        product = line.product
        price = line.unit_price if line.unit_price is not None else product.unit_price
        covered = _days(line_start, line_end)
        if covered == in_period:
            net, days = round_money(quantity * price), None
        else:
            net = round_money(quantity * price * covered / in_period)
            days = (covered, in_period)
        text = line.description or catalogue.product_text(product, language)
        text = f"{text} ({catalogue.period_note(language, line_start, line_end, days)})"
        drafted.append(
            DraftLine(
                description=text[:500],
                quantity=quantity,
                unit_price=price,
                net_amount=net,
                vat_category=product.vat_category,
                vat_rate=product.vat_rate,
                unit=product.unit,
                product_id=product.pk,
                agreement_line_id=line.pk,
                period_start=line_start,
                period_end=line_end,
                days=days,
            )
        )
    return drafted


def _charge_line(charge: TimeCharge, language: str, catalogue: _Catalogue) -> DraftLine:
    """An approved time charge as an hourly line: the amount fixed at approval."""
    entry = charge.time_entry
    minutes = entry.minutes - charge.block_minutes
    product = catalogue.hourly.get(entry.work_type_id) if entry.work_type_id else None
    with override(language):
        hours, rest = divmod(minutes, 60)
        spent = f"{hours} h {rest:02d} min" if hours else f"{rest} min"
        text = _("Ticket #%(number)s: %(subject)s, %(spent)s on %(day)s") % {
            "number": entry.ticket.number,
            "subject": entry.ticket.subject,
            "spent": spent,
            "day": entry.worked_on.strftime("%d/%m/%Y"),
        }
        if entry.work_type is not None:
            text += f" ({entry.work_type.name})"
        if charge.block_minutes:
            text += " " + _("(beyond the prepaid hours)")
    return DraftLine(
        description=text[:500],
        quantity=(Decimal(minutes) / SIXTY).quantize(HOUR_PLACES),
        unit_price=charge.hourly_rate,
        net_amount=charge.amount,
        vat_category=product.vat_category if product else VatCategory.STANDARD,
        vat_rate=product.vat_rate if product else Decimal("21.00"),
        unit=Unit.PER_HOUR,
        product_id=product.pk if product else None,
        period_start=entry.worked_on,
        period_end=entry.worked_on,
        charge_id=charge.pk,
    )


def _open_charges(client_ids: Iterable[int]) -> dict[int, list[TimeCharge]]:
    """Approved time not on a live invoice yet: never invoiced, or only on a discarded draft."""
    charges: dict[int, list[TimeCharge]] = defaultdict(list)
    rows = (
        TimeCharge.objects.filter(client_id__in=list(client_ids), status=TimeChargeStatus.APPROVED)
        .filter(Q(invoice_line__isnull=True) | Q(invoice_line__invoice__status="discarded"))
        .select_related("time_entry__ticket", "time_entry__work_type")
        .order_by("time_entry__worked_on", "id")
    )
    for charge in rows:
        charges[charge.client_id].append(charge)
    return charges


def preview_next_period(agreement: Agreement) -> PeriodDraft | None:
    """What the next run would draft for this agreement now (read only)."""
    period = next_period(agreement)
    if period is None:
        return None
    devices, users = _counts([agreement.client_id])
    catalogue = _Catalogue.load()
    language = agreement.client.language
    lines = list(agreement.lines.select_related("product"))
    draft = PeriodDraft(agreement, *period)
    draft.lines = _recurring_lines(
        agreement,
        lines,
        period,
        language=language,
        devices=devices.get(agreement.client_id, 0),
        users=users.get(agreement.client_id, 0),
        catalogue=catalogue,
    )
    first = (
        Agreement.objects.filter(client_id=agreement.client_id, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if first == agreement.pk:
        for charge in _open_charges([agreement.client_id]).get(agreement.client_id, []):
            draft.lines.append(_charge_line(charge, language, catalogue))
    return draft


# ---------------------------------------------------------------------------------------
# The recurring run
# ---------------------------------------------------------------------------------------


def _due(as_of: date) -> Any:
    live_draft = Invoice.objects.filter(
        agreement_id=OuterRef("pk"),
        period_start=OuterRef("billed_until"),
        kind=InvoiceKind.INVOICE,
    ).exclude(status=InvoiceStatus.DISCARDED)
    return (
        Agreement.objects.filter(is_active=True, billed_until__lte=as_of)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=F("billed_until")))
        .filter(~Exists(live_draft))
    )


def draft_due_invoices(*, actor: User | None, as_of: date) -> list[Invoice]:
    """The recurring run: draft the next period's invoice of every agreement due on
    ``as_of``, with the client's approved, uninvoiced time as hourly lines.

    Idempotent: an agreement whose period already has a live draft is not due, and the
    database refuses a second one (``invoice_once_per_agreement_period``), so a second
    run, or two workers at once, draft nothing new. Bulk work in chunks of ``CHUNK``
    agreements, each in its own transaction, a fixed number of queries per chunk.
    """
    require_billing_writer(actor)
    ids = list(_due(as_of).order_by("client_id", "id").values_list("id", flat=True))
    catalogue = _Catalogue.load()
    currency = BillingSettings.load().currency
    drafted: list[Invoice] = []
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        try:
            drafted += _draft_chunk(actor, chunk, as_of, catalogue, currency)
        except IntegrityError:
            # Another run drafted some of these meanwhile: draft what is still due.
            still = list(_due(as_of).filter(id__in=chunk).values_list("id", flat=True))
            drafted += _draft_chunk(actor, still, as_of, catalogue, currency)
    return drafted


@dataclass(slots=True)
class _RunAgreement:
    """An agreement as the run reads it: plain values, no model instance."""

    pk: int
    public_id: uuid.UUID
    client_id: int
    language: str
    series_id: int
    billing_period: str
    starts_on: date
    ends_on: date | None
    billed_until: date
    payment_method: str
    mandate_id: int | None


@dataclass(slots=True)
class _RunLine:
    pk: int
    agreement_id: int
    product: Product
    quantity_mode: str
    quantity: Decimal
    unit_price: Decimal | None
    description: str
    starts_on: date | None
    ends_on: date | None


class _Insert:
    """Plain INSERTs of one model's new rows, the values as Django's ``save`` would send
    them. ``bulk_create`` spent most of the run building model instances and compiling
    each value; the run writes tens of thousands of rows. PostgreSQL gets ``COPY``
    (``executemany`` was a round trip a row, and a multi-row VALUES statement spent
    longer in psycopg's client-side parameter binding than in the server); SQLite, in
    process, ``executemany``. The given columns come first, the others take the
    field's default (Django sets no database defaults)."""

    def __init__(self, model: type[Any], given: Sequence[str]) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        by_name = {
            f.attname: f
            for f in meta.local_concrete_fields
            if f is not meta.auto_field and not getattr(f, "generated", False)
        }
        missing = set(given) - set(by_name)
        if missing:
            raise TypeError(f"not columns of {model.__name__}: {sorted(missing)}")
        fields = [by_name[name] for name in given]
        defaults = [f for name, f in by_name.items() if name not in given]
        self.constants = tuple(f.get_db_prep_save(f.get_default(), connection) for f in defaults)
        self.converters = [
            (i, conv) for i, f in enumerate(fields) if (conv := _converter(f)) is not None
        ]
        self.width = len(fields) + len(defaults)
        self.head = (
            f"INSERT INTO {quote(meta.db_table)}"  # noqa: S608 - names from the model
            f" ({', '.join(quote(str(f.column)) for f in [*fields, *defaults])}) VALUES "
        )
        self.one = "(" + ", ".join(["%s"] * self.width) + ")"
        self.copy = (
            f"COPY {quote(meta.db_table)}"
            f" ({', '.join(quote(str(f.column)) for f in [*fields, *defaults])}) FROM STDIN"
        )

    def run(self, rows: Iterable[Sequence[Any]]) -> None:
        prepared = []
        for row in rows:
            if self.converters:
                values = list(row)
                for i, conv in self.converters:
                    values[i] = conv(values[i])
                row = values
            prepared.append((*row, *self.constants))
        if not prepared:
            return
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.executemany(self.head + self.one, prepared)
                return
            with cursor.cursor.copy(self.copy) as copy:
                for row in prepared:
                    copy.write_row(row)


def _converter(f: Any) -> Any:
    """How one given column's value goes to the driver (None: as it is). Both drivers
    take ints, strings, booleans, dates and Decimals (Django registers SQLite's
    adapters); UUIDs, JSON and aware datetimes are adapted as the field would."""
    ops = connection.ops
    if isinstance(f, models.UUIDField):
        return None if connection.features.has_native_uuid_field else (lambda v: v.hex)
    if isinstance(f, models.JSONField):
        return lambda v: ops.adapt_json_value(v, f.encoder)
    if isinstance(f, models.DateTimeField):
        seen: dict[Any, Any] = {}

        def adapt(value: Any) -> Any:
            # The run stamps every row with the same ``now``: adapt it once.
            if value not in seen:
                seen[value] = f.get_db_prep_save(value, connection)
            return seen[value]

        return adapt
    return None


def _draft_chunk(
    actor: User | None,
    ids: Sequence[int],
    as_of: date,
    catalogue: _Catalogue,
    currency: str,
) -> list[Invoice]:
    with transaction.atomic():
        return _draft_chunk_atomic(actor, ids, as_of, catalogue, currency)


def _draft_chunk_atomic(
    actor: User | None,
    ids: Sequence[int],
    as_of: date,
    catalogue: _Catalogue,
    currency: str,
) -> list[Invoice]:
    agreements = [
        _RunAgreement(*row)
        for row in Agreement.objects.filter(id__in=ids)
        .order_by("client_id", "id")
        .values_list(
            "id",
            "public_id",
            "client_id",
            "client__language",
            "series_id",
            "billing_period",
            "starts_on",
            "ends_on",
            "billed_until",
            "payment_method",
            "mandate_id",
        )
    ]
    lines_of: dict[int, list[_RunLine]] = defaultdict(list)
    rows = (
        AgreementLine.objects.filter(agreement_id__in=ids)
        .order_by("agreement_id", "id")
        .values_list(
            "id",
            "agreement_id",
            "product_id",
            "quantity_mode",
            "quantity",
            "unit_price",
            "description",
            "starts_on",
            "ends_on",
        )
    )
    for pk, agreement_id, product_id, *rest in rows:
        lines_of[agreement_id].append(
            _RunLine(pk, agreement_id, catalogue.products[product_id], *rest)
        )
    client_ids = {a.client_id for a in agreements}
    devices, users = _counts(client_ids)
    charges = _open_charges(client_ids)
    now = timezone.now()
    actor_id = actor.pk if actor is not None and actor.pk else None

    drafts: list[tuple[_RunAgreement, date, date, list[DraftLine]]] = []
    nothing: list[tuple[_RunAgreement, date]] = []
    for agreement in agreements:
        period = next_period(agreement)
        if period is None:
            continue
        lines = _recurring_lines(
            agreement,
            lines_of.get(agreement.pk, []),
            period,
            language=agreement.language,
            devices=devices.get(agreement.client_id, 0),
            users=users.get(agreement.client_id, 0),
            catalogue=catalogue,
        )
        # A client's approved time goes on the first of its agreements drafted now.
        for charge in charges.pop(agreement.client_id, []):
            lines.append(_charge_line(charge, agreement.language, catalogue))
        if lines:
            drafts.append((agreement, period[0], period[1], lines))
        else:
            nothing.append((agreement, period[1] + timedelta(days=1)))

    invoice_rows: list[tuple[Any, ...]] = []
    line_rows: list[tuple[Any, ...]] = []
    vat_rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    public_ids = []
    results = []
    for agreement, start, end, lines in drafts:
        result = totals((ln.vat_category, ln.vat_rate, ln.net_amount) for ln in lines)
        results.append(result)
        public_id = uuid.uuid4()
        public_ids.append(public_id)
        invoice_rows.append(
            (
                public_id,
                agreement.client_id,
                agreement.series_id,
                InvoiceKind.INVOICE.value,
                InvoiceStatus.DRAFT.value,
                agreement.pk,
                start,
                end,
                agreement.language,
                currency,
                agreement.payment_method,
                agreement.mandate_id,
                result.net,
                result.vat,
                result.total,
                now,
            )
        )
        events.append(
            (
                actor_id,
                agreement.client_id,
                "invoice",
                str(public_id),
                "invoice.drafted",
                {},
                {
                    "agreement": str(agreement.public_id),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "lines": len(lines),
                    "total": str(result.total),
                    "as_of": as_of.isoformat(),
                },
                now,
            )
        )
    _Insert(
        Invoice,
        [
            "public_id",
            "client_id",
            "series_id",
            "kind",
            "status",
            "agreement_id",
            "period_start",
            "period_end",
            "language",
            "currency",
            "payment_method",
            "mandate_id",
            "net_total",
            "vat_total",
            "total",
            "created_at",
        ],
    ).run(invoice_rows)
    id_of = dict(Invoice.objects.filter(public_id__in=public_ids).values_list("public_id", "id"))
    invoice_ids = [id_of[p] for p in public_ids]
    sums = dict(zip(invoice_ids, results, strict=True))
    charged: dict[tuple[int, int], int] = {}
    for invoice_id, (_agreement, _start, _end, lines) in zip(invoice_ids, drafts, strict=True):
        for position, ln in enumerate(lines):
            line_rows.append(
                (
                    invoice_id,
                    position,
                    ln.product_id,
                    ln.agreement_line_id,
                    ln.description,
                    ln.quantity,
                    ln.unit,
                    ln.unit_price,
                    ln.vat_category,
                    ln.vat_rate,
                    ln.net_amount,
                    ln.period_start,
                    ln.period_end,
                )
            )
            if ln.charge_id is not None:
                charged[(invoice_id, position)] = ln.charge_id
        for b in sums[invoice_id].buckets:
            vat_rows.append((invoice_id, b.category, b.rate, b.base, b.tax))
    _Insert(
        InvoiceLine,
        [
            "invoice_id",
            "position",
            "product_id",
            "agreement_line_id",
            "description",
            "quantity",
            "unit",
            "unit_price",
            "vat_category",
            "vat_rate",
            "net_amount",
            "period_start",
            "period_end",
        ],
    ).run(line_rows)
    _Insert(InvoiceVatTotal, ["invoice_id", "vat_category", "vat_rate", "base", "tax"]).run(
        vat_rows
    )
    if charged:
        with_time = {invoice_id for invoice_id, _position in charged}
        found = InvoiceLine.objects.filter(invoice_id__in=with_time).values_list(
            "invoice_id", "position", "id"
        )
        linked = [
            TimeCharge(pk=charged[(invoice_id, position)], invoice_line_id=line_id)
            for invoice_id, position, line_id in found
            if (invoice_id, position) in charged
        ]
        TimeCharge.objects.bulk_update(linked, ["invoice_line"], batch_size=500)
    for agreement, until in nothing:
        # Guarded like issuing: only if nobody moved it meanwhile.
        Agreement.objects.filter(pk=agreement.pk, billed_until=agreement.billed_until).update(
            billed_until=until
        )
        events.append(
            (
                actor_id,
                agreement.client_id,
                "agreement",
                str(agreement.public_id),
                "agreement.nothing_to_bill",
                {"billed_until": agreement.billed_until.isoformat()},
                {"billed_until": until.isoformat()},
                now,
            )
        )
    _Insert(
        AuditEvent,
        ["actor_id", "client_id", "object_type", "object_id", "action", "before", "after", "at"],
    ).run(events)
    return list(Invoice.objects.filter(id__in=invoice_ids).order_by("client_id", "id"))


def _mandate_problem(agreement: Agreement, mandate: Mandate | None) -> str:
    if agreement.payment_method != PaymentMethod.DIRECT_DEBIT:
        return ""
    if mandate is None:
        return _("A direct debit needs a mandate of the client.")
    if mandate.client_id != agreement.client_id:
        return _("The mandate belongs to another client.")
    if not mandate.is_active:
        return _("The mandate %(reference)s is revoked.") % {"reference": mandate.reference}
    return ""


def issue_drafts(
    *, actor: User, invoices: Iterable[Invoice], issue_date: date | None = None
) -> list[Invoice]:
    """Issue reviewed drafts of the recurring run and move each agreement's
    ``billed_until`` past the period, in one transaction: all of them or none.

    Refused (nothing issued): a draft already issued or discarded, a draft whose period
    is already billed (``billed_until`` moved past it), a direct debit without an active
    mandate. The numbering, snapshots and due date are the invoicing service's.
    """
    if actor is None or not actor.pk:
        raise PermissionDenied(_("Issuing invoices is a person's decision."))
    require_billing_writer(actor)
    from atalaya.billing.services import invoices as invoicing

    issued = []
    with transaction.atomic():
        for given in sorted(
            invoices, key=lambda i: (i.client_id, i.period_start or date.min, i.pk)
        ):
            invoice = Invoice.objects.select_for_update().get(pk=given.pk)
            label = invoice.code or str(invoice.public_id)[:8]
            if invoice.status != InvoiceStatus.DRAFT:
                raise ValidationError(
                    _("Invoice %(invoice)s is not a draft any more.") % {"invoice": label}
                )
            if invoice.agreement_id is None or invoice.period_start is None:
                raise ValidationError(
                    _("Draft %(invoice)s is not from an agreement's run.") % {"invoice": label}
                )
            agreement = Agreement.objects.select_for_update().get(pk=invoice.agreement_id)
            if invoice.period_start != agreement.billed_until or invoice.period_end is None:
                raise ValidationError(
                    _(
                        "Draft %(invoice)s starts on %(start)s, but %(agreement)s is billed "
                        "until %(until)s: that period is already billed or out of order. "
                        "Discard the draft."
                    )
                    % {
                        "invoice": label,
                        "start": invoice.period_start,
                        "agreement": agreement.name,
                        "until": agreement.billed_until,
                    }
                )
            mandate = (
                Mandate.objects.filter(pk=invoice.mandate_id).first()
                if invoice.mandate_id is not None
                else None
            )
            problem = _mandate_problem(agreement, mandate)
            if problem:
                raise ValidationError(f"{agreement.name}: {problem}")
            period_end = invoice.period_end
            invoice = invoicing.issue_invoice(actor=actor, invoice=invoice, issue_date=issue_date)
            before = agreement.billed_until
            agreement.billed_until = period_end + timedelta(days=1)
            agreement.save(update_fields=["billed_until"])
            TimeCharge.objects.filter(
                invoice_line__invoice=invoice, status=TimeChargeStatus.APPROVED
            ).update(status=TimeChargeStatus.INVOICED)
            record_audit(
                actor,
                agreement,
                "agreement.billed",
                client=agreement.client,
                before={"billed_until": before.isoformat()},
                after={
                    "billed_until": agreement.billed_until.isoformat(),
                    "invoice": invoice.code,
                },
            )
            issued.append(invoice)
    return issued


@transaction.atomic
def discard_drafts(*, actor: User, invoices: Iterable[Invoice]) -> int:
    """Discard drafts of the run: their period stays unbilled and is drafted again next
    run; the time on them goes back to waiting for an invoice. Returns how many."""
    if actor is None or not actor.pk:
        raise PermissionDenied(_("Discarding drafts is a person's decision."))
    require_billing_writer(actor)
    from atalaya.billing.services import invoices as invoicing

    count = 0
    for given in invoices:
        invoice = Invoice.objects.select_for_update().get(pk=given.pk)
        if invoice.status != InvoiceStatus.DRAFT:
            raise ValidationError(
                _("Invoice %(invoice)s is not a draft; correct it with a credit note.")
                % {"invoice": invoice.code or invoice.public_id}
            )
        invoicing.discard_draft(actor=actor, invoice=invoice)
        count += 1
    return count


def run_drafts() -> Any:
    """The drafts the recurring run made that wait for review (newest periods first)."""
    return (
        Invoice.objects.filter(
            status=InvoiceStatus.DRAFT, agreement__isnull=False, kind=InvoiceKind.INVOICE
        )
        .select_related("client", "agreement")
        .order_by("period_start", "client__name", "id")
    )


# ---------------------------------------------------------------------------------------
# Agreements, lines, rates
# ---------------------------------------------------------------------------------------

AGREEMENT_FIELDS = (
    "name",
    "billing_period",
    "starts_on",
    "ends_on",
    "series",
    "payment_method",
    "mandate",
    "payment_terms_days",
)


def _clean_agreement(client: Client, values: dict[str, Any]) -> dict[str, Any]:
    name = str(values.get("name", "")).strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": [_("Give a name of up to 200 characters.")]})
    values["name"] = name
    if values.get("billing_period") not in BillingPeriod.values:
        raise ValidationError({"billing_period": [_("Choose monthly, quarterly or yearly.")]})
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    if not isinstance(starts_on, date):
        raise ValidationError({"starts_on": [_("Give the day the agreement starts.")]})
    if ends_on is not None and not isinstance(ends_on, date):
        raise ValidationError({"ends_on": [_("Give a date or nothing.")]})
    if ends_on is not None and ends_on < starts_on:
        raise ValidationError({"ends_on": [_("The agreement cannot end before it starts.")]})
    series = values.get("series")
    if not isinstance(series, InvoiceSeries) or not series.is_active:
        raise ValidationError({"series": [_("Choose an active invoice series.")]})
    if series.is_for_credit_notes:
        raise ValidationError({"series": [_("This series is for credit notes.")]})
    method = values.get("payment_method")
    if method not in PaymentMethod.values:
        raise ValidationError({"payment_method": [_("Unknown payment method.")]})
    mandate = values.get("mandate")
    if method == PaymentMethod.DIRECT_DEBIT:
        if mandate is None:
            raise ValidationError(
                {"mandate": [_("A direct debit needs an active mandate of this client.")]}
            )
        mandate = Mandate.objects.filter(pk=mandate.pk).first()
        if mandate is None or mandate.client_id != client.pk:
            raise ValidationError({"mandate": [_("The mandate belongs to another client.")]})
        if not mandate.is_active:
            raise ValidationError({"mandate": [_("This mandate is revoked.")]})
    else:
        mandate = None
    values["mandate"] = mandate
    terms = values.get("payment_terms_days", 30)
    if not isinstance(terms, int) or isinstance(terms, bool) or not 0 <= terms <= 365:
        raise ValidationError({"payment_terms_days": [_("Give 0 to 365 days.")]})
    return values


def _agreement_snapshot(agreement: Agreement) -> dict[str, Any]:
    return {
        "name": agreement.name,
        "billing_period": agreement.billing_period,
        "starts_on": agreement.starts_on.isoformat(),
        "ends_on": agreement.ends_on.isoformat() if agreement.ends_on else None,
        "billed_until": agreement.billed_until.isoformat(),
        "series": agreement.series_id,
        "payment_method": agreement.payment_method,
        "mandate": agreement.mandate_id,
        "payment_terms_days": agreement.payment_terms_days,
        "is_active": agreement.is_active,
    }


@transaction.atomic
def create_agreement(*, actor: User | None, client: Client, **fields: Any) -> Agreement:
    """A client's agreement, billed from its start (``billed_until`` = ``starts_on``)."""
    require_billing_writer(actor)
    unknown = set(fields) - set(AGREEMENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown agreement fields: {sorted(unknown)}")
    values = {"billing_period": BillingPeriod.MONTHLY, "payment_method": PaymentMethod.TRANSFER}
    values.update(fields)
    values = _clean_agreement(client, values)
    agreement = Agreement.objects.create(client=client, billed_until=values["starts_on"], **values)
    record_audit(
        actor, agreement, "agreement.created", client=client, after=_agreement_snapshot(agreement)
    )
    return agreement


@transaction.atomic
def update_agreement(*, actor: User | None, agreement: Agreement, **fields: Any) -> Agreement:
    """Change an agreement. Its start moves only while nothing is billed; it may not end
    before the day it is already billed to (credit the invoice instead)."""
    require_billing_writer(actor)
    agreement = Agreement.objects.select_for_update().select_related("client").get(pk=agreement.pk)
    unknown = set(fields) - set(AGREEMENT_FIELDS) - {"is_active"}
    if unknown:
        raise TypeError(f"unknown agreement fields: {sorted(unknown)}")
    before = _agreement_snapshot(agreement)
    values: dict[str, Any] = {name: getattr(agreement, name) for name in AGREEMENT_FIELDS}
    is_active = fields.pop("is_active", agreement.is_active)
    values.update(fields)
    values = _clean_agreement(agreement.client, values)
    billed = agreement.billed_until > agreement.starts_on
    if billed and values["starts_on"] != agreement.starts_on:
        raise ValidationError(
            {"starts_on": [_("Already billed from this start; the start cannot move.")]}
        )
    last_billed = agreement.billed_until - timedelta(days=1)
    if billed and values["ends_on"] is not None and values["ends_on"] < last_billed:
        raise ValidationError(
            {
                "ends_on": [
                    _("Already billed until %(day)s; end on or after it, or credit the invoice.")
                    % {"day": last_billed.strftime("%d/%m/%Y")}
                ]
            }
        )
    for name, value in values.items():
        setattr(agreement, name, value)
    agreement.is_active = bool(is_active)
    if not billed:
        agreement.billed_until = agreement.starts_on
    agreement.save()
    record_audit(
        actor,
        agreement,
        "agreement.updated",
        client=agreement.client,
        before=before,
        after=_agreement_snapshot(agreement),
    )
    return agreement


LINE_FIELDS = (
    "product",
    "quantity_mode",
    "quantity",
    "unit_price",
    "description",
    "starts_on",
    "ends_on",
)


def _clean_line(agreement: Agreement, values: dict[str, Any]) -> dict[str, Any]:
    product = values.get("product")
    if not isinstance(product, Product):
        raise ValidationError({"product": [_("Choose a product of the catalogue.")]})
    # Read again: the product may have been retired since the form was shown.
    fresh = Product.objects.filter(pk=product.pk).first()
    if fresh is None or not fresh.is_active:
        raise ValidationError(
            {
                "product": [
                    _("%(code)s is retired; choose another product.") % {"code": product.code}
                ]
            }
        )
    values["product"] = fresh
    mode = values.get("quantity_mode", QuantityMode.FIXED)
    if mode not in QuantityMode.values:
        raise ValidationError({"quantity_mode": [_("Unknown quantity mode.")]})
    if mode == QuantityMode.MONITORED_DEVICES and fresh.unit != Unit.PER_DEVICE:
        raise ValidationError(
            {"quantity_mode": [_("Only a per-device product can count the monitored devices.")]}
        )
    if mode == QuantityMode.USER_CONTACTS and fresh.unit != Unit.PER_USER:
        raise ValidationError(
            {"quantity_mode": [_("Only a per-user product can count the users.")]}
        )
    values["quantity_mode"] = mode
    values["quantity"] = clean_decimal(
        "quantity", values.get("quantity", 1), limit=MAX_QUANTITY, places=3
    )
    if mode == QuantityMode.FIXED and values["quantity"] == 0:
        raise ValidationError({"quantity": [_("A fixed quantity must be above 0.")]})
    price = values.get("unit_price")
    values["unit_price"] = (
        None
        if price is None or price == ""
        else clean_decimal("unit_price", price, limit=MAX_PRICE, places=4)
    )
    description = str(values.get("description", "") or "").strip()
    if len(description) > 300:
        raise ValidationError({"description": [_("Keep the text within 300 characters.")]})
    values["description"] = description
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if day is not None and not isinstance(day, date):
            raise ValidationError({name: [_("Give a date or nothing.")]})
    if starts_on is not None and starts_on < agreement.starts_on:
        raise ValidationError({"starts_on": [_("A line cannot start before its agreement.")]})
    if ends_on is not None and ends_on < (starts_on or agreement.starts_on):
        raise ValidationError({"ends_on": [_("A line cannot end before it starts.")]})
    if agreement.ends_on is not None and starts_on is not None and starts_on > agreement.ends_on:
        raise ValidationError({"starts_on": [_("The agreement ends before this line starts.")]})
    return values


def _line_snapshot(line: AgreementLine) -> dict[str, Any]:
    return {
        "line": line.pk,
        "product": line.product.code,
        "quantity_mode": line.quantity_mode,
        "quantity": str(line.quantity),
        "unit_price": None if line.unit_price is None else str(line.unit_price),
        "description": line.description,
        "starts_on": line.starts_on.isoformat() if line.starts_on else None,
        "ends_on": line.ends_on.isoformat() if line.ends_on else None,
    }


@transaction.atomic
def add_line(*, actor: User | None, agreement: Agreement, **fields: Any) -> AgreementLine:
    """A recurring line from the catalogue: a fixed quantity, or counted each period."""
    require_billing_writer(actor)
    unknown = set(fields) - set(LINE_FIELDS)
    if unknown:
        raise TypeError(f"unknown line fields: {sorted(unknown)}")
    values = _clean_line(agreement, dict(fields))
    line = AgreementLine.objects.create(agreement=agreement, **values)
    record_audit(
        actor,
        agreement,
        "agreement.line_added",
        client=agreement.client,
        after=_line_snapshot(line),
    )
    return line


@transaction.atomic
def update_line(*, actor: User | None, line: AgreementLine, **fields: Any) -> AgreementLine:
    """Change a line; drafts already made keep their own copy of the old one."""
    require_billing_writer(actor)
    unknown = set(fields) - set(LINE_FIELDS)
    if unknown:
        raise TypeError(f"unknown line fields: {sorted(unknown)}")
    line = AgreementLine.objects.select_related("agreement__client", "product").get(pk=line.pk)
    before = _line_snapshot(line)
    values: dict[str, Any] = {name: getattr(line, name) for name in LINE_FIELDS}
    values.update(fields)
    values = _clean_line(line.agreement, values)
    for name, value in values.items():
        setattr(line, name, value)
    line.save()
    record_audit(
        actor,
        line.agreement,
        "agreement.line_changed",
        client=line.agreement.client,
        before=before,
        after=_line_snapshot(line),
    )
    return line


@transaction.atomic
def remove_line(*, actor: User | None, line: AgreementLine) -> None:
    """Take a line off an agreement (the invoices that billed it keep their lines)."""
    require_billing_writer(actor)
    line = AgreementLine.objects.select_related("agreement__client", "product").get(pk=line.pk)
    record_audit(
        actor,
        line.agreement,
        "agreement.line_removed",
        client=line.agreement.client,
        before=_line_snapshot(line),
    )
    line.delete()


@transaction.atomic
def set_rate(
    *, actor: User | None, agreement: Agreement, work_type: WorkType, hourly_rate: Any
) -> AgreementRate:
    """The agreement's hourly rate for one work type (overrides the catalogue's)."""
    require_billing_writer(actor)
    if not isinstance(work_type, WorkType):
        raise ValidationError({"work_type": [_("Choose a work type.")]})
    rate = clean_decimal("hourly_rate", hourly_rate, limit=MAX_PRICE, places=4)
    found = AgreementRate.objects.filter(agreement=agreement, work_type=work_type).first()
    before = {"hourly_rate": str(found.hourly_rate)} if found else {}
    if found is None:
        found = AgreementRate.objects.create(
            agreement=agreement, work_type=work_type, hourly_rate=rate
        )
    else:
        found.hourly_rate = rate
        found.save(update_fields=["hourly_rate"])
    record_audit(
        actor,
        agreement,
        "agreement.rate_set",
        client=agreement.client,
        before=before,
        after={"work_type": work_type.slug, "hourly_rate": str(rate)},
    )
    return found


@transaction.atomic
def remove_rate(*, actor: User | None, rate: AgreementRate) -> None:
    require_billing_writer(actor)
    agreement = rate.agreement
    record_audit(
        actor,
        agreement,
        "agreement.rate_removed",
        client=agreement.client,
        before={"work_type": rate.work_type.slug, "hourly_rate": str(rate.hourly_rate)},
    )
    rate.delete()

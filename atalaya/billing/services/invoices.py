"""Invoices: drafts, totals, issuing with gap-free numbers, credit notes, series, sending.

Every write goes through here (views, the API, the recurring run and the CLI call
these functions). A draft is edited freely; issuing takes the next number of its
series by one atomic UPDATE inside the issuing transaction, so numbers follow issue
order and a rolled-back issue leaves no hole; it snapshots both parties and freezes
the invoice. Corrections are credit notes (facturas rectificativas) that reference
the invoice they correct and never credit more than is left of it. Bad input is
refused with a ValidationError naming the field, before anything is written.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.billing import money
from atalaya.billing.models import (
    Agreement,
    BillingProfile,
    BillingSettings,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    InvoiceVatTotal,
    Mandate,
    PaymentMethod,
    Product,
    VatCategory,
    can_write_billing,
)
from atalaya.billing.models.common import IVA_RATES
from atalaya.billing.taxids import validate_tax_id
from atalaya.core.models import AuditEvent, Client, ContactMembership, User
from atalaya.core.services import record_audit

# The NUMERIC columns' ranges: an amount past them cannot be stored, so it is refused.
MAX_AMOUNT = Decimal("999999999999.99")  # money: NUMERIC(14, 2)
MAX_PRICE = Decimal("9999999999.9999")  # unit price: NUMERIC(14, 4)
MAX_QUANTITY = Decimal("999999999.999")  # quantity: NUMERIC(12, 3)
MAX_DESCRIPTION = 500
MAX_NOTES = 5000
MAX_REASON = 300
MAX_LINES = 500
ZERO = Decimal("0.00")
EDITABLE_FIELDS = ("period_start", "period_end", "payment_method", "mandate", "notes", "series")


def _require_writer(actor: User | None) -> None:
    # None is the system itself (the recurring run, the CLI, migrations).
    if actor is not None and not can_write_billing(actor):
        raise PermissionDenied(_("Your role may not change billing."))


def _audit(actor: User | None, invoice: Invoice, action: str, **changes: Any) -> None:
    record_audit(actor, invoice, action, client=invoice.client, **changes)


# ---------------------------------------------------------------------------------------
# Lines: every value checked before anything is written
# ---------------------------------------------------------------------------------------


def _decimal(value: Any, field: str, places: int, maximum: Decimal, label: str) -> Decimal:
    """A Decimal from a Decimal, int or string; floats are refused (they are not exact)."""
    if isinstance(value, (bool, float)):
        raise ValidationError(
            {field: [_("%(label)s must be exact, not a float.") % {"label": label}]}
        )
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(
            {field: [_("“%(value)s” is not a number.") % {"value": str(value)[:40]}]}
        ) from None
    if not number.is_finite():
        raise ValidationError({field: [_("%(label)s must be a finite number.") % {"label": label}]})
    if abs(number) > maximum:
        raise ValidationError(
            {
                field: [
                    _("%(label)s is out of range (at most %(max)s).")
                    % {"label": label, "max": maximum}
                ]
            }
        )
    exact = number.quantize(Decimal(1).scaleb(-places))
    if exact != number:
        raise ValidationError(
            {field: [_("%(label)s takes at most %(n)d decimals.") % {"label": label, "n": places}]}
        )
    return exact


@dataclass(frozen=True)
class CleanLine:
    product: Product | None
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_category: str
    vat_rate: Decimal
    net_amount: Decimal
    period_start: date | None
    period_end: date | None
    agreement_line_id: int | None


def _product_text(product: Product, language: str) -> str:
    text = product.name(language)
    if product.is_package:
        parts = [c.product.name(language) for c in product.components.select_related("product")]
        if parts:
            text = f"{text}: {', '.join(parts)}"
    return text


def clean_line(
    data: Mapping[str, Any], *, currency: str, language: str, credit: bool = False
) -> CleanLine:
    """Check one line (a dict as the contract names it) and compute its net amount.

    A product fills what the line does not say: description, price, unit and VAT.
    Invoice lines take a positive quantity, credit note lines a negative one; a
    price is never negative (a discount is a credit note, not a negative price).
    """
    unknown = set(data) - {
        "product",
        "description",
        "quantity",
        "unit_price",
        "vat_category",
        "vat_rate",
        "unit",
        "period_start",
        "period_end",
        "currency",
        "agreement_line",
        "agreement_line_id",
    }
    if unknown:
        raise ValidationError(
            {
                "lines": [
                    _("Unknown line fields: %(names)s.") % {"names": ", ".join(sorted(unknown))}
                ]
            }
        )
    line_currency = str(data.get("currency") or currency).strip().upper()
    if line_currency != currency:
        raise ValidationError(
            {
                "currency": [
                    _("This invoice is in %(currency)s; a line in %(other)s cannot be added.")
                    % {"currency": currency, "other": line_currency[:10]}
                ]
            }
        )
    product = data.get("product")
    if product is not None and not isinstance(product, Product):
        raise ValidationError({"product": [_("Unknown product.")]})
    description = data.get("description")
    if description in (None, "") and product is not None:
        description = _product_text(product, language)
    description = " ".join(str(description or "").split())
    if not description:
        raise ValidationError({"description": [_("A line needs a description.")]})
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            {
                "description": [
                    _("A line's description is at most %(n)d characters (this one has %(len)d).")
                    % {"n": MAX_DESCRIPTION, "len": len(description)}
                ]
            }
        )
    if data.get("quantity") in (None, ""):
        raise ValidationError({"quantity": [_("A line needs a quantity.")]})
    quantity = _decimal(data["quantity"], "quantity", 3, MAX_QUANTITY, _("The quantity"))
    if quantity == 0:
        raise ValidationError({"quantity": [_("The quantity cannot be zero.")]})
    if credit and quantity > 0:
        raise ValidationError({"quantity": [_("A credit note line takes a negative quantity.")]})
    if not credit and quantity < 0:
        raise ValidationError(
            {
                "quantity": [
                    _("The quantity must be positive; correct an invoice with a credit note.")
                ]
            }
        )
    price_in = data.get("unit_price")
    if price_in in (None, ""):
        if product is None:
            raise ValidationError({"unit_price": [_("A line needs a unit price.")]})
        price_in = product.unit_price
    unit_price = _decimal(price_in, "unit_price", 4, MAX_PRICE, _("The unit price"))
    if unit_price < 0:
        raise ValidationError({"unit_price": [_("The unit price cannot be negative.")]})
    category = str(
        data.get("vat_category") or (product.vat_category if product else VatCategory.STANDARD)
    )
    if category not in VatCategory.values:
        raise ValidationError(
            {"vat_category": [_("“%(value)s” is not a VAT category.") % {"value": category[:10]}]}
        )
    rate_in = data.get("vat_rate")
    if rate_in in (None, ""):
        rate_in = product.vat_rate if product else (None if category == "S" else "0")
    if rate_in is None:
        raise ValidationError({"vat_rate": [_("A line needs a VAT rate.")]})
    vat_rate = _decimal(rate_in, "vat_rate", 2, Decimal(100), _("The VAT rate"))
    if category == VatCategory.STANDARD:
        if vat_rate not in IVA_RATES:
            raise ValidationError(
                {
                    "vat_rate": [
                        _("The VAT rate must be 21, 10 or 4 %% (or the line exempt), not %(rate)s.")
                        % {"rate": vat_rate}
                    ]
                }
            )
    else:
        # Exempt and reverse-charge lines carry no tax whatever rate they were given.
        vat_rate = Decimal("0.00")
    net = money.line_net(quantity, unit_price)
    if abs(net) > MAX_AMOUNT:
        raise ValidationError({"quantity": [_("The line's amount is out of range.")]})
    start, end = data.get("period_start"), data.get("period_end")
    for name, value in (("period_start", start), ("period_end", end)):
        if value is not None and not isinstance(value, date):
            raise ValidationError({name: [_("Enter a valid date.")]})
    if start and end and end < start:
        raise ValidationError({"period_end": [_("The period ends before it starts.")]})
    unit = str(data.get("unit") or (product.unit if product else ""))[:10]
    agreement_line = data.get("agreement_line")
    agreement_line_id = getattr(agreement_line, "pk", None) or data.get("agreement_line_id")
    return CleanLine(
        product=product,
        description=description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        vat_category=category,
        vat_rate=vat_rate,
        net_amount=net,
        period_start=start,
        period_end=end,
        agreement_line_id=agreement_line_id,
    )


def _clean_lines(
    lines: Iterable[Mapping[str, Any]], *, currency: str, language: str, credit: bool
) -> list[CleanLine]:
    cleaned = []
    for index, data in enumerate(lines):
        if index >= MAX_LINES:
            raise ValidationError(
                {"lines": [_("An invoice has at most %(n)d lines.") % {"n": MAX_LINES}]}
            )
        try:
            cleaned.append(clean_line(data, currency=currency, language=language, credit=credit))
        except ValidationError as exc:
            if len(cleaned) or index:
                # Say which line: the field keeps its name so a form can still show it.
                raise ValidationError(
                    {
                        field: [
                            _("Line %(n)d: %(error)s") % {"n": index + 1, "error": message}
                            for message in messages
                        ]
                        for field, messages in exc.message_dict.items()
                    }
                ) from None
            raise
    return cleaned


def _line_rows(invoice: Invoice, lines: Sequence[CleanLine], first: int) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            invoice=invoice,
            position=first + offset,
            product=line.product,
            agreement_line_id=line.agreement_line_id,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            net_amount=line.net_amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for offset, line in enumerate(lines)
    ]


def _check_range(result: money.Totals) -> None:
    for value in (result.net, result.vat, result.total):
        if abs(value) > MAX_AMOUNT:
            raise ValidationError({"lines": [_("The invoice's total is out of range.")]})


# ---------------------------------------------------------------------------------------
# Drafts
# ---------------------------------------------------------------------------------------


def default_series() -> InvoiceSeries | None:
    return InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=False).first()


def _active_mandate(client: Client) -> Mandate | None:
    return (
        Mandate.objects.filter(client=client, revoked_at__isnull=True)
        .order_by("-signed_on", "-id")
        .first()
    )


def _check_series(series: InvoiceSeries | None, *, credit: bool) -> InvoiceSeries:
    if series is None:
        raise ValidationError({"series": [_("Create an invoice series first.")]})
    if not series.is_active:
        raise ValidationError({"series": [_("The series %(code)s is closed.") % {"code": series}]})
    if series.is_for_credit_notes and not credit:
        raise ValidationError(
            {"series": [_("The series %(code)s is for credit notes.") % {"code": series}]}
        )
    return series


def _check_payment(client: Client, method: str, mandate: Mandate | None) -> Mandate | None:
    if method not in PaymentMethod.values:
        raise ValidationError(
            {"payment_method": [_("“%(value)s” is not a payment method.") % {"value": method[:20]}]}
        )
    if mandate is not None and mandate.client_id != client.pk:
        raise ValidationError({"mandate": [_("That mandate is another client's.")]})
    if method != PaymentMethod.DIRECT_DEBIT:
        return None
    return mandate


def _check_period(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise ValidationError({"period_end": [_("The period ends before it starts.")]})


@transaction.atomic
def create_draft(
    *,
    actor: User | None,
    client: Client,
    series: InvoiceSeries | None = None,
    agreement: Agreement | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
    lines: Iterable[Mapping[str, Any]] = (),
    payment_method: str | None = None,
    mandate: Mandate | None = None,
    notes: str = "",
    currency: str | None = None,
) -> Invoice:
    """A draft invoice for ``client`` with ``lines`` and its totals.

    The payment method comes from the agreement, else direct debit when the client has
    an active mandate, else transfer. The currency is the install's (EUR): another is
    refused rather than mixed. Nothing is written unless every line is valid.
    """
    _require_writer(actor)
    settings_row = BillingSettings.load()
    invoice_currency = (currency or settings_row.currency or "EUR").strip().upper()
    if invoice_currency != (settings_row.currency or "EUR"):
        raise ValidationError(
            {
                "currency": [
                    _("Invoices are issued in %(currency)s; %(other)s is not supported.")
                    % {"currency": settings_row.currency, "other": invoice_currency[:10]}
                ]
            }
        )
    series = _check_series(series or default_series(), credit=False)
    if agreement is not None and agreement.client_id != client.pk:
        raise ValidationError({"agreement": [_("That agreement is another client's.")]})
    if payment_method is None:
        if agreement is not None:
            payment_method, mandate = agreement.payment_method, mandate or agreement.mandate
        else:
            mandate = mandate or _active_mandate(client)
            payment_method = PaymentMethod.DIRECT_DEBIT if mandate else PaymentMethod.TRANSFER
    mandate = _check_payment(client, payment_method, mandate)
    _check_period(period_start, period_end)
    if len(notes or "") > MAX_NOTES:
        raise ValidationError(
            {"notes": [_("Notes are at most %(n)d characters.") % {"n": MAX_NOTES}]}
        )
    language = client.language or "es"
    cleaned = _clean_lines(lines, currency=invoice_currency, language=language, credit=False)
    _check_range(money.totals((c.vat_category, c.vat_rate, c.net_amount) for c in cleaned))
    invoice = Invoice.objects.create(
        client=client,
        series=series,
        agreement=agreement,
        period_start=period_start,
        period_end=period_end,
        language=language,
        currency=invoice_currency,
        payment_method=payment_method,
        mandate=mandate,
        notes=notes or "",
    )
    InvoiceLine.objects.bulk_create(_line_rows(invoice, cleaned, 0))
    recompute_totals(invoice)
    _audit(
        actor, invoice, "invoice.draft", after={"lines": len(cleaned), "total": str(invoice.total)}
    )
    return invoice


def _lock_draft(invoice: Invoice) -> Invoice:
    """The draft's row, locked for this transaction; an issued one is refused."""
    locked = (
        Invoice.objects.select_for_update().select_related("client", "series").get(pk=invoice.pk)
    )
    if locked.status == InvoiceStatus.ISSUED:
        raise ValidationError(
            {
                "status": [
                    _(
                        "Invoice %(code)s is issued and never changes; "
                        "correct it with a credit note."
                    )
                    % {"code": locked.code}
                ]
            }
        )
    if locked.status != InvoiceStatus.DRAFT:
        raise ValidationError({"status": [_("This draft was discarded.")]})
    return locked


def _sync(target: Invoice, source: Invoice) -> None:
    for field in (
        "status",
        "number",
        "code",
        "net_total",
        "vat_total",
        "total",
        "series_id",
        "period_start",
        "period_end",
        "payment_method",
        "mandate_id",
        "notes",
    ):
        setattr(target, field, getattr(source, field))


@transaction.atomic
def update_draft(*, actor: User | None, invoice: Invoice, **fields: Any) -> Invoice:
    """Change a draft's header: series, period, payment method and mandate, notes."""
    _require_writer(actor)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(
            {
                "__all__": [
                    _("These fields cannot be changed: %(names)s.")
                    % {"names": ", ".join(sorted(unknown))}
                ]
            }
        )
    locked = _lock_draft(invoice)
    before = {k: str(getattr(locked, k)) for k in fields}
    if "series" in fields:
        locked.series = _check_series(
            fields["series"], credit=locked.kind == InvoiceKind.CREDIT_NOTE
        )
    for name in ("period_start", "period_end"):
        if name in fields:
            setattr(locked, name, fields[name])
    _check_period(locked.period_start, locked.period_end)
    if "notes" in fields:
        notes = fields["notes"] or ""
        if len(notes) > MAX_NOTES:
            raise ValidationError(
                {"notes": [_("Notes are at most %(n)d characters.") % {"n": MAX_NOTES}]}
            )
        locked.notes = notes
    if "payment_method" in fields or "mandate" in fields:
        method = fields.get("payment_method", locked.payment_method)
        mandate = fields.get("mandate", locked.mandate)
        if method == PaymentMethod.DIRECT_DEBIT and mandate is None:
            mandate = _active_mandate(locked.client)
        locked.mandate = _check_payment(locked.client, method, mandate)
        locked.payment_method = method
    locked.save()
    _audit(
        actor,
        locked,
        "invoice.update",
        before=before,
        after={k: str(getattr(locked, k)) for k in fields},
    )
    _sync(invoice, locked)
    return locked


@transaction.atomic
def add_lines(
    *, actor: User | None, invoice: Invoice, lines: Iterable[Mapping[str, Any]]
) -> list[InvoiceLine]:
    """Append lines to a draft and recompute its totals; all or nothing."""
    _require_writer(actor)
    locked = _lock_draft(invoice)
    cleaned = _clean_lines(
        lines,
        currency=locked.currency,
        language=locked.language,
        credit=locked.kind == InvoiceKind.CREDIT_NOTE,
    )
    if not cleaned:
        raise ValidationError({"lines": [_("Add at least one line.")]})
    existing = locked.lines.count()
    if existing + len(cleaned) > MAX_LINES:
        raise ValidationError(
            {"lines": [_("An invoice has at most %(n)d lines.") % {"n": MAX_LINES}]}
        )
    last = locked.lines.aggregate(m=Max("position"))["m"]
    rows = InvoiceLine.objects.bulk_create(
        _line_rows(locked, cleaned, 0 if last is None else last + 1)
    )
    recompute_totals(locked)
    if locked.kind == InvoiceKind.CREDIT_NOTE:
        _check_creditable(locked.corrects, locked.total, exclude=locked)
    _audit(
        actor,
        locked,
        "invoice.lines_added",
        after={"descriptions": [c.description for c in cleaned], "total": str(locked.total)},
    )
    _sync(invoice, locked)
    return rows


def add_line(*, actor: User | None, invoice: Invoice, **line: Any) -> InvoiceLine:
    """One line on a draft (see ``clean_line`` for its fields)."""
    return add_lines(actor=actor, invoice=invoice, lines=[line])[0]


@transaction.atomic
def remove_line(*, actor: User | None, invoice: Invoice, line: InvoiceLine) -> None:
    """Take a line off a draft and recompute its totals."""
    _require_writer(actor)
    locked = _lock_draft(invoice)
    if line.invoice_id != locked.pk:
        raise ValidationError({"line": [_("That line is not on this invoice.")]})
    description = line.description
    line.delete()
    recompute_totals(locked)
    _audit(
        actor,
        locked,
        "invoice.line_removed",
        before={"description": description},
        after={"total": str(locked.total)},
    )
    _sync(invoice, locked)


def recompute_totals(invoice: Invoice) -> money.Totals:
    """A draft's VAT buckets and totals from its lines: VAT once per (category, rate).

    The totals are exactly the sums of the buckets, and the buckets of the lines'
    net amounts, so the invoice's total always equals the sum of its lines plus VAT.
    """
    if Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.ISSUED).exists():
        raise ValidationError({"status": [_("An issued invoice's totals never change.")]})
    rows = list(invoice.lines.values_list("vat_category", "vat_rate", "net_amount"))
    result = money.totals(rows)
    _check_range(result)
    InvoiceVatTotal.objects.filter(invoice=invoice).delete()
    InvoiceVatTotal.objects.bulk_create(
        InvoiceVatTotal(
            invoice=invoice, vat_category=b.category, vat_rate=b.rate, base=b.base, tax=b.tax
        )
        for b in result.buckets
    )
    invoice.net_total, invoice.vat_total, invoice.total = result.net, result.vat, result.total
    invoice.save(update_fields=["net_total", "vat_total", "total"])
    return result


@transaction.atomic
def discard_draft(*, actor: User | None, invoice: Invoice) -> Invoice:
    """Set a draft aside: it keeps its lines for the record and never gets a number."""
    _require_writer(actor)
    locked = _lock_draft(invoice)
    locked.status = InvoiceStatus.DISCARDED
    locked.save(update_fields=["status"])
    _audit(
        actor, locked, "invoice.discard", before={"status": "draft"}, after={"status": "discarded"}
    )
    invoice.status = locked.status
    return locked


# ---------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------


def seller_snapshot(settings_row: BillingSettings) -> dict[str, Any]:
    """The MSP as the invoice names it; refused while its legal name or tax id is missing."""
    if not settings_row.legal_name.strip():
        raise ValidationError(
            {"seller": [_("Fill in the MSP's legal name in the billing settings before issuing.")]}
        )
    try:
        tax = validate_tax_id(settings_row.tax_id)
    except ValidationError as exc:
        raise ValidationError(
            {
                "seller": [
                    _("The billing settings' tax id is not valid: %(error)s")
                    % {"error": " ".join(exc.messages)}
                ]
            }
        ) from None
    return {
        "legal_name": settings_row.legal_name,
        "tax_id": tax.value,
        "address": settings_row.address,
        "email": settings_row.email,
        "iban": settings_row.iban,
        "bic": settings_row.bic,
        "creditor_id": settings_row.creditor_id,
    }


def buyer_snapshot(client: Client, mandate: Mandate | None = None) -> dict[str, Any]:
    """The client as the invoice names it; a client without a valid tax id is refused."""
    profile = BillingProfile.objects.filter(client=client).first()
    if profile is None or not profile.tax_id.strip():
        raise ValidationError(
            {
                "tax_id": [
                    _(
                        "%(client)s has no tax id: add it to the client's billing profile "
                        "before issuing."
                    )
                    % {"client": client.name}
                ]
            }
        )
    try:
        tax = validate_tax_id(profile.tax_id)
    except ValidationError as exc:
        raise ValidationError(
            {
                "tax_id": [
                    _("%(client)s's tax id is not valid: %(error)s")
                    % {"client": client.name, "error": " ".join(exc.messages)}
                ]
            }
        ) from None
    buyer: dict[str, Any] = {
        "name": client.name,
        "tax_id": tax.value,
        "tax_id_kind": tax.kind,
        "address": profile.address,
        "postal_code": profile.postal_code,
        "city": profile.city,
        "country": profile.country,
        "email": profile.invoice_email,
    }
    if mandate is not None:
        buyer["mandate_reference"] = mandate.reference
        buyer["iban"] = mandate.iban
        buyer["mandate_signed_on"] = mandate.signed_on.isoformat()
    return buyer


def take_number(series: InvoiceSeries) -> int:
    """The series' next number, by one atomic UPDATE inside the caller's transaction.

    The UPDATE row-locks the series until the issuing transaction ends, so two
    issuers of one series queue behind each other (PostgreSQL) or behind the write
    lock (SQLite): numbers are handed out once, in order, and a rollback returns its
    number with it, so there is never a gap.
    """
    taken = InvoiceSeries.objects.filter(pk=series.pk, is_active=True).update(
        next_number=F("next_number") + 1
    )
    if not taken:
        raise ValidationError({"series": [_("The series %(code)s is closed.") % {"code": series}]})
    following = (
        InvoiceSeries.objects.filter(pk=series.pk).values_list("next_number", flat=True).get()
    )
    return following - 1


def format_code(series: InvoiceSeries, number: int) -> str:
    return f"{series.prefix}{number:05d}"


def _credited_so_far(original: Invoice, exclude: Invoice | None = None) -> Decimal:
    """The issued credit notes' (negative) totals on ``original``, as a positive amount."""
    notes = Invoice.objects.filter(
        corrects=original, kind=InvoiceKind.CREDIT_NOTE, status=InvoiceStatus.ISSUED
    )
    if exclude is not None:
        notes = notes.exclude(pk=exclude.pk)
    return -(notes.aggregate(s=Sum("total"))["s"] or ZERO)


def creditable(original: Invoice) -> Decimal:
    """What is left to credit on an issued invoice: its total less earlier credit notes."""
    return original.total - _credited_so_far(original)


def _check_creditable(
    original: Invoice | None, total: Decimal, exclude: Invoice | None = None
) -> None:
    if original is None:
        return
    left = original.total - _credited_so_far(original, exclude)
    if -total > left:
        raise ValidationError(
            {
                "lines": [
                    _("This credits %(amount)s but only %(left)s of %(code)s is left to credit.")
                    % {"amount": -total, "left": left, "code": original.code}
                ]
            }
        )


def _schedule_collection(actor: User | None, invoice: Invoice) -> None:
    """Hand a direct-debit invoice to the collections service, when that part is installed."""
    try:
        collections = importlib.import_module("atalaya.billing.services.collections")
    except ModuleNotFoundError as exc:
        if exc.name != "atalaya.billing.services.collections":
            raise
        return
    schedule = getattr(collections, "schedule_collection", None)
    if schedule is not None:
        schedule(actor=actor, invoice=invoice)


@transaction.atomic
def issue_invoice(
    *,
    actor: User | None,
    invoice: Invoice,
    issue_date: date | None = None,
    due_date: date | None = None,
) -> Invoice:
    """Give a draft the next number of its series and freeze it; all in one transaction.

    Refused (and nothing changes) for an invoice already issued, a discarded or empty
    or zero draft, a client without a valid tax id, incomplete seller settings, a
    direct debit without a mandate, or a credit note that would credit more than is
    left. The due date is the issue date plus the agreement's or the client's terms.
    """
    _require_writer(actor)
    locked = (
        Invoice.objects.select_for_update().select_related("client", "series").get(pk=invoice.pk)
    )
    if locked.status == InvoiceStatus.ISSUED:
        raise ValidationError(
            {"status": [_("Invoice %(code)s is already issued.") % {"code": locked.code}]}
        )
    if locked.status != InvoiceStatus.DRAFT:
        raise ValidationError({"status": [_("A discarded draft cannot be issued.")]})
    credit = locked.kind == InvoiceKind.CREDIT_NOTE
    if not locked.lines.exists():
        raise ValidationError({"lines": [_("An invoice without lines cannot be issued.")]})
    recompute_totals(locked)
    if locked.total == 0:
        raise ValidationError(
            {"lines": [_("An invoice for nothing (total zero) cannot be issued.")]}
        )
    if credit:
        if locked.total > 0:
            raise ValidationError({"lines": [_("A credit note's total must be negative.")]})
        # Lock the corrected invoice: two credit notes of it are issued one after the other.
        original = Invoice.objects.select_for_update().filter(pk=locked.corrects_id or 0).first()
        _check_creditable(original, locked.total, exclude=locked)
    elif locked.total < 0:
        raise ValidationError({"lines": [_("An invoice's total cannot be negative.")]})
    series = _check_series(locked.series, credit=credit)
    seller = seller_snapshot(BillingSettings.load())
    mandate = None
    if locked.payment_method == PaymentMethod.DIRECT_DEBIT and not credit:
        mandate = locked.mandate or _active_mandate(locked.client)
        if mandate is not None and not mandate.is_active:
            raise ValidationError(
                {
                    "mandate": [
                        _("Mandate %(reference)s was revoked; choose another or another method.")
                        % {"reference": mandate.reference}
                    ]
                }
            )
        if mandate is None:
            raise ValidationError(
                {"mandate": [_("A direct debit invoice needs an active mandate of the client.")]}
            )
    buyer = buyer_snapshot(locked.client, mandate)
    issue_date = issue_date or timezone.localdate()
    if due_date is None:
        terms = (
            locked.agreement.payment_terms_days
            if locked.agreement_id and locked.agreement
            else BillingProfile.objects.get(client=locked.client).payment_terms_days
        )
        due_date = issue_date if credit else issue_date + timedelta(days=terms)
    if due_date < issue_date:
        raise ValidationError({"due_date": [_("The due date is before the issue date.")]})
    number = take_number(series)
    locked.number = number
    locked.code = format_code(series, number)
    locked.status = InvoiceStatus.ISSUED
    locked.issue_date = issue_date
    locked.due_date = due_date
    locked.seller = seller
    locked.buyer = buyer
    locked.mandate = mandate
    locked.issued_at = timezone.now()
    locked.issued_by = actor if actor is not None and actor.pk else None
    locked.save()
    _audit(
        actor,
        locked,
        "invoice.issue",
        before={"status": "draft"},
        after={
            "status": "issued",
            "code": locked.code,
            "total": str(locked.total),
            "issue_date": issue_date.isoformat(),
            "due_date": due_date.isoformat(),
        },
    )
    if mandate is not None:
        _schedule_collection(actor, locked)
    _copy_issued(invoice, locked)
    return locked


def _copy_issued(target: Invoice, source: Invoice) -> None:
    for field in (
        "number",
        "code",
        "status",
        "issue_date",
        "due_date",
        "seller",
        "buyer",
        "mandate_id",
        "issued_at",
        "issued_by_id",
        "net_total",
        "vat_total",
        "total",
    ):
        setattr(target, field, getattr(source, field))


# ---------------------------------------------------------------------------------------
# Credit notes
# ---------------------------------------------------------------------------------------


def credit_note_series(original: Invoice) -> InvoiceSeries:
    series = original.series.credit_note_series
    if series is None or not series.is_active:
        series = InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=True).first()
    if series is None:
        raise ValidationError(
            {
                "series": [
                    _(
                        "Create a series for credit notes (or name one on the invoice's "
                        "series) first."
                    )
                ]
            }
        )
    return series


@transaction.atomic
def create_credit_note(
    *,
    actor: User | None,
    invoice: Invoice,
    reason: str,
    lines: Iterable[Mapping[str, Any]] | None = None,
) -> Invoice:
    """A draft credit note (factura rectificativa) correcting an issued invoice.

    Without ``lines`` it credits the whole invoice (each line with its quantity
    negated); with them, what they say (negative quantities). It never credits more
    than the invoice's total less the credit notes already issued on it; issuing it
    checks that again.
    """
    _require_writer(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": [_("Say why the invoice is corrected.")]})
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"reason": [_("The reason is at most %(n)d characters.") % {"n": MAX_REASON}]}
        )
    original = (
        Invoice.objects.select_for_update().select_related("series", "client").get(pk=invoice.pk)
    )
    if original.status != InvoiceStatus.ISSUED:
        raise ValidationError({"status": [_("Only an issued invoice can be corrected.")]})
    if original.kind != InvoiceKind.INVOICE:
        raise ValidationError({"status": [_("A credit note is not corrected by another one.")]})
    if lines is None:
        lines = [
            {
                "product": line.product,
                "description": line.description,
                "quantity": -line.quantity,
                "unit": line.unit,
                "unit_price": line.unit_price,
                "vat_category": line.vat_category,
                "vat_rate": line.vat_rate,
                "period_start": line.period_start,
                "period_end": line.period_end,
            }
            for line in original.lines.select_related("product").all()
        ]
    cleaned = _clean_lines(
        lines, currency=original.currency, language=original.language, credit=True
    )
    if not cleaned:
        raise ValidationError({"lines": [_("A credit note needs at least one line.")]})
    result = money.totals((c.vat_category, c.vat_rate, c.net_amount) for c in cleaned)
    _check_range(result)
    _check_creditable(original, result.total)
    note = Invoice.objects.create(
        client=original.client,
        series=credit_note_series(original),
        kind=InvoiceKind.CREDIT_NOTE,
        corrects=original,
        correction_reason=reason,
        agreement=original.agreement,
        period_start=original.period_start,
        period_end=original.period_end,
        language=original.language,
        currency=original.currency,
        # A credit note is refunded or set off by a person, never debited.
        payment_method=PaymentMethod.TRANSFER
        if original.payment_method == PaymentMethod.DIRECT_DEBIT
        else original.payment_method,
    )
    InvoiceLine.objects.bulk_create(_line_rows(note, cleaned, 0))
    recompute_totals(note)
    _audit(
        actor,
        note,
        "invoice.credit_note",
        after={"corrects": original.code, "reason": reason, "total": str(note.total)},
    )
    _audit(
        actor,
        original,
        "invoice.corrected",
        after={"credit_note": str(note.public_id), "reason": reason},
    )
    return note


# ---------------------------------------------------------------------------------------
# Series
# ---------------------------------------------------------------------------------------


@transaction.atomic
def create_series(
    *,
    actor: User | None,
    code: str,
    prefix: str,
    is_for_credit_notes: bool = False,
    credit_note_series: InvoiceSeries | None = None,
    next_number: int = 1,
) -> InvoiceSeries:
    """A numbering series; ``next_number`` above 1 continues a series begun elsewhere."""
    _require_writer(actor)
    code = (code or "").strip()
    prefix = (prefix or "").strip()
    errors: dict[str, list[str]] = {}
    from django.core.validators import validate_slug

    try:
        validate_slug(code)
    except ValidationError:
        errors["code"] = [_("A code is letters, digits, hyphens and underscores.")]
    if len(code) > 20:
        errors["code"] = [_("A code is at most 20 characters.")]
    elif code and InvoiceSeries.objects.filter(code=code).exists():
        errors["code"] = [_("A series with this code exists.")]
    if not prefix or len(prefix) > 20 or any(c.isspace() for c in prefix):
        errors["prefix"] = [_("A prefix is 1 to 20 characters without spaces.")]
    if not isinstance(next_number, int) or next_number < 1 or next_number > 10**9:
        errors["next_number"] = [_("The first number is a whole number from 1.")]
    if credit_note_series is not None and (
        is_for_credit_notes or not credit_note_series.is_for_credit_notes
    ):
        errors["credit_note_series"] = [_("Name a series made for credit notes.")]
    if errors:
        raise ValidationError(errors)
    series = InvoiceSeries.objects.create(
        code=code,
        prefix=prefix,
        is_for_credit_notes=is_for_credit_notes,
        credit_note_series=credit_note_series,
        next_number=next_number,
    )
    record_audit(
        actor,
        series,
        "series.create",
        after={"code": code, "prefix": prefix, "next_number": next_number},
    )
    return series


@transaction.atomic
def set_series_active(
    *, actor: User | None, series: InvoiceSeries, is_active: bool
) -> InvoiceSeries:
    """Close a series (no more numbers) or open it again; its numbers never change."""
    _require_writer(actor)
    InvoiceSeries.objects.filter(pk=series.pk).update(is_active=is_active)
    series.is_active = is_active
    record_audit(actor, series, "series.active" if is_active else "series.close")
    return series


# ---------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------


def recipients_of(invoice: Invoice) -> list[tuple[str, str, Any]]:
    """(address, language, contact) to mail: the invoice e-mail, else the billing contacts."""
    profile = BillingProfile.objects.filter(client=invoice.client).first()
    if profile is not None and profile.invoice_email:
        return [(profile.invoice_email, invoice.language, None)]
    found = []
    for membership in (
        ContactMembership.objects.filter(client=invoice.client, is_billing=True)
        .select_related("contact")
        .order_by("contact__name", "pk")
    ):
        contact = membership.contact
        if contact.email and getattr(contact, "is_active", True):
            found.append((contact.email, contact.language or invoice.language, contact))
    return found


def pdf_filename(invoice: Invoice) -> str:
    code = invoice.code or f"draft-{str(invoice.public_id)[:8]}"
    return f"{code}.pdf".replace("/", "-")


@transaction.atomic
def send_invoice(*, actor: User | None, invoice: Invoice) -> list[Any]:
    """Mail an issued invoice with its PDF to the client, through the outbox; marks ``sent_at``.

    Each sending is its own mail (a person may send again after a bounce); one
    recipient gets one mail per sending. The PDF is rendered once, in the invoice's
    language, and its hash is kept on the invoice.
    """
    _require_writer(actor)
    from atalaya.mail.outbox import kick_delivery, queue_mail

    if invoice.status != InvoiceStatus.ISSUED:
        raise ValidationError({"status": [_("Only an issued invoice can be sent.")]})
    recipients = recipients_of(invoice)
    if not recipients:
        raise ValidationError(
            {
                "invoice_email": [
                    _("%(client)s has no invoice e-mail and no billing contact with an address.")
                    % {"client": invoice.client.name}
                ]
            }
        )
    pdf = render_pdf(invoice)
    digest = hashlib.sha256(pdf).hexdigest()
    now = timezone.now()
    # The how-many-th sending: a double click queues one mail, a deliberate re-send another.
    rounds = AuditEvent.objects.filter(
        object_type="invoice", object_id=str(invoice.public_id), action="invoice.send"
    ).count()
    messages = []
    for address, language, contact in recipients:
        with translation.override(language):
            subject, body = _mail_text(invoice)
        message = queue_mail(
            key=f"invoice:{invoice.public_id}:send{rounds + 1}:{address}",
            kind="invoice",
            client=invoice.client,
            to_address=address,
            subject=subject,
            body_text=body,
            language=language,
            contact=contact,
            attachments=[(pdf_filename(invoice), "application/pdf", pdf)],
            now=now,
        )
        if message is not None:
            messages.append(message)
    invoice.sent_at = now
    invoice.pdf_sha256 = digest
    invoice.save(update_fields=["sent_at", "pdf_sha256"])
    record_audit(
        actor,
        invoice,
        "invoice.send",
        client=invoice.client,
        after={"to": [r[0] for r in recipients], "pdf_sha256": digest},
    )
    kick_delivery()
    return messages


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice as a PDF (see ``atalaya.billing.pdf``)."""
    from atalaya.billing.pdf import render_pdf as render

    return render(invoice)


def _mail_text(invoice: Invoice) -> tuple[str, str]:
    seller = invoice.seller.get("legal_name", "")
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        subject = _("Credit note %(code)s from %(seller)s") % {
            "code": invoice.code,
            "seller": seller,
        }
        body = _(
            "Hello,\n\nAttached is credit note %(code)s of %(date)s for %(total)s %(currency)s, "
            "which corrects invoice %(original)s.\n\nKind regards,\n%(seller)s"
        ) % {
            "code": invoice.code,
            "date": invoice.issue_date.isoformat() if invoice.issue_date else "",
            "total": invoice.total,
            "currency": invoice.currency,
            "original": invoice.corrects.code if invoice.corrects else "",
            "seller": seller,
        }
        return subject, body
    subject = _("Invoice %(code)s from %(seller)s") % {"code": invoice.code, "seller": seller}
    if invoice.payment_method == PaymentMethod.DIRECT_DEBIT:
        how = _("It will be collected by direct debit; there is nothing for you to do.")
    else:
        how = _("Please pay it by %(due)s.") % {
            "due": invoice.due_date.isoformat() if invoice.due_date else ""
        }
    body = _(
        "Hello,\n\nAttached is invoice %(code)s of %(date)s for %(total)s %(currency)s. "
        "%(how)s\n\nKind regards,\n%(seller)s"
    ) % {
        "code": invoice.code,
        "date": invoice.issue_date.isoformat() if invoice.issue_date else "",
        "total": invoice.total,
        "currency": invoice.currency,
        "how": how,
        "seller": seller,
    }
    return subject, body


__all__ = [
    "add_line",
    "add_lines",
    "clean_line",
    "create_credit_note",
    "create_draft",
    "create_series",
    "creditable",
    "discard_draft",
    "issue_invoice",
    "recompute_totals",
    "remove_line",
    "send_invoice",
    "set_series_active",
    "update_draft",
    "render_pdf",
]

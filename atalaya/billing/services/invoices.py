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

import importlib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Sum
from django.utils import timezone
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
)
from atalaya.billing.models.common import require_billing_writer

# The line checks, series and sending live in their own modules; the contract names
# them here.
from atalaya.billing.services.invoice_lines import (
    MAX_AMOUNT,
    MAX_DESCRIPTION,
    MAX_LINES,
    MAX_PRICE,
    MAX_QUANTITY,
    CleanLine,
    check_range,
    clean_line,
    clean_lines,
    line_rows,
)
from atalaya.billing.services.sending import (
    pdf_filename,
    render_pdf,
    send_invoice,
)
from atalaya.billing.services.series import create_series, set_series_active
from atalaya.billing.taxids import validate_tax_id
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit

MAX_NOTES = 5000
MAX_REASON = 300
ZERO = Decimal("0.00")
EDITABLE_FIELDS = ("period_start", "period_end", "payment_method", "mandate", "notes", "series")


def _audit(actor: User | None, invoice: Invoice, action: str, **changes: Any) -> None:
    record_audit(actor, invoice, action, client=invoice.client, **changes)


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
    require_billing_writer(actor)
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
    cleaned = clean_lines(lines, currency=invoice_currency, language=language, credit=False)
    check_range(money.totals((c.vat_category, c.vat_rate, c.net_amount) for c in cleaned))
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
    InvoiceLine.objects.bulk_create(line_rows(invoice, cleaned, 0))
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
    require_billing_writer(actor)
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
    require_billing_writer(actor)
    locked = _lock_draft(invoice)
    cleaned = clean_lines(
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
        line_rows(locked, cleaned, 0 if last is None else last + 1)
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
    require_billing_writer(actor)
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
    check_range(result)
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
    require_billing_writer(actor)
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
    require_billing_writer(actor)
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
    # Spanish invoicing rules: numbers follow the dates. Read under the series' row lock
    # (taken by the UPDATE above), so no one issues an earlier date meanwhile.
    latest = Invoice.objects.filter(series=series, status=InvoiceStatus.ISSUED).aggregate(
        d=Max("issue_date")
    )["d"]
    if latest is not None and issue_date < latest:
        raise ValidationError(
            {
                "issue_date": [
                    _(
                        "Series %(series)s already has an invoice dated %(date)s: a later "
                        "number cannot carry an earlier date."
                    )
                    % {"series": series.code, "date": latest.isoformat()}
                ]
            }
        )
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
    require_billing_writer(actor)
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
    cleaned = clean_lines(
        lines, currency=original.currency, language=original.language, credit=True
    )
    if not cleaned:
        raise ValidationError({"lines": [_("A credit note needs at least one line.")]})
    result = money.totals((c.vat_category, c.vat_rate, c.net_amount) for c in cleaned)
    check_range(result)
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
    InvoiceLine.objects.bulk_create(line_rows(note, cleaned, 0))
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


__all__ = [
    "MAX_AMOUNT",
    "MAX_DESCRIPTION",
    "MAX_LINES",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "CleanLine",
    "pdf_filename",
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

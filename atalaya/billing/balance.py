"""What a client still owes on an invoice, and their credit: the one place this is computed.

An invoice's open balance is its total, less what payments allocated to it (a payment
whose direct debit came back no longer counts), less the credit notes that correct it,
less the direct debits on their way (scheduled or submitted; a settled debit is a
payment already). Reminders, the portal and the reconciliation all read this.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from atalaya.billing.models import (
    Collection,
    CollectionStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
)

ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=14, decimal_places=2)

# Debits whose money is on its way but not yet a payment.
IN_FLIGHT_STATUSES = (CollectionStatus.SCHEDULED, CollectionStatus.SUBMITTED)


def _sum_of(queryset: QuerySet[Any], field: str) -> Coalesce:
    # No ordering: a model's default ordering would join the GROUP BY (PostgreSQL refuses).
    summed = queryset.order_by().values("g").annotate(s=Sum(field)).values("s")[:1]
    return Coalesce(Subquery(summed, output_field=_MONEY), Value(ZERO), output_field=_MONEY)


def with_balances(invoices: QuerySet[Invoice]) -> Any:
    """Annotate ``paid``, ``credited``, ``in_flight`` and ``open_balance`` in one query."""
    paid = _sum_of(
        PaymentAllocation.objects.filter(
            invoice=OuterRef("pk"), payment__returned_at__isnull=True
        ).annotate(g=Value(1)),
        "amount",
    )
    credited = _sum_of(
        Invoice.objects.filter(
            corrects=OuterRef("pk"), kind=InvoiceKind.CREDIT_NOTE, status=InvoiceStatus.ISSUED
        ).annotate(g=Value(1)),
        "total",
    )
    in_flight = _sum_of(
        Collection.objects.filter(invoice=OuterRef("pk"), status__in=IN_FLIGHT_STATUSES).annotate(
            g=Value(1)
        ),
        "amount",
    )
    return invoices.annotate(paid=paid, credited=credited, in_flight=in_flight).annotate(
        # A credit note's total is negative: adding it reduces what is owed.
        open_balance=ExpressionWrapper(
            F("total") - F("paid") + F("credited") - F("in_flight"), output_field=_MONEY
        )
    )


def open_balance(invoice: Invoice) -> Decimal:
    """The open balance of one issued invoice (zero for a draft or a credit note)."""
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        return ZERO
    row = with_balances(Invoice.objects.filter(pk=invoice.pk)).values("open_balance").first()
    return Decimal(row["open_balance"]) if row else ZERO


def open_balances(invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    ids = list(invoice_ids)
    rows = with_balances(
        Invoice.objects.filter(pk__in=ids, status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE)
    ).values_list("pk", "open_balance")
    found = {pk: Decimal(value) for pk, value in rows}
    return {pk: found.get(pk, ZERO) for pk in ids}


def unallocated(payment: Payment) -> Decimal:
    """What of a payment is not applied to any invoice yet: part of the client's credit."""
    if payment.returned_at is not None:
        return ZERO
    allocated = payment.allocations.aggregate(s=Sum("amount"))["s"] or ZERO
    return payment.amount - allocated


def credit_balance(client_id: int) -> Decimal:
    """The client's credit: unallocated payments plus credit notes beyond what they corrected."""
    payments = Payment.objects.filter(client_id=client_id, returned_at__isnull=True)
    received = payments.aggregate(s=Sum("amount"))["s"] or ZERO
    allocated = (
        PaymentAllocation.objects.filter(payment__in=payments).aggregate(s=Sum("amount"))["s"]
        or ZERO
    )
    excess = ZERO
    corrected = with_balances(
        Invoice.objects.filter(
            client_id=client_id,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.ISSUED,
            corrections__isnull=False,
        ).distinct()
    ).values_list("open_balance", flat=True)
    for value in corrected:
        if value < 0:
            excess -= Decimal(value)
    return received - allocated + excess

"""Scoped lookups of payments, mandates, direct debits and bank statements.

These pages and API routes are for MSP staff: anyone else (a client's portal user
included) gets 404, exactly as for an object that does not exist. Batches, statements
and bank entries belong to the MSP's own account (an unmatched entry has no client
yet), so only staff ever reach them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.billing.models import (
    BankEntry,
    BankStatement,
    Collection,
    CollectionBatch,
    Mandate,
    Payment,
)


def _uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def require_staff(user: Any) -> None:
    if user is None or not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")


def get_payment_or_404(user: Any, public_id: object) -> Payment:
    require_staff(user)
    found = (
        Payment.objects.visible_to(user)
        .select_related("client", "collection", "bank_entry", "created_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if found is None:
        raise Http404("No such payment")
    return found


def get_mandate_or_404(user: Any, public_id: object) -> Mandate:
    require_staff(user)
    found = (
        Mandate.objects.visible_to(user)
        .select_related("client")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if found is None:
        raise Http404("No such mandate")
    return found


def get_collection_or_404(user: Any, public_id: object) -> Collection:
    require_staff(user)
    found = (
        Collection.objects.visible_to(user)
        .select_related("client", "invoice", "mandate", "batch")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if found is None:
        raise Http404("No such direct debit")
    return found


def get_batch_or_404(user: Any, public_id: object) -> CollectionBatch:
    require_staff(user)
    found = CollectionBatch.objects.filter(public_id=_uuid(public_id)).first()
    if found is None:
        raise Http404("No such batch")
    return found


def get_statement_or_404(user: Any, public_id: object) -> BankStatement:
    require_staff(user)
    found = (
        BankStatement.objects.select_related("imported_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if found is None:
        raise Http404("No such statement")
    return found


def get_bank_entry_or_404(user: Any, entry_id: object) -> BankEntry:
    require_staff(user)
    try:
        pk = int(str(entry_id))
    except ValueError:
        raise Http404("No such bank entry") from None
    found = BankEntry.objects.select_related("statement", "client").filter(pk=pk).first()
    if found is None:
        raise Http404("No such bank entry")
    return found

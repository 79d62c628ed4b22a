"""Numbering series: created with checks, closed and opened; their numbers never change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils.translation import gettext as _

from atalaya.billing.models import InvoiceSeries
from atalaya.billing.models.common import require_billing_writer
from atalaya.core.models import User
from atalaya.core.services import record_audit


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
    require_billing_writer(actor)
    code = (code or "").strip()
    prefix = (prefix or "").strip()
    errors: dict[str, list[str]] = {}
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
    require_billing_writer(actor)
    InvoiceSeries.objects.filter(pk=series.pk).update(is_active=is_active)
    series.is_active = is_active
    record_audit(actor, series, "series.active" if is_active else "series.close")
    return series

"""SEPA Core mandates: record one a client signed, revoke it.

A mandate's reference travels in every pain.008 the MSP sends, so it is checked
against what the EPC rulebook allows (at most 35 characters of the SEPA character
set, not starting or ending with "/" nor containing "//"); the IBAN and BIC are
checked by ``taxids.validate_iban``. A new mandate is collected FRST until its first
collection has been submitted, then RCUR (``collections.mark_submitted`` flips it).
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing import taxids
from atalaya.billing.models import (
    Collection,
    CollectionStatus,
    Mandate,
    MandateSequence,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit

# The SEPA (Latin) character set of the EPC implementation guidelines.
SEPA_TEXT = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]+$")
MAX_REFERENCE = 35


def clean_reference(raw: str) -> str:
    reference = (raw or "").strip()
    if not reference:
        raise ValidationError({"reference": _("The mandate reference is required.")})
    if len(reference) > MAX_REFERENCE:
        raise ValidationError(
            {"reference": _("The mandate reference may have at most 35 characters.")}
        )
    if not SEPA_TEXT.match(reference):
        raise ValidationError(
            {
                "reference": _(
                    "The mandate reference may use only letters A-Z, digits and / - ? : ( ) . , ' +"
                )
            }
        )
    if reference.startswith("/") or reference.endswith("/") or "//" in reference:
        raise ValidationError(
            {"reference": _("The mandate reference may not start or end with / nor contain //.")}
        )
    return reference


def clean_debtor_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationError({"debtor_name": _("The account holder's name is required.")})
    if len(name) > 70:
        raise ValidationError(
            {"debtor_name": _("The account holder's name may have at most 70 characters.")}
        )
    return name


@transaction.atomic
def create_mandate(
    *,
    actor: User | None,
    client: Client,
    reference: str,
    signed_on: date,
    iban: str,
    debtor_name: str,
    bic: str = "",
) -> Mandate:
    """Record a mandate the client signed; the next collection on it is sent FRST."""
    require_billing_writer(actor)
    reference = clean_reference(reference)
    debtor_name = clean_debtor_name(debtor_name)
    if not isinstance(signed_on, date):
        raise ValidationError({"signed_on": _("The signature date is required.")})
    if signed_on > timezone.localdate():
        raise ValidationError({"signed_on": _("The signature date cannot be in the future.")})
    try:
        account = taxids.validate_iban(iban, bic)
    except ValidationError as exc:
        raise ValidationError({"iban": exc.messages}) from None
    if Mandate.objects.filter(reference=reference).exists():
        raise ValidationError(
            {"reference": _("A mandate with the reference %(ref)s exists.") % {"ref": reference}}
        )
    try:
        with transaction.atomic():
            mandate = Mandate.objects.create(
                client=client,
                reference=reference,
                signed_on=signed_on,
                debtor_name=debtor_name,
                iban=account.iban,
                bic=account.bic,
                sequence=MandateSequence.FIRST,
            )
    except IntegrityError:  # the same reference saved by someone else just now
        raise ValidationError(
            {"reference": _("A mandate with the reference %(ref)s exists.") % {"ref": reference}}
        ) from None
    record_audit(
        actor,
        mandate,
        "mandate.created",
        client=client,
        after={
            "reference": reference,
            "signed_on": signed_on.isoformat(),
            "iban": account.iban,
            "bic": account.bic,
            "debtor_name": debtor_name,
        },
    )
    return mandate


@transaction.atomic
def revoke_mandate(*, actor: User | None, mandate: Mandate, reason: str = "") -> Mandate:
    """The client withdrew the mandate: no new collection on it; the ones still only
    scheduled (not sent to the bank) are cancelled, so their invoices are owed again."""
    require_billing_writer(actor)
    now = timezone.now()
    if not Mandate.objects.filter(pk=mandate.pk, revoked_at__isnull=True).update(revoked_at=now):
        raise ValidationError(_("This mandate was already revoked."))
    mandate.revoked_at = now
    from atalaya.billing.services import collections

    cancelled = 0
    for collection in Collection.objects.filter(
        mandate=mandate, status=CollectionStatus.SCHEDULED
    ).select_related("batch"):
        collections.cancel_collection(
            actor=actor, collection=collection, reason=_("The mandate was revoked.")
        )
        cancelled += 1
    record_audit(
        actor,
        mandate,
        "mandate.revoked",
        client=mandate.client,
        after={"reason": (reason or "")[:300], "cancelled_collections": cancelled},
    )
    return mandate

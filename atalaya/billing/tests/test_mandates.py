"""Mandates: references of the SEPA character set, unique; signature not in the future;
IBAN checked; FRST until the first collection is submitted, then RCUR; revocation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.billing.models import Mandate
from atalaya.billing.services import collections, mandates
from atalaya.billing.tests.payments_fixtures import (
    CLIENT_IBAN,
    creditor_settings,
    dd_invoice,
    mandate_of,
    scheduled,
)
from atalaya.core.models import AuditEvent


def _create(world, **overrides):
    fields = {
        "actor": world.billing,
        "client": world.client_a,
        "reference": "ALFA-0001",
        "signed_on": date(2026, 1, 15),
        "iban": "es79 2100 0813 6101 2345 6789",
        "debtor_name": "Alfa Asesores SL",
    }
    fields.update(overrides)
    return mandates.create_mandate(**fields)


def test_create_mandate_compacts_iban_and_derives_bic(world):
    mandate = _create(world)
    assert mandate.iban == CLIENT_IBAN
    assert mandate.bic.startswith("CAIXES")
    assert mandate.sequence == "FRST"
    assert AuditEvent.objects.filter(action="mandate.created", object_id=str(mandate.public_id))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reference": ""}, "required"),
        ({"reference": "X" * 36}, "at most 35"),
        ({"reference": "ALFA_0001"}, "only letters"),
        ({"reference": "ALFA\u00d1-1"}, "only letters"),
        ({"reference": "/ALFA"}, "start or end"),
        ({"reference": "AL//FA"}, "start or end"),
        ({"iban": "ES7921000813610123456780"}, "not a valid IBAN"),
        ({"iban": ""}, "IBAN is required"),
        ({"debtor_name": "  "}, "name is required"),
        ({"signed_on": timezone.localdate() + timedelta(days=1)}, "future"),
    ],
)
def test_bad_mandates_are_refused(world, overrides, message):
    with pytest.raises(ValidationError, match=message):
        _create(world, **overrides)
    assert not Mandate.objects.exists()


def test_reference_is_unique(world):
    _create(world)
    with pytest.raises(ValidationError, match="exists"):
        _create(world, client=world.client_b)


def test_read_only_may_not_create(world):
    with pytest.raises(PermissionDenied):
        _create(world, actor=world.readonly)


def test_frst_until_first_submitted_then_rcur(world):
    creditor_settings()
    mandate = mandate_of(world.client_a)
    first = scheduled(dd_invoice(world.client_a, mandate))
    assert first.sequence == "FRST"
    second = scheduled(dd_invoice(world.client_a, mandate), due_on=first.due_on)
    assert second.sequence == "FRST"  # the first one has not gone to the bank yet
    batch = collections.create_batch(actor=None, due_on=first.due_on, sequence="FRST")
    collections.submit_batch(actor=None, batch=batch)
    mandate.refresh_from_db()
    assert mandate.sequence == "RCUR"
    third = scheduled(dd_invoice(world.client_a, mandate))
    assert third.sequence == "RCUR"


def test_revoking_cancels_what_is_only_scheduled(world):
    creditor_settings()
    mandate = mandate_of(world.client_a)
    collection = scheduled(dd_invoice(world.client_a, mandate))
    mandates.revoke_mandate(actor=world.billing, mandate=mandate, reason="Client asked")
    collection.refresh_from_db()
    assert collection.status == "cancelled"
    with pytest.raises(ValidationError, match="already revoked"):
        mandates.revoke_mandate(actor=world.billing, mandate=mandate)
    with pytest.raises(ValidationError, match="revoked"):
        scheduled(dd_invoice(world.client_a, mandate))

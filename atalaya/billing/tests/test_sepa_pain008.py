"""The pain.008 file: one batch per due date and sequence type, unique message ids, and the
output valid against the pain.008.001.08 XSD that sepaxml ships (checked with lxml)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
from django.core.exceptions import ValidationError
from lxml import etree

from atalaya.billing import sepa
from atalaya.billing.models import BillingSettings, CollectionBatch
from atalaya.billing.services import collections
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    OTHER_IBAN,
    creditor_settings,
    dd_invoice,
    mandate_of,
    scheduled,
)

XSD = Path(sepaxml.__file__).parent / "schemas" / f"{sepa.PAIN008_SCHEMA}.xsd"
NS = {"p": f"urn:iso:std:iso:20022:tech:xsd:{sepa.PAIN008_SCHEMA}"}


def _validate(xml: str) -> etree._Element:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    document = etree.fromstring(xml.encode("utf-8"), parser)
    schema.assertValid(document)
    return document


@pytest.fixture
def debits(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    alfa = mandate_of(world.client_a)
    beta = mandate_of(world.client_b, reference="BETA-0001", iban=OTHER_IBAN)
    first = scheduled(dd_invoice(world.client_a, alfa))
    second = scheduled(dd_invoice(world.client_b, beta), due_on=first.due_on)
    return first, second


def test_batch_validates_against_the_xsd(debits):
    first, second = debits
    batch = collections.create_batch(actor=None, due_on=first.due_on, sequence="FRST")
    document = _validate(batch.xml)
    assert document.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == batch.message_id
    assert document.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert Decimal(document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS)) == Decimal("181.50")
    assert document.findtext(".//p:PmtInf/p:PmtTpInf/p:SeqTp", namespaces=NS) == "FRST"
    assert document.findtext(".//p:PmtInf/p:ReqdColltnDt", namespaces=NS) == (
        first.due_on.isoformat()
    )
    e2e = document.xpath(".//p:EndToEndId/text()", namespaces=NS)
    assert sorted(e2e) == sorted([first.end_to_end_id, second.end_to_end_id])
    mandates = document.xpath(".//p:MndtId/text()", namespaces=NS)
    assert sorted(mandates) == ["ALFA-0001", "BETA-0001"]
    assert "ES12ZZZB12345678" in document.xpath(".//p:CdtrSchmeId//p:Id/text()", namespaces=NS)
    first.refresh_from_db()
    assert first.batch_id == batch.pk and first.status == "scheduled"


def test_one_batch_per_due_date_and_sequence_with_unique_message_ids(world, debits):
    first, _second = debits
    alfa = first.mandate
    collections.submit_batch(
        actor=None,
        batch=collections.create_batch(actor=None, due_on=first.due_on, sequence="FRST"),
    )
    later = scheduled(dd_invoice(world.client_a, alfa), due_on=first.due_on)
    fresh = mandate_of(world.client_a, reference="ALFA-0002")
    newcomer = collections.schedule_collection(
        actor=None, invoice=dd_invoice(world.client_a, fresh), due_on=first.due_on
    )
    made = collections.create_batches(actor=None, due_on=first.due_on)
    assert sorted(b.sequence for b in made) == ["FRST", "RCUR"]
    by_sequence = {b.sequence: b for b in made}
    assert later.end_to_end_id in by_sequence["RCUR"].xml
    assert newcomer.end_to_end_id in by_sequence["FRST"].xml
    for batch in made:
        _validate(batch.xml)
    ids = list(CollectionBatch.objects.values_list("message_id", flat=True))
    assert len(ids) == len(set(ids)) == 3
    with pytest.raises(ValidationError, match="No collection is scheduled"):
        collections.create_batches(actor=None, due_on=first.due_on)


def test_missing_creditor_data_is_a_clear_error(debits):
    first, _second = debits
    settings = BillingSettings.load()
    settings.creditor_id = ""
    settings.save()
    with pytest.raises(ValidationError, match="creditor identifier"):
        collections.create_batch(actor=None, due_on=first.due_on, sequence="FRST")
    assert not CollectionBatch.objects.exists()


def test_reason_table():
    assert sepa.describe_reason("AM04") == "AM04: Insufficient funds"
    assert "ZZ99" in sepa.describe_reason("ZZ99")
    for code in ("AC01", "AC04", "AC06", "AG01", "AG02", "AM04", "AM05", "BE05", "CNOR"):
        assert code in sepa.RETURN_REASONS
    for code in ("DNOR", "FF01", "MD01", "MD02", "MD06", "MD07", "MS02", "MS03", "RC01"):
        assert code in sepa.RETURN_REASONS
    for code in ("RR01", "RR02", "RR03", "RR04", "SL01"):
        assert code in sepa.RETURN_REASONS

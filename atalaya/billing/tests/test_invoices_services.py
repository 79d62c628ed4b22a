"""Invoice services: drafts, lines, totals, issuing, credit notes, series, and bad input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from atalaya.billing.models import (
    BillingProfile,
    BillingSettings,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceVatTotal,
    IssuedInvoiceChanged,
    Mandate,
)
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import billing_ready, credit_series, product, series
from atalaya.core.models import AuditEvent


def line(description="Remote worker bundle", quantity="3", price="25.00", rate="21", **more):
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": price,
        "vat_rate": rate,
        **more,
    }


@pytest.fixture
def ready(world):
    series()
    credit_series()
    billing_ready(world.client_a)
    return world


def draft(world, lines=None, **kw):
    return invoices.create_draft(
        actor=world.billing, client=world.client_a, lines=lines or [line()], **kw
    )


def test_a_draft_has_lines_buckets_and_totals(ready):
    invoice = draft(
        ready,
        [
            line(quantity="3", price="25.00", rate="21"),
            line("Support hours", "2.5", "40.00", "21"),
            line("Books", "1", "19.99", "4"),
            line("Training", "1", "100.00", "0", vat_category="E"),
        ],
    )
    assert invoice.status == "draft" and invoice.number is None
    buckets = {
        (b.vat_category, b.vat_rate): (b.base, b.tax)
        for b in InvoiceVatTotal.objects.filter(invoice=invoice)
    }
    assert buckets == {
        ("S", Decimal("21.00")): (Decimal("175.00"), Decimal("36.75")),
        ("S", Decimal("4.00")): (Decimal("19.99"), Decimal("0.80")),
        ("E", Decimal("0.00")): (Decimal("100.00"), Decimal("0.00")),
    }
    assert invoice.net_total == sum(row.net_amount for row in invoice.lines.all())
    assert invoice.total == Decimal("294.99") + Decimal("37.55")
    assert AuditEvent.objects.filter(
        object_id=str(invoice.public_id), action="invoice.draft"
    ).exists()


def test_a_product_fills_the_line(ready):
    p = product(price="12.5000", vat_rate=Decimal("10"))
    invoice = draft(ready, [{"product": p, "quantity": "2"}])
    (row,) = invoice.lines.all()
    # Client A's language is Spanish: the product's Spanish name.
    assert (row.description, row.unit_price, row.vat_rate, row.unit) == (
        "Pack teletrabajo",
        Decimal("12.5000"),
        Decimal("10.00"),
        "user",
    )
    assert invoice.total == Decimal("27.50")


def test_lines_are_added_and_removed_with_totals_recomputed(ready):
    invoice = draft(ready)
    added = invoices.add_line(
        actor=ready.billing, invoice=invoice, **line("Extra", "1", "10", "10")
    )
    invoice.refresh_from_db()
    assert invoice.total == Decimal("90.75") + Decimal("11.00")
    invoices.remove_line(actor=ready.billing, invoice=invoice, line=added)
    invoice.refresh_from_db()
    assert invoice.total == Decimal("90.75")
    assert invoice.vat_totals.count() == 1


def test_issuing_numbers_snapshots_and_dates(ready):
    BillingProfile.objects.filter(client=ready.client_a).update(payment_terms_days=15)
    first = invoices.issue_invoice(
        actor=ready.billing, invoice=draft(ready), issue_date=date(2026, 11, 3)
    )
    second = invoices.issue_invoice(
        actor=ready.billing, invoice=draft(ready), issue_date=date(2026, 11, 4)
    )
    assert (first.number, first.code) == (1, "F2026-00001")
    assert (second.number, second.code) == (2, "F2026-00002")
    assert first.due_date == date(2026, 11, 18)
    assert first.buyer["tax_id"] == "B12345674" and first.buyer["name"] == "Alfa Asesores"
    assert first.seller["tax_id"] == "A58818501"
    assert first.issued_by == ready.billing
    assert InvoiceSeries.objects.get(code="F2026").next_number == 3
    assert AuditEvent.objects.filter(
        object_id=str(first.public_id), action="invoice.issue"
    ).exists()
    # The snapshot stays what it was when the client's data changes.
    BillingProfile.objects.filter(client=ready.client_a).update(tax_id="12345678Z")
    first.refresh_from_db()
    assert first.buyer["tax_id"] == "B12345674"


def test_an_issued_invoice_never_changes(ready):
    invoice = invoices.issue_invoice(actor=ready.billing, invoice=draft(ready))
    with pytest.raises(ValidationError, match="already issued"):
        invoices.issue_invoice(actor=ready.billing, invoice=invoice)
    with pytest.raises(ValidationError, match="issued and never changes"):
        invoices.add_line(actor=ready.billing, invoice=invoice, **line())
    with pytest.raises(ValidationError, match="issued and never changes"):
        invoices.remove_line(actor=ready.billing, invoice=invoice, line=invoice.lines.first())
    with pytest.raises(ValidationError, match="issued and never changes"):
        invoices.update_draft(actor=ready.billing, invoice=invoice, notes="changed")
    with pytest.raises(ValidationError):
        invoices.discard_draft(actor=ready.billing, invoice=invoice)
    with pytest.raises(ValidationError):
        invoices.recompute_totals(invoice)
    invoice.notes = "sneaky"
    with pytest.raises(IssuedInvoiceChanged):
        invoice.save()
    assert InvoiceSeries.objects.get(code="F2026").next_number == 2  # issuing twice took nothing


def test_a_client_without_a_valid_tax_id_is_not_invoiced(ready):
    BillingProfile.objects.filter(client=ready.client_a).update(tax_id="")
    invoice = draft(ready)
    with pytest.raises(ValidationError, match="Alfa Asesores has no tax id") as caught:
        invoices.issue_invoice(actor=ready.billing, invoice=invoice)
    assert "tax_id" in caught.value.message_dict
    BillingProfile.objects.filter(client=ready.client_a).update(tax_id="B12345670")
    with pytest.raises(ValidationError, match="not valid"):
        invoices.issue_invoice(actor=ready.billing, invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == "draft" and invoice.number is None
    assert InvoiceSeries.objects.get(code="F2026").next_number == 1


def test_the_seller_must_be_filled_in(ready):
    BillingSettings.objects.update(tax_id="")
    with pytest.raises(ValidationError, match="tax id"):
        invoices.issue_invoice(actor=ready.billing, invoice=draft(ready))


def test_empty_zero_and_discarded_drafts_are_not_issued(ready):
    empty = invoices.create_draft(actor=ready.billing, client=ready.client_a)
    with pytest.raises(ValidationError, match="without lines"):
        invoices.issue_invoice(actor=ready.billing, invoice=empty)
    zero = draft(ready, [line("Free", "1", "0", "21")])
    with pytest.raises(ValidationError, match="total zero"):
        invoices.issue_invoice(actor=ready.billing, invoice=zero)
    invoices.discard_draft(actor=ready.billing, invoice=zero)
    with pytest.raises(ValidationError, match="discarded"):
        invoices.issue_invoice(actor=ready.billing, invoice=zero)
    assert Invoice.objects.get(pk=zero.pk).status == "discarded"
    assert InvoiceSeries.objects.get(code="F2026").next_number == 1


def test_a_rolled_back_issue_leaves_no_gap(ready):
    first = draft(ready)
    with pytest.raises(RuntimeError), transaction.atomic():
        invoices.issue_invoice(actor=ready.billing, invoice=first)
        raise RuntimeError("crash after numbering")
    assert InvoiceSeries.objects.get(code="F2026").next_number == 1
    again = invoices.issue_invoice(actor=ready.billing, invoice=Invoice.objects.get(pk=first.pk))
    assert again.number == 1


def test_a_closed_series_gives_no_numbers(ready):
    invoice = draft(ready)
    invoices.set_series_active(actor=ready.billing, series=invoice.series, is_active=False)
    with pytest.raises(ValidationError, match="closed"):
        invoices.issue_invoice(actor=ready.billing, invoice=invoice)


def test_direct_debit_needs_a_mandate(ready):
    invoice = draft(ready, payment_method="direct_debit")
    assert invoice.mandate is None
    with pytest.raises(ValidationError, match="active mandate"):
        invoices.issue_invoice(actor=ready.billing, invoice=invoice)


def test_direct_debit_snapshots_the_mandate(ready):
    mandate = Mandate.objects.create(
        client=ready.client_a,
        reference="ALFA-MANDATE-1",
        signed_on=date(2026, 1, 10),
        debtor_name="Alfa Asesores",
        iban="ES9121000418450200051332",
    )
    BillingSettings.objects.update(creditor_id="ES11ZZZB12345674", iban="ES7921000813610123456789")
    invoice = draft(ready)  # an active mandate makes direct debit the default
    assert invoice.payment_method == "direct_debit" and invoice.mandate == mandate
    issued = invoices.issue_invoice(
        actor=ready.billing, invoice=invoice, issue_date=date(2026, 11, 1)
    )
    assert issued.buyer["mandate_reference"] == "ALFA-MANDATE-1"
    assert issued.buyer["iban"] == "ES9121000418450200051332"


# --- credit notes --------------------------------------------------------------------------


def test_a_full_credit_note_mirrors_the_invoice(ready):
    invoice = invoices.issue_invoice(
        actor=ready.billing, invoice=draft(ready), issue_date=date(2026, 11, 1)
    )
    note = invoices.create_credit_note(actor=ready.billing, invoice=invoice, reason="Wrong client")
    assert (note.kind, note.status, note.corrects, note.series.code) == (
        "credit_note",
        "draft",
        invoice,
        "R2026",
    )
    assert note.total == -invoice.total
    assert [row.quantity for row in note.lines.all()] == [Decimal("-3.000")]
    issued = invoices.issue_invoice(actor=ready.billing, invoice=note, issue_date=date(2026, 11, 2))
    assert issued.code == "R2026-00001" and issued.due_date == date(2026, 11, 2)
    assert invoices.creditable(invoice) == 0
    with pytest.raises(ValidationError, match="only 0.00"):
        invoices.create_credit_note(actor=ready.billing, invoice=invoice, reason="Again")


def test_partial_credit_notes_never_exceed_the_invoice(ready):
    invoice = invoices.issue_invoice(actor=ready.billing, invoice=draft(ready))  # 90.75
    one = [line(quantity="-1")]  # -30.25
    first = invoices.create_credit_note(
        actor=ready.billing, invoice=invoice, reason="One user left", lines=one
    )
    second = invoices.create_credit_note(
        actor=ready.billing, invoice=invoice, reason="Another", lines=[line(quantity="-2")]
    )
    invoices.issue_invoice(actor=ready.billing, invoice=first)
    # 30.25 + 60.50 credits the whole 90.75: allowed, and nothing more after that.
    invoices.issue_invoice(actor=ready.billing, invoice=second)
    assert invoices.creditable(invoice) == 0
    with pytest.raises(ValidationError, match="left to credit"):
        invoices.create_credit_note(
            actor=ready.billing, invoice=invoice, reason="x", lines=[line(quantity="-0.001")]
        )


def test_a_draft_credit_note_rechecked_at_issue(ready):
    invoice = invoices.issue_invoice(actor=ready.billing, invoice=draft(ready))
    a = invoices.create_credit_note(
        actor=ready.billing, invoice=invoice, reason="a", lines=[line(quantity="-2")]
    )
    b = invoices.create_credit_note(
        actor=ready.billing, invoice=invoice, reason="b", lines=[line(quantity="-2")]
    )
    invoices.issue_invoice(actor=ready.billing, invoice=a)
    with pytest.raises(ValidationError, match="left to credit"):
        invoices.issue_invoice(actor=ready.billing, invoice=b)
    assert Invoice.objects.get(pk=b.pk).status == "draft"


def test_credit_note_rules(ready):
    invoice = draft(ready)
    with pytest.raises(ValidationError, match="Only an issued invoice"):
        invoices.create_credit_note(actor=ready.billing, invoice=invoice, reason="x")
    issued = invoices.issue_invoice(actor=ready.billing, invoice=invoice)
    with pytest.raises(ValidationError, match="Say why"):
        invoices.create_credit_note(actor=ready.billing, invoice=issued, reason="  ")
    with pytest.raises(ValidationError, match="negative quantity"):
        invoices.create_credit_note(
            actor=ready.billing, invoice=issued, reason="x", lines=[line(quantity="1")]
        )
    note = invoices.issue_invoice(
        actor=ready.billing,
        invoice=invoices.create_credit_note(
            actor=ready.billing, invoice=issued, reason="x", lines=[line(quantity="-1")]
        ),
    )
    with pytest.raises(ValidationError, match="not corrected by another"):
        invoices.create_credit_note(actor=ready.billing, invoice=note, reason="x")


def test_no_credit_note_series_is_a_clear_error(world):
    series()
    billing_ready(world.client_a)
    issued = invoices.issue_invoice(
        actor=None, invoice=invoices.create_draft(actor=None, client=world.client_a, lines=[line()])
    )
    with pytest.raises(ValidationError, match="series for credit notes"):
        invoices.create_credit_note(actor=None, invoice=issued, reason="x")


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quantity": "-1"}, "quantity", "must be positive"),
        ({"quantity": "0"}, "quantity", "cannot be zero"),
        ({"quantity": "1e12"}, "quantity", "out of range"),
        ({"quantity": "NaN"}, "quantity", "finite"),
        ({"quantity": "abc"}, "quantity", "not a number"),
        ({"quantity": 1.5}, "quantity", "not a float"),
        ({"quantity": "1.0001"}, "quantity", "at most 3 decimals"),
        ({"unit_price": "-5"}, "unit_price", "cannot be negative"),
        ({"unit_price": "99999999999"}, "unit_price", "out of range"),
        ({"unit_price": "1.00001"}, "unit_price", "at most 4 decimals"),
        ({"quantity": "999999999", "unit_price": "9999999999"}, "quantity", "out of range"),
        ({"vat_rate": "16"}, "vat_rate", "21, 10 or 4"),
        ({"vat_category": "Z"}, "vat_category", "not a VAT category"),
        ({"description": ""}, "description", "needs a description"),
        ({"description": "x" * 501}, "description", "at most 500"),
        ({"currency": "USD"}, "currency", "in EUR"),
        ({"colour": "red"}, "lines", "Unknown line fields"),
    ],
)
def test_bad_lines_are_refused_and_nothing_is_written(ready, changes, field, message):
    before = (Invoice.objects.count(), InvoiceLine.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as caught:
        draft(ready, [line(), {**line(), **changes}])
    assert field in caught.value.message_dict
    text = " ".join(caught.value.message_dict[field])
    assert message in text and "Line 2" in text
    assert (
        Invoice.objects.count(),
        InvoiceLine.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_a_total_past_the_column_range_is_refused(ready):
    big = line(quantity="999999", price="999999.0000")  # 999,998,000,001.00 each
    with pytest.raises(ValidationError, match="out of range"):
        draft(ready, [big, big])
    assert not Invoice.objects.exists()


def test_only_the_installs_currency(ready):
    with pytest.raises(ValidationError, match="USD is not supported") as caught:
        draft(ready, currency="USD")
    assert "currency" in caught.value.message_dict


def test_a_bad_line_on_a_draft_changes_nothing(ready):
    invoice = draft(ready)
    with pytest.raises(ValidationError):
        invoices.add_lines(
            actor=ready.billing, invoice=invoice, lines=[line("ok"), line(quantity="-3")]
        )
    assert invoice.lines.count() == 1
    invoice.refresh_from_db()
    assert invoice.total == Decimal("90.75")


def test_readonly_staff_and_technicians_may_not_write(ready):
    for user in (ready.readonly, ready.tech, ready.portal_a):
        with pytest.raises(PermissionDenied):
            invoices.create_draft(actor=user, client=ready.client_a, lines=[line()])
    invoice = draft(ready)
    with pytest.raises(PermissionDenied):
        invoices.issue_invoice(actor=ready.readonly, invoice=invoice)
    assert invoices.issue_invoice(actor=ready.admin, invoice=invoice).number == 1


# --- series -----------------------------------------------------------------------------


def test_series_are_created_with_checks(ready):
    made = invoices.create_series(actor=ready.admin, code="F2027", prefix="F27-", next_number=120)
    assert made.next_number == 120
    with pytest.raises(ValidationError) as caught:
        invoices.create_series(actor=ready.admin, code="F2027", prefix="has space", next_number=0)
    assert set(caught.value.message_dict) == {"code", "prefix", "next_number"}
    with pytest.raises(ValidationError, match="made for credit notes"):
        invoices.create_series(actor=ready.admin, code="G", prefix="G-", credit_note_series=made)
    with pytest.raises(PermissionDenied):
        invoices.create_series(actor=ready.readonly, code="X", prefix="X-")
    invoice = draft(ready, series=made)
    assert invoices.issue_invoice(actor=ready.admin, invoice=invoice).code == "F27-00120"

"""Importing statements: stored once, entries once across files, reconciled by end-to-end
id, reference and amount; the manual queue; bad files write nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.billing import balance
from atalaya.billing.models import (
    BankEntry,
    BankStatement,
    BillingSettings,
    Collection,
    Payment,
)
from atalaya.billing.services import bank, collections
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    CLIENT_IBAN,
    MSP_IBAN,
    OTHER_IBAN,
    creditor_settings,
    dd_invoice,
    issued_directly,
    mandate_of,
    scheduled,
)
from atalaya.billing.tests.statement_files import Line, camt053, camt054, norma43
from atalaya.mail.models import OutboundMessage
from atalaya.tickets.models import Ticket

BOOKED = date(2026, 11, 20)


def _submitted(invoice):
    collection = scheduled(invoice)
    batch = collections.create_batch(
        actor=None, due_on=collection.due_on, sequence=collection.sequence
    )
    collections.submit_batch(actor=None, batch=batch)
    collection.refresh_from_db()
    return collection


@pytest.fixture
def books(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    mandate = mandate_of(world.client_a)
    settle = _submitted(dd_invoice(world.client_a, mandate))
    back = Collection.objects.get(pk=settle.pk)  # same batch date: a second debit
    back = _submitted(dd_invoice(world.client_a, mandate))
    by_reference = issued_directly(world.client_a)  # 90.75
    by_amount = issued_directly(world.client_a, lines=[("Support", "1", "100.00", "21")])  # 121.00
    return {
        "world": world,
        "settle": settle,
        "back": back,
        "by_reference": by_reference,
        "by_amount": by_amount,
    }


def _lines(books):
    return [
        Line(books["settle"].amount, e2e=books["settle"].end_to_end_id, bank_ref="S-1"),
        Line(
            f"-{books['back'].amount}",
            e2e=books["back"].end_to_end_id,
            reason="AM04",
            bank_ref="S-2",
        ),
        Line(
            "100.00",
            remittance=f"Pago factura {books['by_reference'].code}, gracias",
            name="Alfa Asesores",
            iban=OTHER_IBAN,
            bank_ref="S-3",
        ),
        Line("121.00", name="ALFA ASESORES SL", iban=CLIENT_IBAN, bank_ref="S-4"),
        Line("33.33", remittance="Unknown payer", iban="ES1000492352082414205416", bank_ref="S-5"),
        Line("-12.00", remittance="Bank fee", bank_ref="S-6"),
    ]


def test_import_reconciles_every_rule(books):
    world = books["world"]
    statement = bank.import_statement(
        actor=world.billing, data=camt053(_lines(books), iban=MSP_IBAN), filename="day.xml"
    )
    result = statement.result
    assert (result.new, result.settled, result.returned) == (6, 1, 1)
    assert (result.by_reference, result.by_amount, result.unmatched, result.outgoing) == (
        1,
        1,
        1,
        1,
    )
    assert statement.summary["settled"] == 1 and statement.matched_count == 4
    settle, back = books["settle"], books["back"]
    settle.refresh_from_db()
    back.refresh_from_db()
    assert settle.status == "provisional"
    assert Payment.objects.get(collection=settle).allocations.get().amount == settle.amount
    assert back.status == "returned" and back.return_reason == "AM04"
    assert balance.open_balance(back.invoice) == back.amount
    assert Ticket.objects.filter(category__slug="billing", client=world.client_a).count() == 1
    assert OutboundMessage.objects.filter(idempotency_key__startswith="billing:returned:").exists()
    assert balance.open_balance(books["by_reference"]) == 0
    assert balance.open_balance(books["by_amount"]) == 0
    assert balance.credit_balance(world.client_a.pk) == Decimal("9.25")
    rules = dict(BankEntry.objects.values_list("dedup_key", "matched_rule"))
    assert sorted(rules.values()) == sorted(
        [
            "end_to_end_settlement",
            "end_to_end_return",
            "reference",
            "amount_and_iban",
            "",
            "outgoing",
        ]
    )
    unknown = BankEntry.objects.get(status="unmatched")
    assert unknown.amount == Decimal("33.33") and unknown.client_id is None
    assert bank.bank_data_until() == BOOKED


def test_the_same_file_twice_changes_nothing(books):
    data = camt053(_lines(books), iban=MSP_IBAN)
    first = bank.import_statement(actor=None, data=data, filename="day.xml")
    counts = (BankEntry.objects.count(), Payment.objects.count(), Ticket.objects.count())
    again = bank.import_statement(actor=None, data=data, filename="day-copy.xml")
    assert again.pk == first.pk and again.result.duplicate_file
    assert (BankEntry.objects.count(), Payment.objects.count(), Ticket.objects.count()) == counts
    assert BankStatement.objects.count() == 1


def test_an_entry_in_camt054_and_camt053_is_stored_once(books):
    line = Line(books["settle"].amount, e2e=books["settle"].end_to_end_id, bank_ref="S-1")
    first = bank.import_statement(actor=None, data=camt054([line], iban=MSP_IBAN))
    assert first.result.settled == 1
    day = bank.import_statement(actor=None, data=camt053(_lines(books), iban=MSP_IBAN))
    assert day.result.duplicates == 1 and day.result.new == 5
    assert day.result.settled == 0
    assert Payment.objects.filter(collection=books["settle"]).count() == 1
    assert BankEntry.objects.count() == 6


def test_a_settlement_reported_again_changes_nothing(books):
    line = Line(books["settle"].amount, e2e=books["settle"].end_to_end_id, bank_ref="S-1")
    bank.import_statement(actor=None, data=camt054([line], iban=MSP_IBAN))
    other_key = Line(books["settle"].amount, e2e=books["settle"].end_to_end_id, bank_ref="X-9")
    later = bank.import_statement(actor=None, data=camt053([other_key], iban=MSP_IBAN))
    assert later.result.already_known == 1 and later.result.settled == 0
    assert Payment.objects.filter(collection=books["settle"]).count() == 1


def test_a_later_file_without_the_debit_never_downgrades_it(books):
    line = Line(books["settle"].amount, e2e=books["settle"].end_to_end_id, bank_ref="S-1")
    bank.import_statement(actor=None, data=camt054([line], iban=MSP_IBAN))
    bank.import_statement(actor=None, data=camt053([Line("1.00", bank_ref="Z")], iban=MSP_IBAN))
    books["settle"].refresh_from_db()
    assert books["settle"].status == "provisional"
    assert balance.open_balance(books["settle"].invoice) == 0


def test_another_account_is_refused_and_nothing_written(books):
    with pytest.raises(ValidationError, match="not of ES9121000418450200051332"):
        bank.import_statement(actor=None, data=camt053(_lines(books), iban=OTHER_IBAN))
    assert not BankStatement.objects.exists() and not BankEntry.objects.exists()


def test_an_account_in_another_currency_is_refused(books):
    with pytest.raises(ValidationError, match="in USD"):
        bank.import_statement(
            actor=None, data=camt053([Line("1.00")], iban=MSP_IBAN, currency="USD")
        )
    assert not BankStatement.objects.exists()


def test_an_entry_in_another_currency_waits_for_a_person(books):
    code = books["by_reference"].code
    data = camt053([Line("90.75", remittance=code, currency="USD")], iban=MSP_IBAN)
    statement = bank.import_statement(actor=None, data=data)
    assert statement.result.unmatched == 1
    assert "USD" in BankEntry.objects.get().note
    assert balance.open_balance(books["by_reference"]) == Decimal("90.75")


def test_a_broken_file_writes_nothing(books):
    data = camt053(_lines(books), iban=MSP_IBAN).replace(b">121.00<", b">12x<")
    with pytest.raises(ValidationError, match="not an amount"):
        bank.import_statement(actor=None, data=data)
    assert not BankStatement.objects.exists() and not Payment.objects.filter(
        bank_entry__isnull=False
    )


def test_read_only_may_not_import(books):
    with pytest.raises(PermissionDenied):
        bank.import_statement(actor=books["world"].readonly, data=camt053([], iban=MSP_IBAN))


def test_norma43_import_by_reference(books):
    code = books["by_reference"].code
    data = norma43([Line("90.75", remittance=f"TRANSFERENCIA FRA {code}")])
    statement = bank.import_statement(actor=None, data=data, filename="n43.txt")
    assert statement.format == "n43" and statement.account_iban == MSP_IBAN
    assert statement.result.by_reference == 1
    assert balance.open_balance(books["by_reference"]) == 0


def test_norma43_of_another_account(books):
    with pytest.raises(ValidationError, match="not of"):
        bank.import_statement(actor=None, data=norma43([Line("1.00")], account="1111111111"))


def test_two_entries_for_one_invoice_by_amount_take_it_once(books):
    lines = [
        Line("121.00", iban=CLIENT_IBAN, bank_ref="A-1"),
        Line("121.00", iban=CLIENT_IBAN, bank_ref="A-2"),
    ]
    statement = bank.import_statement(actor=None, data=camt053(lines, iban=MSP_IBAN))
    assert statement.result.by_amount == 1 and statement.result.unmatched == 1


def test_manual_queue_match_and_ignore(books):
    world = books["world"]
    lines = [Line("50.00", remittance="?", bank_ref="M-1"), Line("7.00", bank_ref="M-2")]
    bank.import_statement(actor=None, data=camt053(lines, iban=MSP_IBAN))
    first, second = BankEntry.objects.order_by("amount").reverse()
    invoice = books["by_reference"]
    payment = bank.match_entry(actor=world.billing, entry=first, invoice=invoice)
    assert payment.bank_entry_id == first.pk and payment.amount == Decimal("50.00")
    assert balance.open_balance(invoice) == Decimal("40.75")
    first.refresh_from_db()
    assert (first.status, first.matched_rule, first.client_id) == (
        "matched",
        "manual",
        world.client_a.pk,
    )
    with pytest.raises(ValidationError, match="not waiting"):
        bank.match_entry(actor=world.billing, entry=first, client=world.client_a)
    with pytest.raises(ValidationError, match="Say why"):
        bank.ignore_entry(actor=world.billing, entry=second, reason="")
    bank.ignore_entry(actor=world.billing, entry=second, reason="Refund from a supplier")
    second.refresh_from_db()
    assert second.status == "ignored" and second.note == "Refund from a supplier"
    assert not bank.unmatched_entries().exists()


def test_manual_match_to_a_client_is_credit(books):
    world = books["world"]
    bank.import_statement(actor=None, data=camt053([Line("20.00", bank_ref="C-1")], iban=MSP_IBAN))
    entry = BankEntry.objects.get()
    with pytest.raises(ValidationError, match="another client"):
        bank.match_entry(
            actor=world.billing, entry=entry, invoice=books["by_reference"], client=world.client_b
        )
    bank.match_entry(actor=world.billing, entry=entry, client=world.client_b)
    assert balance.credit_balance(world.client_b.pk) == Decimal("20.00")


def test_without_an_iban_in_the_settings_any_account_is_taken(books):
    settings = BillingSettings.load()
    settings.iban = ""
    settings.save()
    statement = bank.import_statement(actor=None, data=camt053([Line("1.00")], iban=OTHER_IBAN))
    assert statement.account_iban == OTHER_IBAN

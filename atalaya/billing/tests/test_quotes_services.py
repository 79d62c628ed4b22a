"""Quote services: totals like invoices, numbering on send, mail through the outbox, the
client's decision by compare-and-set (twice, concurrently, after expiry), the agreement
it becomes, expiry, and who may do what."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, connection
from django.utils import timezone

from atalaya.billing.models import Agreement, Quote, QuoteStatus
from atalaya.billing.services import quotes
from atalaya.billing.tests.quotes_fixtures import draft, plain_user_of_a, ready, sent
from atalaya.core.models import AuditEvent
from atalaya.mail.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_lines_totals_and_vat_per_bucket(world):
    quote = draft(world, ready(world))
    lines = list(quote.lines.order_by("position"))
    # 25.00 less 10 % = 22.50 × 12 = 270.00; the fee 100.00; VAT 21 % once on 370.00.
    assert lines[0].unit_price == Decimal("25.0000")
    assert lines[0].unit_price_net == Decimal("22.5000")
    assert lines[0].net_amount == Decimal("270.00")
    assert lines[0].description.startswith("Pack teletrabajo: VPN")  # client A speaks Spanish
    assert (quote.net_total, quote.vat_total, quote.total) == (
        Decimal("370.00"),
        Decimal("77.70"),
        Decimal("447.70"),
    )
    assert quote.status == QuoteStatus.DRAFT and quote.code == ""
    assert AuditEvent.objects.filter(object_id=str(quote.public_id), action="quote.created")


def test_bad_input_is_refused_naming_the_field(world):
    the_shop = ready(world)
    today = timezone.localdate()
    cases = [
        ({"title": ""}, "title"),
        ({"valid_until": today - timedelta(days=1)}, "valid_until"),
        ({"lines": [{"product": the_shop.bundle, "quantity": "0"}]}, "quantity"),
        ({"lines": [{"product": the_shop.bundle, "quantity": 1.5}]}, "quantity"),
        (
            {"lines": [{"product": the_shop.bundle, "quantity": 1, "discount_percent": "101"}]},
            "discount_percent",
        ),
        ({"lines": [{"product": the_shop.remote_hour, "quantity": 1}]}, "product"),
        ({"language": "fr"}, "language"),
    ]
    for change, field in cases:
        values: dict[str, Any] = {"title": "T", "valid_until": today, "lines": []}
        values.update(change)
        with pytest.raises(ValidationError) as caught:
            quotes.create_quote(actor=world.tech, client=world.client_a, **values)
        assert field in caught.value.message_dict, (change, caught.value)
    assert not Quote.objects.exists()


def test_readonly_staff_and_portal_users_may_not_draft(world):
    the_shop = ready(world)
    for who in (world.readonly, world.portal_a):
        with pytest.raises(PermissionDenied):
            draft(world, the_shop) if False else quotes.create_quote(
                actor=who, client=world.client_a, title="x", valid_until=timezone.localdate()
            )


def test_send_numbers_and_mails_decision_makers_with_the_pdf(world):
    quote = sent(world, ready(world))
    year = timezone.localdate().year
    assert quote.status == QuoteStatus.SENT
    assert quote.code == f"Q-{year}-0001"
    mail = OutboundMessage.objects.get(kind="quote", to_address="ana@alfa.example")
    assert mail.has_attachments
    assert f"/portal/quotes/{quote.public_id}/" in mail.body_text
    assert mail.language == "es"
    second = sent(world, ready(world), title="Second")
    assert second.code == f"Q-{year}-0002"
    with pytest.raises(ValidationError) as caught:
        quotes.send_quote(actor=world.tech, quote=quote)
    assert "status" in caught.value.message_dict


def test_send_without_anyone_to_tell_leaves_no_number(world):
    the_shop = ready(world)
    from atalaya.core.models import ContactMembership

    ContactMembership.objects.filter(client=world.client_a).update(
        is_decision_maker=False, is_billing=False
    )
    quote = draft(world, the_shop)
    with pytest.raises(ValidationError) as caught:
        quotes.send_quote(actor=world.tech, quote=quote)
    assert "recipients" in caught.value.message_dict
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT and quote.number is None


def test_accept_makes_one_agreement_with_the_quotes_prices(world):
    quote = sent(world, ready(world))
    start = timezone.localdate() + timedelta(days=3)
    accepted = quotes.accept_quote(quote=quote, user=world.portal_a, start_date=start)
    assert accepted.status == QuoteStatus.ACCEPTED
    assert accepted.decided_by == world.portal_a and accepted.decided_at is not None
    agreement = Agreement.objects.get(client=world.client_a)
    assert accepted.agreement == agreement and agreement.starts_on == start
    lines = sorted((ln.quantity, ln.unit_price) for ln in agreement.lines.all())
    assert lines == [
        (Decimal("1.000"), Decimal("100.0000")),
        (Decimal("12.000"), Decimal("22.5000")),
    ]
    # The author hears of it, through the outbox.
    assert OutboundMessage.objects.filter(kind="quote", to_address="tech@atalaya-msp.example")
    # A second acceptance (another tab) is refused clearly and makes nothing.
    with pytest.raises(ValidationError) as caught:
        quotes.accept_quote(quote=quote, user=world.portal_a, start_date=start)
    assert "already been accepted" in " ".join(caught.value.messages)
    with pytest.raises(ValidationError):
        quotes.decline_quote(quote=quote, user=world.portal_a, reason="changed my mind")
    assert Agreement.objects.filter(client=world.client_a).count() == 1


def test_declined_then_accepted_is_refused(world):
    quote = sent(world, ready(world))
    declined = quotes.decline_quote(quote=quote, user=world.portal_a, reason="Too expensive")
    assert declined.status == QuoteStatus.DECLINED and declined.decision_note == "Too expensive"
    with pytest.raises(ValidationError) as caught:
        quotes.accept_quote(quote=quote, user=world.portal_a, start_date=timezone.localdate())
    assert "already been declined" in " ".join(caught.value.messages)
    assert not Agreement.objects.filter(client=world.client_a).exists()


def test_decline_needs_a_reason(world):
    quote = sent(world, ready(world))
    with pytest.raises(ValidationError) as caught:
        quotes.decline_quote(quote=quote, user=world.portal_a, reason="  ")
    assert "reason" in caught.value.message_dict


def test_accept_after_expiry_is_refused_and_the_job_expires_it(world):
    quote = sent(world, ready(world))
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - timedelta(days=1))
    with pytest.raises(ValidationError) as caught:
        quotes.accept_quote(quote=quote, user=world.portal_a, start_date=timezone.localdate())
    assert "expired" in " ".join(caught.value.messages)
    assert quotes.expire_due() == 1
    assert quotes.expire_due() == 0
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED
    assert not Agreement.objects.exists()


def test_start_date_limits(world):
    quote = sent(world, ready(world))
    today = timezone.localdate()
    for day in (today - timedelta(days=1), today + timedelta(days=400), "2026-01-01"):
        with pytest.raises(ValidationError) as caught:
            quotes.accept_quote(quote=quote, user=world.portal_a, start_date=day)
        assert "start_date" in caught.value.message_dict
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT


def test_only_decision_makers_or_billing_contacts_decide(world):
    quote = sent(world, ready(world))
    plain = plain_user_of_a(world)
    for who in (plain, world.portal_b, world.tech, world.admin):
        with pytest.raises(PermissionDenied):
            quotes.accept_quote(quote=quote, user=who, start_date=timezone.localdate())
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT


def test_withdrawn_quote_cannot_be_accepted(world):
    quote = sent(world, ready(world))
    quotes.withdraw_quote(actor=world.tech, quote=quote, reason="Prices change")
    with pytest.raises(ValidationError) as caught:
        quotes.accept_quote(quote=quote, user=world.portal_a, start_date=timezone.localdate())
    assert "withdrawn" in " ".join(caught.value.messages)


def test_pdf_renders_in_the_quotes_language(world):
    quote = sent(world, ready(world))
    html = quotes.render_html(quote)
    assert "Presupuesto" in html or "Quote" in html
    assert quote.code in html
    pdf = quotes.render_pdf(quote)
    assert pdf.startswith(b"%PDF")


def _race(work: Any) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            work()
            outcomes.append("moved")
        except ValidationError as exc:
            outcomes.append("refused: " + " ".join(exc.messages))
        except OperationalError as exc:  # SQLite: the other writer holds the lock
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_people_accept_at_once_one_agreement(world):
    quote = sent(world, ready(world))
    start = timezone.localdate() + timedelta(days=1)

    def accept() -> None:
        copy = Quote.objects.select_related("client").get(pk=quote.pk)
        quotes.accept_quote(quote=copy, user=world.portal_a, start_date=start)

    if connection.vendor == "sqlite":
        # One writer at a time on SQLite: the two tabs one after the other.
        outcomes = []
        for _ in range(2):
            try:
                accept()
                outcomes.append("moved")
            except ValidationError as exc:
                outcomes.append("refused: " + " ".join(exc.messages))
    else:
        outcomes = _race(accept)
    assert sorted(o.split(":")[0] for o in outcomes) == ["moved", "refused"], outcomes
    assert Agreement.objects.filter(client=world.client_a).count() == 1
    assert (
        AuditEvent.objects.filter(object_id=str(quote.public_id), action="quote.accepted").count()
        == 1
    )


def test_the_daily_job_expires_sent_quotes(world):
    from atalaya.billing.tasks_quotes import expire_quotes

    quote = sent(world, ready(world))
    assert expire_quotes.call_local(today=quote.valid_until) == 0
    assert expire_quotes.call_local(today=quote.valid_until + timedelta(days=1)) == 1
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED

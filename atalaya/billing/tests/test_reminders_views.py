"""Reminder pages: runs, previews, approval and sending, pauses, disputes, the invoice's why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from atalaya.billing.models import ReminderPause, ReminderRun, SentReminder
from atalaya.billing.services import reminders
from atalaya.billing.tests.factories import issued_invoice, make_billing_contacts
from atalaya.billing.tests.reminders_fixtures import fresh_bank_data, pay
from atalaya.mail.models import OutboundMessage


@pytest.fixture
def setup(world):
    make_billing_contacts(world)
    fresh_bank_data()
    now = timezone.now()
    world.invoice = issued_invoice(
        world.client_a,
        issue_date=(now - timedelta(days=50)).date(),
        due_date=(now - timedelta(days=20)).date(),
    )
    return world


def test_the_run_list_for_staff_only(setup, django_assert_max_num_queries):
    url = reverse("billing:reminder_run_list")
    for _ in range(3):
        reminders.propose_run(actor=setup.billing)
    readonly = setup.http(setup.readonly)
    with django_assert_max_num_queries(8):
        response = readonly.get(url)
    assert response.status_code == 200
    assert b"Propose a run" not in response.content  # a read-only role sees no write
    assert setup.http(setup.billing).get(url).status_code == 200
    assert setup.http(setup.portal_a).get(url).status_code == 404
    assert setup.http(setup.portal_b).get(url).status_code == 404
    assert setup.http(setup.billing).post(url).status_code == 405


def test_propose_review_approve_and_send_through_the_pages(setup):
    http = setup.http(setup.billing)
    response = http.post(reverse("billing:reminder_run_new"))
    run = ReminderRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:reminder_run_detail", args=[run.public_id])
    page = http.get(response["Location"])
    assert page.status_code == 200
    item = run.items.get()
    text = page.content.decode()
    assert setup.invoice.code in text and item.subject in text  # the preview of the message
    assert "Due for step 1" in text
    assert setup.http(setup.portal_a).get(response["Location"]).status_code == 404
    # A read-only colleague may look but not approve or send.
    readonly = setup.http(setup.readonly)
    approve = reverse("billing:reminder_item_approve", args=[run.public_id, item.pk])
    send = reverse("billing:reminder_run_send", args=[run.public_id])
    assert readonly.post(approve).status_code == 403
    assert readonly.post(send).status_code == 403
    assert http.get(approve).status_code == 405
    assert http.post(approve).status_code == 302
    assert http.post(approve, follow=True).content.decode().count("already approved") == 1
    response = http.post(send, follow=True)
    assert "1 reminders sent, 0 dropped" in response.content.decode()
    assert (
        SentReminder.objects.count() == 1
        and OutboundMessage.objects.filter(kind="billing").count() == 1
    )
    response = http.post(send, follow=True)
    assert "sent already" in response.content.decode()
    assert OutboundMessage.objects.filter(kind="billing").count() == 1


def test_a_changed_run_cannot_be_approved_whole(setup):
    http = setup.http(setup.billing)
    run = reminders.propose_run(actor=setup.billing)
    pay(setup.invoice, "5.00")
    response = http.post(
        reverse("billing:reminder_run_approve_all", args=[run.public_id]), follow=True
    )
    assert "changed since the proposal" in response.content.decode()
    assert not run.items.filter(status="approved").exists()


def test_stale_bank_data_asks_for_an_override_with_a_reason(world):
    make_billing_contacts(world)
    http = world.http(world.billing)
    url = reverse("billing:reminder_run_new")
    page = http.get(url).content.decode()
    assert "No bank statement has been imported yet" in page and 'name="override_reason"' in page
    response = http.post(url, {"override": "on", "override_reason": "  "})
    assert response.status_code == 400 and not ReminderRun.objects.exists()
    response = http.post(url, {"override": "on", "override_reason": "Checked the bank by phone"})
    run = ReminderRun.objects.get()
    assert run.bank_data_override_by == world.billing
    assert run.bank_data_override_reason == "Checked the bank by phone"


def test_pauses_page(setup, django_assert_max_num_queries):
    http = setup.http(setup.billing)
    url = reverse("billing:reminder_pause_list")
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = http.post(url, {"reason": "Lockdown", "expires_at": past})
    assert response.status_code == 400 and "future" in response.content.decode()
    response = http.post(url, {"reason": "", "expires_at": past})
    assert response.status_code == 400
    assert not ReminderPause.objects.exists()
    until = (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    assert http.post(url, {"reason": "Lockdown", "expires_at": until}).status_code == 302
    assert (
        http.post(
            url, {"reason": "Flood", "expires_at": until, "client": setup.client_a.public_id}
        ).status_code
        == 302
    )
    readonly = setup.http(setup.readonly)
    with django_assert_max_num_queries(8):
        page = readonly.get(url)
    assert page.status_code == 200 and "Lockdown" in page.content.decode()
    assert setup.http(setup.portal_b).get(url).status_code == 404
    pause = ReminderPause.objects.get(client__isnull=True)
    lift = reverse("billing:reminder_pause_lift", args=[pause.pk])
    assert setup.http(setup.readonly).post(lift).status_code == 403
    assert setup.http(setup.portal_b).post(lift).status_code == 404
    assert http.get(lift).status_code == 405
    assert http.post(lift).status_code == 302
    pause.refresh_from_db()
    assert pause.lifted_by == setup.billing


def test_the_invoice_page_says_why_and_takes_a_dispute(setup):
    http = setup.http(setup.billing)
    detail = reverse("billing:invoice_detail", args=[setup.invoice.public_id])
    page = http.get(detail).content.decode()
    assert "Why this invoice would or would not get a reminder now" in page
    assert "Due for step 1" in page
    dispute = reverse("billing:invoice_dispute", args=[setup.invoice.public_id])
    assert setup.http(setup.readonly).post(dispute, {"reason": "x"}).status_code == 403
    assert setup.http(setup.portal_b).post(dispute, {"reason": "x"}).status_code == 404
    assert http.get(dispute).status_code == 405
    response = http.post(dispute, {"reason": ""}, follow=True)
    assert "Say what the client disputes" in response.content.decode()
    response = http.post(dispute, {"reason": "Hours not agreed"}, follow=True)
    assert "The client disputes this invoice: Hours not agreed" in response.content.decode()
    undispute = reverse("billing:invoice_undispute", args=[setup.invoice.public_id])
    response = http.post(undispute, follow=True)
    assert "Dispute cleared" in response.content.decode()
    setup.invoice.refresh_from_db()
    assert not setup.invoice.is_disputed

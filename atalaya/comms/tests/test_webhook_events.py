"""The event hooks in other apps: an alert opened, a temporary-fix reminder and a payment
reminder sent each queue one delivery with a small payload, once, however often the job
runs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from atalaya.billing.services import reminders as payment_reminders
from atalaya.billing.tests.factories import issued_invoice, make_billing_contacts
from atalaya.billing.tests.reminders_fixtures import fresh_bank_data
from atalaya.comms.webhooks import services
from atalaya.comms.webhooks.models import WebhookDelivery
from atalaya.conftest import World
from atalaya.monitoring import alerts
from atalaya.monitoring.models import CheckKind
from atalaya.monitoring.tests.engine_helpers import make_device
from atalaya.security.fixes import reminders
from atalaya.security.models import TemporaryFix


def subscribe(*events: str) -> None:
    services.create_webhook(actor=None, name="Ops", url="http://127.0.0.1:9/", events=events)


def bodies(event: str) -> list[dict]:
    return [json.loads(d.body) for d in WebhookDelivery.objects.filter(event=event)]


def test_an_alert_opened_is_one_event(world: World) -> None:
    subscribe("alert.opened")
    device = make_device(world.site_a, "srv-01")
    for minute in range(3):
        alerts.raise_or_update(
            device=device,
            kind=CheckKind.DISK,
            target="/",
            severity="warning",
            message="/ is 92% full (internal: the backup dir)",
            value=92.0,
            now=timezone.now() + timedelta(minutes=minute),
        )
    (body,) = bodies("alert.opened")
    data = body["data"]
    assert data["device"] == (device.display_name or device.hostname)
    assert (data["check"], data["target"], data["severity"]) == ("disk", "/", "warning")
    assert data["client"] == world.client_a.name
    assert "internal" not in json.dumps(body)
    assert not WebhookDelivery.objects.filter(event="ticket.created").exists()


def test_a_fix_reminder_sent_is_one_event(world: World) -> None:
    subscribe("fix_reminder.sent", "ticket.created")
    fix = TemporaryFix.objects.create(
        client=world.client_a,
        title="RDP opened for the accountant",
        reason="internal reason",
        owner=world.admin,
        revert_by=timezone.localdate() + timedelta(days=3),
    )
    assert reminders.send_due_reminders().sent == 1
    assert reminders.send_due_reminders().sent == 0
    (body,) = bodies("fix_reminder.sent")
    data = body["data"]
    assert data["fix"] == fix.title and data["client"] == world.client_a.name
    assert data["revert_by"] == fix.revert_by.isoformat()
    assert data["url"].endswith(f"/security/fixes/{fix.public_id}/")
    assert "internal reason" not in json.dumps(body)


def test_a_ticket_opened_by_mail_is_one_event(world: World, settings: Any, tmp_path: Any) -> None:
    from atalaya.mail.inbound import ingest
    from atalaya.mail.models import Mailbox
    from atalaya.mail.tests import mails
    from atalaya.tickets.models import Queue

    settings.MEDIA_ROOT = tmp_path
    Mailbox.objects.create(
        address="support@atalaya.localhost", queue=Queue.objects.order_by("pk").first()
    )
    subscribe("ticket.created")
    raw = mails.build(subject="Printer is broken", body="secret body text")
    first, again = ingest(raw), ingest(raw)
    assert again.is_duplicate and not first.is_duplicate
    (body,) = bodies("ticket.created")
    assert body["data"]["subject"] == "Printer is broken"
    assert body["data"]["client"] == world.client_a.name
    assert "secret body text" not in json.dumps(body)


def test_a_payment_reminder_sent_is_one_event(world: World) -> None:
    """Sending an approved run emits one ``reminder.sent`` per reminder, with the invoice
    and the client, never the mail's text; a second send of the run is refused."""
    subscribe("reminder.sent")
    now = timezone.now().replace(microsecond=0)
    make_billing_contacts(world)
    fresh_bank_data(now.date())
    invoice = issued_invoice(
        world.client_a,
        issue_date=(now - timedelta(days=50)).date(),
        due_date=(now - timedelta(days=20)).date(),
    )
    run = payment_reminders.propose_run(actor=world.billing, now=now)
    payment_reminders.approve_all(actor=world.billing, run=run, now=now)
    payment_reminders.send_approved(actor=world.billing, run=run, now=now)
    with pytest.raises(ValidationError):
        payment_reminders.send_approved(actor=world.billing, run=run, now=now)
    (body,) = bodies("reminder.sent")
    data = body["data"]
    assert data["invoice"] == invoice.code
    assert data["client"] == world.client_a.name
    item = run.items.get()
    assert item.body not in json.dumps(body)

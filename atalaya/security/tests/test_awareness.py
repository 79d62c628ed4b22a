"""Awareness campaigns: builtin tips, due sends in each user's language, idempotency,
acknowledgement and opt-out only on POST, opt-out respected, pages and API."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.core import services as core_services
from atalaya.mail.models import OutboundMessage
from atalaya.security import awareness
from atalaya.security.models import AwarenessDelivery, AwarenessOptOut, AwarenessTip

pytestmark = pytest.mark.django_db


def _campaign(world, **kw):
    return awareness.create_campaign(
        actor=world.tech,
        client=world.client_a,
        name="Hygiene",
        starts_on=kw.pop("starts_on", timezone.localdate() - timedelta(days=1)),
        **kw,
    )


def _token(message: OutboundMessage, kind: str) -> str:
    match = re.search(rf"/security/awareness/{kind}/([A-Za-z0-9_-]+)/", message.body_text)
    assert match, message.body_text
    return match.group(1)


def test_builtin_tips_are_bilingual_and_idempotent(world):
    first = awareness.ensure_builtin_tips()
    again = awareness.ensure_builtin_tips()
    assert len(first) >= 8 and [t.pk for t in first] == [t.pk for t in again]
    assert AwarenessTip.objects.filter(is_builtin=True).count() == len(first)
    for tip in first:
        assert tip.title_en and tip.title_es and tip.body_en and tip.body_es
        assert tip.title_en != tip.title_es


def test_campaign_bad_input_names_the_field(world):
    with pytest.raises(ValidationError) as e:
        awareness.create_campaign(actor=world.tech, client=world.client_a, name="", starts_on=None)
    assert "name" in e.value.error_dict
    with pytest.raises(ValidationError) as e:
        _campaign(world, every_days=0)
    assert "every_days" in e.value.error_dict
    with pytest.raises(ValidationError) as e:
        _campaign(world, tip_keys=["no-such-tip"])
    assert "tips" in e.value.error_dict
    with pytest.raises(PermissionDenied):
        awareness.create_campaign(
            actor=world.readonly, client=world.client_a, name="x", starts_on=date.today()
        )


def test_due_tip_goes_to_each_user_in_their_language_once(world):
    english = core_services.create_contact(
        actor=None, clients=[world.client_a], name="Eve", email="eve@alfa.example", language="en"
    )
    core_services.create_contact(
        actor=None, clients=[world.client_a], name="Boss", email="boss@alfa.example", is_user=False
    )
    campaign = _campaign(world, tip_keys=["mfa", "updates"])
    now = timezone.now()
    assert awareness.send_due(now=now) == 2
    mails = {m.to_address: m for m in OutboundMessage.objects.filter(kind="awareness")}
    assert set(mails) == {"ana@alfa.example", "eve@alfa.example"}
    assert "dos pasos" in mails["ana@alfa.example"].subject
    assert "two-step" in mails["eve@alfa.example"].subject.lower()
    assert mails["eve@alfa.example"].contact == english
    # Not due again until the next slot: nothing more, and a re-run changes nothing.
    assert awareness.send_due(now=now) == 0
    campaign.refresh_from_db()
    assert campaign.next_send_at > now and campaign.sent_count == 1
    # Sending the same step again (a crashed worker) makes no second delivery or mail.
    tip = AwarenessTip.objects.get(key="mfa")
    assert awareness.deliver_tip(campaign, tip, english, now=now) is None
    assert OutboundMessage.objects.filter(kind="awareness").count() == 2
    # The next slot sends the second tip; after the last one the campaign ends.
    later = campaign.next_send_at + timedelta(minutes=1)
    assert awareness.send_due(now=later) == 2
    assert set(AwarenessDelivery.objects.values_list("tip__key", flat=True)) == {"mfa", "updates"}
    awareness.send_due(now=later + timedelta(days=8))
    campaign.refresh_from_db()
    assert not campaign.is_active and AwarenessDelivery.objects.count() == 4


def test_links_act_only_on_post_and_opt_out_is_respected(world):
    _campaign(world, tip_keys=["mfa", "updates"])
    awareness.send_due()
    message = OutboundMessage.objects.get(kind="awareness")
    token = _token(message, "ack")
    assert token == _token(message, "opt-out")
    http = world.http(None)
    delivery = AwarenessDelivery.objects.get()
    # A scanner's prefetch (GET, HEAD) shows a confirmation and records nothing.
    page = http.get(f"/security/awareness/ack/{token}/")
    assert page.status_code == 200 and b"<form" in page.content
    http.head(f"/security/awareness/opt-out/{token}/")
    http.get(f"/security/awareness/opt-out/{token}/")
    delivery.refresh_from_db()
    assert delivery.acknowledged_at is None and not AwarenessOptOut.objects.exists()
    assert http.post(f"/security/awareness/ack/{token}/").status_code == 200
    delivery.refresh_from_db()
    assert delivery.acknowledged_at is not None
    assert http.post(f"/security/awareness/opt-out/{token}/").status_code == 200
    assert http.post(f"/security/awareness/opt-out/{token}/").status_code == 200
    assert AwarenessOptOut.objects.filter(contact=world.contact_a).count() == 1
    assert http.put(f"/security/awareness/ack/{token}/").status_code == 405
    # Unknown or absurd tokens, and a browser signed in as somebody else: 404.
    assert http.get("/security/awareness/ack/nope/").status_code == 404
    assert http.post("/security/awareness/ack/" + "x" * 300 + "/").status_code == 404
    assert world.http(world.portal_b).get(f"/security/awareness/ack/{token}/").status_code == 404
    assert world.http(world.portal_a).get(f"/security/awareness/ack/{token}/").status_code == 200
    # Opted out: the next tip is not sent to them.
    campaign = delivery.campaign
    campaign.refresh_from_db()
    assert awareness.send_due(now=campaign.next_send_at + timedelta(minutes=1)) == 0
    assert OutboundMessage.objects.filter(kind="awareness").count() == 1


def test_campaign_pages(world, django_assert_max_num_queries):
    for n in range(3):
        _campaign(world, tip_keys=["mfa"])
        awareness.send_due()
        del n
    with django_assert_max_num_queries(22):
        page = world.http(world.tech).get("/security/awareness/")
    assert page.status_code == 200 and b"Hygiene" in page.content
    assert world.http(world.portal_a).get("/security/awareness/").status_code == 404
    assert world.http(world.portal_b).get("/security/awareness/").status_code == 404
    form = {
        "client": world.client_b.public_id,
        "name": "B tips",
        "starts_on": "2026-12-01",
        "every_days": "7",
    }
    assert world.http(world.readonly).post("/security/awareness/", form).status_code == 403
    assert world.http(world.tech).post("/security/awareness/", form).status_code == 302
    assert world.http(world.tech).delete("/security/awareness/").status_code == 405


def test_campaign_api(world):
    from atalaya.core.services import create_api_token

    _t, staff = create_api_token(actor=None, user=world.tech, name="t")
    _p, portal = create_api_token(actor=None, user=world.portal_a, name="p")
    http = world.http(None)
    body = {"client": str(world.client_a.public_id), "name": "API", "starts_on": "2026-12-03"}
    answer = http.post(
        "/api/v1/awareness/campaigns",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert answer.status_code == 201, answer.content
    listed = http.get("/api/v1/awareness/campaigns", headers={"Authorization": f"Bearer {staff}"})
    assert [c["name"] for c in listed.json()] == ["API"]
    bad = http.post(
        "/api/v1/awareness/campaigns",
        {**body, "every_days": 0},
        content_type="application/json",
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert bad.status_code == 422 and "every_days" in bad.content.decode()
    denied = http.get("/api/v1/awareness/campaigns", headers={"Authorization": f"Bearer {portal}"})
    assert denied.status_code == 404


def test_periodic_task_sends_due_tips(world):
    from atalaya.security import tasks
    from atalaya.security.tasks_awareness import send_awareness_tips

    assert tasks.tasks_awareness.send_awareness_tips is send_awareness_tips
    _campaign(world, tip_keys=["backups"])
    send_awareness_tips()
    message = OutboundMessage.objects.get(kind="awareness")
    assert message.to_address == "ana@alfa.example" and "copia" in message.subject
    assert message.idempotency_key.startswith("awareness:")

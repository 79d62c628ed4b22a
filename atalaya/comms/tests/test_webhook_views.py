"""Webhook pages and API: staff read, administrators write (403 for the others), portal
users 404, wrong methods 405, the secret for administrators only, fixed query counts."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from atalaya.comms.webhooks import outbox, services, signing
from atalaya.comms.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api

EVENTS = ["ticket.created", "alert.opened"]


def make(name: str = "Team chat") -> Webhook:
    return services.create_webhook(
        actor=None, name=name, url="http://127.0.0.1:9/hook", events=EVENTS
    )


def deliveries(webhook: Webhook, n: int) -> list[WebhookDelivery]:
    for i in range(n):
        outbox.emit_event("ticket.created", {"n": i}, key=f"v:{webhook.pk}:{i}", webhooks=[webhook])
    return list(WebhookDelivery.objects.filter(webhook=webhook).order_by("id"))


def pages(webhook: Webhook, delivery: WebhookDelivery) -> dict[str, str]:
    return {
        "list": reverse("comms:webhook_list"),
        "detail": reverse("comms:webhook_detail", args=[webhook.public_id]),
        "delivery": reverse("comms:webhook_delivery", args=[delivery.public_id]),
    }


def posts(webhook: Webhook, delivery: WebhookDelivery) -> dict[str, str]:
    return {
        "new": reverse("comms:webhook_new"),
        "edit": reverse("comms:webhook_edit", args=[webhook.public_id]),
        "rotate": reverse("comms:webhook_rotate", args=[webhook.public_id]),
        "test": reverse("comms:webhook_test", args=[webhook.public_id]),
        "retry": reverse("comms:webhook_delivery_retry", args=[delivery.public_id]),
    }


def test_the_three_user_matrix(world: World) -> None:
    webhook = make()
    (delivery,) = deliveries(webhook, 1)
    secret = signing.secret_for(webhook.public_id, webhook.secret_version)
    for user in (world.admin, world.tech, world.readonly, world.billing):
        for name, url in pages(webhook, delivery).items():
            response = world.http(user).get(url)
            assert response.status_code == 200, (user.username, name)
            shows_secret = secret in response.content.decode()
            assert shows_secret == (user == world.admin and name == "detail"), (user.username, name)
    for user in (world.tech, world.readonly, world.billing):
        for name, url in posts(webhook, delivery).items():
            assert world.http(user).post(url).status_code == 403, (user.username, name)
        assert world.http(user).get(posts(webhook, delivery)["new"]).status_code == 403
    for user in (world.portal_a, world.portal_b):
        for url in [*pages(webhook, delivery).values(), posts(webhook, delivery)["new"]]:
            assert world.http(user).get(url).status_code == 404, (user.username, url)
        for url in posts(webhook, delivery).values():
            assert world.http(user).post(url).status_code == 404, (user.username, url)
    admin = world.http(world.admin)
    for url in pages(webhook, delivery).values():
        assert admin.post(url).status_code == 405
    for name in ("rotate", "test", "retry"):
        assert admin.get(posts(webhook, delivery)[name]).status_code == 405
    assert world.http(None).get(pages(webhook, delivery)["list"]).status_code == 302


def test_admin_creates_edits_rotates_tests_and_retries(world: World) -> None:
    admin = world.http(world.admin)
    bad = admin.post(
        reverse("comms:webhook_new"),
        {"name": "x", "url": "https://u:p@chat.example/", "events": EVENTS, "is_active": "on"},
    )
    assert bad.status_code == 400 and "user name or password" in bad.content.decode()
    made = admin.post(
        reverse("comms:webhook_new"),
        {
            "name": "Mattermost",
            "url": "http://10.0.0.5/hooks/a",
            "events": EVENTS,
            "is_active": "on",
        },
    )
    assert made.status_code == 302
    webhook = Webhook.objects.get(name="Mattermost")
    assert webhook.events == EVENTS and webhook.is_active and webhook.created_by == world.admin
    edited = admin.post(
        reverse("comms:webhook_edit", args=[webhook.public_id]),
        {"name": "Mattermost", "url": "http://10.0.0.5/hooks/b", "events": ["alert.opened"]},
    )
    assert edited.status_code == 302
    webhook.refresh_from_db()
    assert webhook.url.endswith("/b") and not webhook.is_active
    old = signing.secret_for(webhook.public_id, webhook.secret_version)
    assert admin.post(reverse("comms:webhook_rotate", args=[webhook.public_id])).status_code == 302
    webhook.refresh_from_db()
    page = admin.get(reverse("comms:webhook_detail", args=[webhook.public_id])).content.decode()
    assert old not in page and signing.secret_for(webhook.public_id, 2) in page
    assert "X-Atalaya-Signature" in page
    assert admin.post(reverse("comms:webhook_test", args=[webhook.public_id])).status_code == 302
    delivery = WebhookDelivery.objects.get(webhook=webhook, event="webhook.test")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=8)
    retry = reverse("comms:webhook_delivery_retry", args=[delivery.public_id])
    assert admin.post(retry).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)


def test_list_and_log_query_counts_are_fixed(
    world: World, django_assert_max_num_queries: Any
) -> None:
    first = make("First")
    deliveries(first, 2)
    admin = world.http(world.admin)
    detail = reverse("comms:webhook_detail", args=[first.public_id])
    with django_assert_max_num_queries(8) as small_list:
        assert admin.get(reverse("comms:webhook_list")).status_code == 200
    with django_assert_max_num_queries(8) as small_log:
        assert admin.get(detail).status_code == 200
    for i in range(5):
        deliveries(make(f"More {i}"), 3)
    deliveries(first, 60)
    with django_assert_max_num_queries(len(small_list.captured_queries)):
        assert admin.get(reverse("comms:webhook_list")).status_code == 200
    with django_assert_max_num_queries(len(small_log.captured_queries)):
        page = admin.get(detail)
    assert page.status_code == 200 and "Page 1 / 2" in page.content.decode()


def test_the_api(world: World) -> None:
    admin, tech, portal = Api(world.admin), Api(world.tech), Api(world.portal_b)
    body = {"name": "Chat", "url": "https://chat.example/hook", "events": EVENTS}
    assert tech.post("/webhooks", body).status_code == 403
    assert portal.post("/webhooks", body).status_code == 404
    made = admin.post("/webhooks", body)
    assert made.status_code == 201, made.content
    key = made.json()["public_id"]
    webhook = Webhook.objects.get(public_id=key)
    assert made.json()["secret"] == signing.secret_for(webhook.public_id, 1)
    assert tech.get(f"/webhooks/{key}").json()["secret"] is None
    assert portal.get(f"/webhooks/{key}").status_code == 404
    assert portal.get("/webhooks").status_code == 404
    bad = admin.post("/webhooks", {**body, "url": "ftp://x.example/"})
    assert bad.status_code in (400, 422) and "url" in bad.content.decode()
    patched = admin.patch(f"/webhooks/{key}", {"is_active": False})
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert patched.json()["url"] == body["url"]
    assert tech.patch(f"/webhooks/{key}", {"is_active": True}).status_code == 403
    rotated = admin.post(f"/webhooks/{key}/rotate")
    assert rotated.json()["secret"] == signing.secret_for(webhook.public_id, 2)
    test = admin.post(f"/webhooks/{key}/test")
    assert test.status_code == 201 and test.json()["event"] == "webhook.test"
    log = tech.get(f"/webhooks/{key}/deliveries")
    assert [d["event"] for d in log.json()["items"]] == ["webhook.test"]
    delivery = test.json()["public_id"]
    one = tech.get(f"/webhooks/deliveries/{delivery}")
    assert one.status_code == 200 and '"event":"webhook.test"' in one.json()["body"]
    assert portal.get(f"/webhooks/deliveries/{delivery}").status_code == 404
    assert tech.post(f"/webhooks/deliveries/{delivery}/retry").status_code == 403
    assert admin.post(f"/webhooks/deliveries/{delivery}/retry").status_code == 200

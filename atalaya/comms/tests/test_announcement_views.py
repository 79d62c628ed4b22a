"""Announcement pages: the three-user matrix, writing, preview, actions and delivery status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from atalaya.comms import services
from atalaya.comms.models import Announcement, AnnouncementStatus, Audience
from atalaya.comms.tests.helpers import TEXTS, announce, contact_at
from atalaya.conftest import World
from atalaya.mail.models import Delivery, OutboundMessage


def urls(announcement: Announcement) -> dict[str, str]:
    key = announcement.public_id
    return {
        "detail": reverse("comms:detail", args=[key]),
        "edit": reverse("comms:edit", args=[key]),
        "send": reverse("comms:send", args=[key]),
        "schedule": reverse("comms:schedule", args=[key]),
        "cancel": reverse("comms:cancel", args=[key]),
    }


def test_staff_read_portal_users_get_404(world: World) -> None:
    announcement = announce(world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a])
    pages = [reverse("comms:list"), reverse("comms:new"), urls(announcement)["detail"]]
    for user in (world.admin, world.tech, world.readonly, world.billing):
        for url in pages:
            assert world.http(user).get(url).status_code == 200, (user.username, url)
    for user in (world.portal_a, world.portal_b):
        for url in [*pages, urls(announcement)["edit"]]:
            assert world.http(user).get(url).status_code == 404, (user.username, url)
        for name in ("edit", "send", "schedule", "cancel"):
            url = urls(announcement)[name]
            assert world.http(user).post(url).status_code == 404, (user.username, url)
    assert world.http(world.portal_a).post(reverse("comms:new")).status_code == 404
    anonymous = world.http(None).get(reverse("comms:list"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_read_only_staff_cannot_write(world: World) -> None:
    announcement = announce(world.tech)
    for user in (world.readonly, world.billing):
        http = world.http(user)
        assert http.post(reverse("comms:new"), {**TEXTS, "audience": "all"}).status_code == 403
        for name in ("edit", "send", "schedule", "cancel"):
            assert http.post(urls(announcement)[name]).status_code == 403, name
    assert Announcement.objects.count() == 1
    assert not OutboundMessage.objects.exists()


def test_wrong_methods_are_405(world: World) -> None:
    announcement = announce(world.tech)
    http = world.http(world.tech)
    for name in ("send", "schedule", "cancel"):
        assert http.get(urls(announcement)[name]).status_code == 405, name
    assert http.post(reverse("comms:list")).status_code == 405
    assert http.post(urls(announcement)["detail"]).status_code == 405
    assert http.delete(reverse("comms:new")).status_code == 405


def test_technician_writes_previews_and_sends(world: World) -> None:
    contact_at([world.client_b], "Ben", "ben@beta.example", "en")
    http = world.http(world.tech)
    response = http.post(
        reverse("comms:new"),
        {**TEXTS, "audience": "clients", "clients": [str(world.client_b.public_id)]},
    )
    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert response["Location"] == urls(announcement)["detail"]
    page = http.get(urls(announcement)["detail"])
    assert page.context["preview"].contacts == 2
    assert page.context["preview"].per_language == {"en": 1, "es": 1}
    text = page.content.decode()
    assert TEXTS["subject_es"] in text and "ben@beta.example" in text
    assert http.post(urls(announcement)["send"]).status_code == 302
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SENT
    OutboundMessage.objects.filter(to_address="ben@beta.example").update(
        status=Delivery.FAILED, last_error="550 mailbox unavailable"
    )
    page = http.get(urls(announcement)["detail"])
    text = page.content.decode()
    assert page.context["total"] == 2
    assert dict(page.context["counts"])["Failed"] == 1
    assert "550 mailbox unavailable" in text and "Beta Bodegas" in text
    listing = http.get(reverse("comms:list"))
    row = listing.context["announcements"][0]
    assert row.reach == {"announcement_id": announcement.pk, "clients": 1, "contacts": 2}
    assert row.delivery == {"queued": 1, "failed": 1}
    # Sending again only says so.
    assert http.post(urls(announcement)["send"], follow=True).status_code == 200
    assert OutboundMessage.objects.count() == 2


def test_bad_input_names_the_field(world: World) -> None:
    http = world.http(world.tech)
    response = http.post(reverse("comms:new"), {**TEXTS, "subject_es": "", "audience": "all"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"subject_es"}
    response = http.post(reverse("comms:new"), {**TEXTS, "audience": "clients"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"clients"}
    response = http.post(reverse("comms:new"), {**TEXTS, "audience": "role"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"role"}
    response = http.post(reverse("comms:new"), {**TEXTS, "audience": "all", "expires_at": "x"})
    assert response.status_code == 400 and "expires_at" in response.context["form"].errors
    assert not Announcement.objects.exists()


def test_edit_schedule_and_cancel(world: World) -> None:
    announcement = announce(world.tech)
    http = world.http(world.admin)
    response = http.post(
        urls(announcement)["edit"], {**TEXTS, "subject_en": "Changed", "audience": "all"}
    )
    assert response.status_code == 302
    announcement.refresh_from_db()
    assert announcement.subject_en == "Changed"
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    http.post(urls(announcement)["schedule"], {"scheduled_for": when})
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SCHEDULED
    page = http.post(
        urls(announcement)["schedule"], {"scheduled_for": "2000-01-01T10:00"}, follow=True
    )
    assert "future" in page.content.decode()
    http.post(urls(announcement)["cancel"])
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.CANCELLED
    response = http.post(urls(announcement)["edit"], {**TEXTS, "audience": "all"})
    assert response.status_code == 400


def test_list_and_detail_query_counts_are_fixed(
    world: World, django_assert_max_num_queries: Any
) -> None:
    http = world.http(world.readonly)
    first = announce(world.tech)
    services.send_announcement(actor=world.tech, announcement=first)
    with django_assert_max_num_queries(100) as baseline_list:
        http.get(reverse("comms:list"))
    with django_assert_max_num_queries(100) as baseline_detail:
        http.get(urls(first)["detail"])
    for i in range(6):
        contact_at([world.client_a], f"P{i}", f"p{i}@alfa.example")
        services.send_announcement(actor=world.tech, announcement=announce(world.tech))
    services.send_announcement(actor=world.tech, announcement=first)
    with django_assert_max_num_queries(len(baseline_list)):
        assert len(http.get(reverse("comms:list")).context["announcements"]) == 7
    last = Announcement.objects.order_by("-id").first()
    assert last is not None
    with django_assert_max_num_queries(len(baseline_detail)):
        assert http.get(urls(last)["detail"]).context["total"] == 8

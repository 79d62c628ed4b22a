"""The portal banner: what reached the client, in the user's language, until it expires."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from atalaya.comms import services
from atalaya.comms.context_processors import portal_banners
from atalaya.comms.models import Audience
from atalaya.comms.tests.helpers import TEXTS, announce
from atalaya.conftest import World
from atalaya.core import services as core_services


def send_to_a(world: World, **fields: Any) -> Any:
    announcement = announce(
        world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a], **fields
    )
    services.send_announcement(actor=world.tech, announcement=announcement)
    return announcement


def portal_page(world: World, user: Any) -> str:
    response = world.http(user).get(reverse("portal:ticket_list"))
    assert response.status_code == 200
    return response.content.decode()


def test_shown_in_the_users_language_until_it_expires(world: World) -> None:
    expires = timezone.now() + timedelta(days=2)
    announcement = send_to_a(world, expires_at=expires)
    text = portal_page(world, world.portal_a)  # Spanish, like their contact
    assert TEXTS["subject_es"] in text and TEXTS["body_es"] in text
    assert TEXTS["subject_en"] not in text
    core_services.update_preferences(
        actor=world.portal_a, user=world.portal_a, language="en", time_zone="Europe/Madrid"
    )
    text = portal_page(world, world.portal_a)
    assert TEXTS["subject_en"] in text and TEXTS["subject_es"] not in text
    detail = world.http(world.portal_a).get(
        reverse("portal:announcement_detail", args=[announcement.public_id])
    )
    assert detail.status_code == 200 and TEXTS["body_en"] in detail.content.decode()
    listing = world.http(world.portal_a).get(reverse("portal:announcement_list"))
    assert TEXTS["subject_en"] in listing.content.decode()
    with time_machine.travel(expires + timedelta(minutes=1)):
        text = portal_page(world, world.portal_a)
        assert TEXTS["subject_en"] not in text
        # Still in the portal's list of announcements, just no longer on the banner.
        listing = world.http(world.portal_a).get(reverse("portal:announcement_list"))
        assert TEXTS["subject_en"] in listing.content.decode()


def test_not_shown_to_a_client_it_did_not_reach(world: World) -> None:
    announcement = send_to_a(world)
    text = portal_page(world, world.portal_b)
    assert TEXTS["subject_es"] not in text and TEXTS["subject_en"] not in text
    for url in (
        reverse("portal:announcement_detail", args=[announcement.public_id]),
        reverse("comms:detail", args=[announcement.public_id]),
    ):
        assert world.http(world.portal_b).get(url).status_code == 404
    assert TEXTS["subject_es"] not in (
        world.http(world.portal_b).get(reverse("portal:announcement_list")).content.decode()
    )


def test_drafts_and_cancelled_ones_are_not_shown(world: World) -> None:
    announce(world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a])
    cancelled = send_to_a(world, subject_es="Cancelado", subject_en="Cancelled")
    services.cancel_announcement(actor=world.tech, announcement=cancelled)
    text = portal_page(world, world.portal_a)
    assert TEXTS["subject_es"] not in text and "Cancelado" not in text


def test_one_query_for_portal_users_and_none_for_others(
    world: World, django_assert_num_queries: Any
) -> None:
    for i in range(4):
        send_to_a(world, subject_es=f"Aviso {i}")
    factory = RequestFactory()
    request = factory.get("/portal/")
    request.user = world.portal_a
    with django_assert_num_queries(1):
        banners = list(portal_banners(request)["portal_banners"])
    assert [b["subject"] for b in banners] == ["Aviso 3", "Aviso 2", "Aviso 1"]
    for user in (world.tech, world.admin):
        request.user = user
        with django_assert_num_queries(0):
            assert portal_banners(request) == {}
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert portal_banners(request) == {}
    # Staff pages show no banner.
    assert "Aviso 3" not in world.http(world.tech).get(reverse("tickets:list")).content.decode()

"""Linking an article into a reply: only what the ticket's client may read, in its language."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from atalaya.conftest import World
from atalaya.kb.models import ArticleStatus, Visibility
from atalaya.kb.tests.helpers import article


def links(world: World, ticket, q: str, user=None):
    url = reverse("kb:reply_links", args=[ticket.number])
    return world.http(user or world.tech).get(url, {"q": q})


def test_only_articles_the_tickets_client_may_read(world: World) -> None:
    public = article(world.tech, title_en="VPN for everyone", title_es="VPN para todos")
    only_b = article(
        world.tech,
        title_en="VPN at Beta",
        title_es="VPN en Beta",
        visibility=Visibility.CLIENTS,
        clients=[world.client_b],
    )
    article(world.tech, title_en="VPN draft", title_es="VPN borrador", status=ArticleStatus.DRAFT)
    found = links(world, world.ticket_a, "vpn").context["links"]
    assert [link["article"] for link in found] == [public]
    found = links(world, world.ticket_b, "vpn").context["links"]
    assert {link["article"] for link in found} == {public, only_b}


def test_the_text_is_in_the_contacts_language_with_the_portal_link(world: World) -> None:
    a = article(world.tech)
    portal_url = settings.SITE_URL.rstrip("/") + reverse("portal:kb_detail", args=[a.public_id])
    # Contacts are Spanish by default.
    (link,) = links(world, world.ticket_a, "windows").context["links"]
    assert link["text"] == f"Configurar la VPN en Windows — {portal_url}"
    world.contact_a.language = "en"
    world.contact_a.save()
    (link,) = links(world, world.ticket_a, "windows").context["links"]
    assert link["text"] == f"Setting up the VPN on Windows — {portal_url}"
    page = links(world, world.ticket_a, "windows").content.decode()
    assert f'data-text="Setting up the VPN on Windows — {portal_url}"' in page
    assert "hx-on:click" in page


def test_the_box_is_by_the_reply_textarea(world: World) -> None:
    page = world.http(world.tech).get(reverse("tickets:detail", args=[world.ticket_a.number]))
    html = page.content.decode()
    box = html.index('id="kb-reply-box"')
    assert html.index('id="reply-form"') < box < html.index('id="note-form"')
    assert reverse("kb:reply_links", args=[world.ticket_a.number]) in html


def test_who_may_ask(world: World) -> None:
    article(world.tech)
    for user in (world.admin, world.tech, world.readonly, world.billing):
        assert links(world, world.ticket_a, "vpn", user).status_code == 200
    for user in (world.portal_a, world.portal_b):
        assert links(world, world.ticket_a, "vpn", user).status_code == 404
    response = world.http(world.tech).get(reverse("kb:reply_links", args=[987654]), {"q": "vpn"})
    assert response.status_code == 404


def test_no_words_no_links(world: World) -> None:
    article(world.tech)
    response = links(world, world.ticket_a, "  ")
    assert response.status_code == 200 and response.context["links"] == []
    assert links(world, world.ticket_a, "zzqx").context["links"] == []

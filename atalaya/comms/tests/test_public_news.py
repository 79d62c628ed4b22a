"""The public news page and Atom feeds: only public, sent, unexpired announcements;
escaped text; the language from the URL or the browser; caching headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from defusedxml import ElementTree
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from atalaya.comms import services
from atalaya.comms.models import Announcement
from atalaya.comms.tests.helpers import announce
from atalaya.conftest import World

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = '<script>alert("x")</script> & more'


def sent(world: World, **fields: Any) -> Announcement:
    announcement = announce(world.tech, **fields)
    services.send_announcement(actor=world.tech, announcement=announcement)
    announcement.refresh_from_db()
    return announcement


def the_others(world: World) -> dict[str, Announcement]:
    """Every announcement that must never show publicly."""
    now = timezone.now()
    private = sent(world, subject_en="Private sent", subject_es="Privado enviado")
    draft = announce(world.tech, is_public=True, subject_en="Public draft", subject_es="Borrador")
    scheduled = announce(world.tech, is_public=True, subject_en="Public later", subject_es="Luego")
    services.schedule_announcement(
        actor=world.tech, announcement=scheduled, when=now + timedelta(days=1)
    )
    cancelled = announce(world.tech, is_public=True, subject_en="Public off", subject_es="Anulado")
    services.cancel_announcement(actor=world.tech, announcement=cancelled)
    expired = sent(world, is_public=True, subject_en="Public old", subject_es="Viejo")
    Announcement.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(minutes=1))
    return {
        "private": private,
        "draft": draft,
        "scheduled": scheduled,
        "cancelled": cancelled,
        "expired": expired,
    }


def test_only_public_sent_unexpired_announcements_show(world: World) -> None:
    hidden = the_others(world)
    shown = sent(
        world,
        is_public=True,
        subject_en="We are open",
        subject_es="Seguimos abiertos",
        body_en="Line one\nLine two",
        body_es="Línea uno\nLínea dos",
        expires_at=timezone.now() + timedelta(days=2),
    )
    anonymous = HttpClient()
    page = anonymous.get(reverse("public:list"), HTTP_ACCEPT_LANGUAGE="es")
    assert page.status_code == 200 and page["Content-Language"] == "es"
    html = page.content.decode()
    assert "Seguimos abiertos" in html and "Línea uno<br>Línea dos" in html
    assert "We are open" not in html
    for announcement in hidden.values():
        assert announcement.subject_en not in html and announcement.subject_es not in html
        detail = anonymous.get(reverse("public:detail", args=[announcement.public_id]))
        assert detail.status_code == 404
    english = anonymous.get(reverse("public:list") + "?lang=en", HTTP_ACCEPT_LANGUAGE="es")
    assert "We are open" in english.content.decode() and english["Content-Language"] == "en"
    detail = anonymous.get(reverse("public:detail", args=[shown.public_id]) + "?lang=en")
    assert detail.status_code == 200 and "Line one<br>Line two" in detail.content.decode()
    for name in ("en", "es"):
        feed = anonymous.get(reverse(f"public:feed_{name}"))
        titles = [
            e.findtext(f"{ATOM}title")
            for e in ElementTree.fromstring(feed.content).iter(f"{ATOM}entry")
        ]
        assert titles == [shown.subject_in(name)]
    assert anonymous.post(reverse("public:list")).status_code == 405
    assert anonymous.get("/news/not-a-uuid/").status_code == 404


def test_the_feed_is_valid_atom_and_escapes_hostile_text(world: World, settings: Any) -> None:
    settings.MAIL_FROM = "Soporte Rápido <help@msp.example>"
    announcement = sent(
        world,
        is_public=True,
        subject_en=HOSTILE,
        subject_es=HOSTILE,
        body_en=f"{HOSTILE}\nsecond line",
    )
    response = HttpClient().get("/news/feed/en.atom")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    assert b"<script>" not in response.content
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "Soporte Rápido: news"
    (entry,) = root.iter(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == HOSTILE  # text, the parser unescaped it once
    assert entry.findtext(f"{ATOM}id") == f"urn:uuid:{announcement.public_id}"
    summary = entry.find(f"{ATOM}summary")
    assert summary is not None and summary.get("type") == "html"
    # The HTML inside is the escaped text: no tag a reader would run.
    assert (
        summary.text
        == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more<br>second line"
    )
    link = entry.find(f"{ATOM}link")
    assert link is not None and link.get("href", "").endswith(
        f"/news/{announcement.public_id}/?lang=en"
    )
    page = HttpClient().get(reverse("public:list") + "?lang=en").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "Soporte Rápido" in page
    spanish = ElementTree.fromstring(HttpClient().get("/news/feed/es.atom").content)
    assert spanish.get("{http://www.w3.org/XML/1998/namespace}lang") == "es"


def test_the_feed_answers_304_until_it_changes(world: World) -> None:
    sent(world, is_public=True)
    http = HttpClient()
    first = http.get("/news/feed/en.atom")
    etag, modified = first["ETag"], first["Last-Modified"]
    assert http.get("/news/feed/en.atom", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert http.get("/news/feed/en.atom", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    sent(world, is_public=True, subject_en="Newer", subject_es="Más nuevo")
    again = http.get("/news/feed/en.atom", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and again["ETag"] != etag


def test_the_form_marks_it_public_and_the_detail_links_it(world: World) -> None:
    tech = world.http(world.tech)
    fields = {
        "subject_en": "Open",
        "subject_es": "Abiertos",
        "body_en": "Yes",
        "body_es": "Sí",
        "audience": "all",
        "is_public": "on",
    }
    response = tech.post(reverse("comms:new"), fields)
    assert response.status_code == 302
    announcement = Announcement.objects.get(subject_en="Open")
    assert announcement.is_public
    detail = tech.get(reverse("comms:detail", args=[announcement.public_id])).content.decode()
    assert "on the news page once sent" in detail
    edit = tech.get(reverse("comms:edit", args=[announcement.public_id])).content.decode()
    assert 'name="is_public"' in edit and "checked" in edit
    services.send_announcement(actor=world.tech, announcement=announcement)
    detail = tech.get(reverse("comms:detail", args=[announcement.public_id])).content.decode()
    assert f"http://testserver/news/{announcement.public_id}/" in detail
    assert tech.get(reverse("comms:edit", args=[announcement.public_id])).status_code == 200


def test_the_list_page_query_count_is_fixed(
    world: World, django_assert_max_num_queries: Any
) -> None:
    sent(world, is_public=True)
    http = HttpClient()
    with django_assert_max_num_queries(3):
        http.get(reverse("public:list"))
    for i in range(10):
        sent(world, is_public=True, subject_en=f"News {i}", subject_es=f"Noticia {i}")
    with django_assert_max_num_queries(3):
        assert http.get(reverse("public:list")).status_code == 200
    with django_assert_max_num_queries(4):
        assert http.get("/news/feed/es.atom").status_code == 200

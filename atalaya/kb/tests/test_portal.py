"""The portal knowledge base: list, search, the reader's language, suggestions."""

from __future__ import annotations

from django.urls import reverse

from atalaya.conftest import World
from atalaya.kb.models import ArticleStatus, Category, Visibility
from atalaya.kb.tests.helpers import TEXTS, article


def test_portal_users_read_what_is_theirs_others_get_404(world: World) -> None:
    public = article(world.tech)
    for_a = article(
        world.tech, title_en="Alfa's VPN", visibility=Visibility.CLIENTS, clients=[world.client_a]
    )
    draft = article(world.tech, title_en="Draft", status=ArticleStatus.DRAFT)
    a, b = world.http(world.portal_a), world.http(world.portal_b)
    detail = lambda x: reverse("portal:kb_detail", args=[x.public_id])  # noqa: E731
    assert a.get(detail(public)).status_code == 200
    assert a.get(detail(for_a)).status_code == 200
    assert b.get(detail(public)).status_code == 200
    assert b.get(detail(for_a)).status_code == 404
    assert a.get(detail(draft)).status_code == 404
    for staff in (world.tech, world.readonly):
        for url in (reverse("portal:kb_list"), detail(public), reverse("portal:kb_suggest")):
            assert world.http(staff).get(url).status_code == 404
    assert a.post(reverse("portal:kb_list")).status_code == 405
    assert a.post(detail(public)).status_code == 405
    assert a.post(reverse("portal:kb_suggest")).status_code == 405
    anonymous = world.http(None).get(reverse("portal:kb_list"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    listed = [x["article"] for x in b.get(reverse("portal:kb_list")).context["articles"]]
    assert listed == [public]
    listed = [
        x["article"] for x in a.get(reverse("portal:kb_list"), {"q": "vpn"}).context["articles"]
    ]
    assert set(listed) == {public, for_a}
    assert [
        x["article"] for x in b.get(reverse("portal:kb_list"), {"q": "alfa"}).context["articles"]
    ] == []


def test_the_article_is_in_the_readers_language_or_the_other(world: World) -> None:
    both = article(world.tech)
    only_en = article(
        world.tech, title_es="", body_es="", title_en="Backups", body_en="Use *the* NAS."
    )
    http = world.http(world.portal_a)  # Spanish by default
    page = http.get(reverse("portal:kb_detail", args=[both.public_id])).content.decode()
    assert TEXTS["title_es"] in page and "<strong>Configuración</strong>" in page
    assert TEXTS["title_en"] not in page
    page = http.get(reverse("portal:kb_detail", args=[only_en.public_id]))
    assert page.context["shown_in"] == "en"
    assert "Use <em>the</em> NAS." in page.content.decode()
    world.portal_a.language = "en"
    world.portal_a.save()
    page = world.http(world.portal_a).get(reverse("portal:kb_detail", args=[both.public_id]))
    assert TEXTS["title_en"] in page.content.decode()


def test_suggestions_match_any_word_of_the_subject(world: World) -> None:
    article(world.tech)
    phishing = article(
        world.tech,
        title_en="Recognising phishing",
        title_es="Reconocer el phishing",
        body_en="A mail asks for your password.",
        body_es="Un correo le pide la contraseña.",
    )
    for i in range(7):
        article(world.tech, title_en=f"VPN tip {i}", title_es="", body_es="", body_en="vpn")
    http = world.http(world.portal_b)
    url = reverse("portal:kb_suggest")
    found = http.get(url, {"subject": "my vpn will not connect"}).context["suggestions"]
    assert len(found) == 5 and all("VPN" in s["title"] for s in found)
    found = http.get(url, {"subject": "Recibí un correo raro"}).context["suggestions"]
    assert [s["article"] for s in found] == [phishing]
    assert http.get(url, {"subject": ""}).context["suggestions"] == []
    assert http.get(url, {"subject": "the and for"}).context["suggestions"] == []
    assert http.get(url).status_code == 200


def test_new_ticket_form_asks_for_suggestions_and_still_posts(world: World) -> None:
    http = world.http(world.portal_a)
    page = http.get(reverse("portal:ticket_new")).content.decode()
    assert f'hx-get="{reverse("portal:kb_suggest")}"' in page
    assert 'hx-trigger="keyup changed delay:300ms from:#id_subject"' in page
    assert 'hx-include="#id_subject"' in page
    response = http.post(
        reverse("portal:ticket_new"),
        {"client": world.client_a.public_id, "subject": "VPN again", "priority": "normal"},
    )
    assert response.status_code == 302


def test_portal_list_query_count(world: World, django_assert_max_num_queries) -> None:
    shelf = Category.objects.create(slug="remote", name_en="Remote", name_es="Remoto")
    for i in range(20):
        article(world.tech, title_en=f"Guide {i}", category=shelf)
    http = world.http(world.portal_a)
    http.get(reverse("portal:kb_list"))
    with django_assert_max_num_queries(12):
        response = http.get(reverse("portal:kb_list"))
    assert len(response.context["articles"]) == 20
    with django_assert_max_num_queries(12):
        response = http.get(reverse("portal:kb_list"), {"q": "guide"})
    assert len(response.context["articles"]) == 20

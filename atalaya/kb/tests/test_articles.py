"""Articles: who may read them, one language is enough, every change a revision."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent
from atalaya.kb import services
from atalaya.kb.models import Article, ArticleRevision, ArticleStatus, Tag, Visibility
from atalaya.kb.tests.helpers import TEXTS, article


def test_visible_to_fails_closed(world: World) -> None:
    public = article(world.tech)
    for_a = article(world.tech, visibility=Visibility.CLIENTS, clients=[world.client_a])
    draft = article(world.tech, status=ArticleStatus.DRAFT)
    everything = {public, for_a, draft}
    for staff in (world.admin, world.tech, world.readonly, world.billing):
        assert set(Article.objects.visible_to(staff)) == everything
    assert set(Article.objects.visible_to(world.portal_a)) == {public, for_a}
    assert set(Article.objects.visible_to(world.portal_b)) == {public}
    assert not Article.objects.visible_to(None).exists()
    from django.contrib.auth.models import AnonymousUser

    assert not Article.objects.visible_to(AnonymousUser()).exists()
    world.portal_a.is_active = False
    assert not Article.objects.visible_to(world.portal_a).exists()
    world.tech.role = "unknown"
    assert not Article.objects.visible_to(world.tech).exists()


def test_an_article_shared_with_two_clients_is_listed_once(world: World) -> None:
    both = article(
        world.tech, visibility=Visibility.CLIENTS, clients=[world.client_a, world.client_b]
    )
    # A contact at both companies: still one row.
    core_services.add_contact_to_client(actor=None, contact=world.contact_a, client=world.client_b)
    assert list(Article.objects.visible_to(world.portal_a)) == [both]


def test_one_complete_language_is_enough_and_the_other_falls_back(world: World) -> None:
    only_es = article(world.tech, title_en="", body_en="")
    assert only_es.title_in("en") == TEXTS["title_es"]
    assert only_es.language_shown("en") == "es"
    assert only_es.html_in("en") == only_es.body_html_es
    assert only_es.title_in("es") == TEXTS["title_es"]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"title_en": "", "title_es": "", "body_en": "", "body_es": ""}, {"title_en"}),
        ({"title_en": "Title", "body_en": "", "title_es": "", "body_es": ""}, {"body_en"}),
        ({"title_es": "", "body_es": "Texto sin título"}, {"title_es"}),
        ({"title_en": "x" * 201}, {"title_en"}),
        ({"title_en": "Two\nlines"}, {"title_en"}),
        ({"body_es": "x" * 100_001}, {"body_es"}),
        ({"visibility": Visibility.CLIENTS}, {"clients"}),
        ({"visibility": "everyone"}, {"visibility"}),
        ({"status": "archived"}, {"status"}),
    ],
)
def test_bad_articles_are_refused_naming_the_field(
    world: World, fields: dict, bad: set[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        article(world.tech, **fields)
    assert set(caught.value.message_dict) == bad
    assert not Article.objects.exists() and not ArticleRevision.objects.exists()


def test_only_writers_write(world: World) -> None:
    for user in (world.readonly, world.billing, world.portal_a):
        with pytest.raises(PermissionDenied):
            article(user)
    a = article(world.tech)
    with pytest.raises(PermissionDenied):
        services.update_article(actor=world.readonly, article=a, title_en="Changed")
    assert Article.objects.get().title_en == TEXTS["title_en"]


def test_every_change_is_a_revision_and_an_audit_event(world: World) -> None:
    a = article(world.tech, tags=["VPN", "windows", "vpn"])
    assert sorted(Tag.objects.values_list("slug", flat=True)) == ["vpn", "windows"]
    services.update_article(actor=world.admin, article=a, title_en="VPN on Windows 11")
    services.update_article(
        actor=world.admin,
        article=a,
        visibility=Visibility.CLIENTS,
        clients=[world.client_b],
        tags=["vpn"],
    )
    # Saving what is already there changes nothing and writes nothing.
    services.update_article(actor=world.admin, article=a, title_en="VPN on Windows 11")
    revisions = list(a.revisions.order_by("number"))
    assert [r.number for r in revisions] == [1, 2, 3]
    assert revisions[0].title_en == TEXTS["title_en"] and revisions[0].actor == world.tech
    assert revisions[1].title_en == "VPN on Windows 11" and revisions[1].actor == world.admin
    assert revisions[2].clients == [str(world.client_b.public_id)] and revisions[2].tags == ["vpn"]
    audit = AuditEvent.objects.filter(object_type="article", object_id=str(a.public_id))
    assert sorted(audit.values_list("action", flat=True)) == ["created", "updated", "updated"]
    change = audit.filter(action="updated").order_by("at", "id").first()
    assert change.before["title_en"] == TEXTS["title_en"]
    assert change.after["title_en"] == "VPN on Windows 11"
    with pytest.raises(ValueError):
        revisions[0].save()
    with pytest.raises(ValueError):
        ArticleRevision.objects.filter(article=a).delete()


def test_sharing_with_everyone_forgets_the_chosen_clients(world: World) -> None:
    a = article(world.tech, visibility=Visibility.CLIENTS, clients=[world.client_a])
    services.update_article(actor=world.tech, article=a, visibility=Visibility.PUBLIC)
    assert not a.clients.exists()
    assert set(Article.objects.visible_to(world.portal_b)) == {a}


def test_publishing_stamps_the_first_publication(world: World) -> None:
    a = article(world.tech, status=ArticleStatus.DRAFT)
    assert a.published_at is None
    services.update_article(actor=world.tech, article=a, status=ArticleStatus.PUBLISHED)
    a.refresh_from_db()
    first = a.published_at
    assert first is not None
    services.update_article(actor=world.tech, article=a, status=ArticleStatus.DRAFT)
    services.update_article(actor=world.tech, article=a, status=ArticleStatus.PUBLISHED)
    a.refresh_from_db()
    assert a.published_at == first


def test_unknown_fields_cannot_be_changed(world: World) -> None:
    a = article(world.tech)
    with pytest.raises(ValidationError) as caught:
        services.update_article(actor=world.tech, article=a, public_id="x")
    assert set(caught.value.message_dict) == {"public_id"}

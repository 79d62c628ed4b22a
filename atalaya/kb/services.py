"""Writes of the knowledge base: articles created and changed, categories and tags.

Only roles that may write tickets (administrators, technicians) write articles; ``None``
is the system itself (demo loader, CLI). Every create and update checks the texts,
renders both bodies to sanitised HTML, appends an ArticleRevision and an audit event,
all in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from atalaya.core.models import Client, User
from atalaya.core.services import record_audit
from atalaya.kb.models import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    Article,
    ArticleRevision,
    ArticleStatus,
    Category,
    Tag,
    Visibility,
)
from atalaya.kb.rendering import render_markdown

TEXT_FIELDS = ("title_en", "title_es", "body_en", "body_es")
MAX_TAGS = 20


def _require_writer(actor: User | None) -> None:
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not write knowledge base articles."))


def _clean_texts(data: dict[str, Any]) -> dict[str, str]:
    """The four texts stripped and checked: one complete language, none too long."""
    texts = {name: (data.get(name) or "").strip() for name in TEXT_FIELDS}
    errors: dict[str, list[str]] = {}
    for name in ("title_en", "title_es"):
        if len(texts[name]) > MAX_TITLE_CHARS:
            errors[name] = [
                _("The title is too long: at most %(limit)d characters.")
                % {"limit": MAX_TITLE_CHARS}
            ]
        elif "\n" in texts[name] or "\r" in texts[name]:
            errors[name] = [_("The title must be one line.")]
    for name in ("body_en", "body_es"):
        if len(texts[name]) > MAX_BODY_CHARS:
            errors[name] = [
                _("The text is too long: at most %(limit)d characters (this one has %(n)d).")
                % {"limit": MAX_BODY_CHARS, "n": len(texts[name])}
            ]
    for language in ("en", "es"):
        title, body = texts[f"title_{language}"], texts[f"body_{language}"]
        if title and not body:
            errors.setdefault(f"body_{language}", []).append(
                _("Write the text for this title, or leave both empty.")
            )
        elif body and not title:
            errors.setdefault(f"title_{language}", []).append(
                _("Give this text a title, or leave both empty.")
            )
    if not any(texts.values()) and not errors:
        errors["title_en"] = [_("Write the article in English, Spanish or both.")]
    if errors:
        raise ValidationError(errors)
    return texts


def _check_audience(visibility: str, clients: Sequence[Client]) -> list[Client]:
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": [_("Unknown visibility.")]})
    if visibility == Visibility.CLIENTS and not clients:
        raise ValidationError({"clients": [_("Choose the clients who may read it.")]})
    # Shared with chosen clients or with all: a list left over from before is dropped.
    return list(clients) if visibility == Visibility.CLIENTS else []


def tags_named(names: Iterable[str]) -> list[Tag]:
    """The tags with these names (comma-separated input, already split), made if new."""
    tags: dict[str, Tag] = {}
    for raw in names:
        name = " ".join(str(raw).split())[:60]
        slug = slugify(name)[:60]
        if not slug or slug in tags:
            continue
        tag, _created = Tag.objects.get_or_create(slug=slug, defaults={"name": name})
        tags[slug] = tag
    if len(tags) > MAX_TAGS:
        raise ValidationError({"tags": [_("At most %(n)d tags.") % {"n": MAX_TAGS}]})
    return list(tags.values())


def create_category(*, actor: User | None, slug: str, name_en: str, name_es: str) -> Category:
    """A new shelf of the knowledge base, named in both languages."""
    _require_writer(actor)
    category = Category(slug=slugify(slug)[:60], name_en=name_en.strip(), name_es=name_es.strip())
    category.full_clean()
    category.save()
    record_audit(actor, category, "created", after={"slug": category.slug})
    return category


def _snapshot(article: Article, tags: Sequence[Tag], clients: Sequence[Client]) -> dict[str, Any]:
    return {
        "status": article.status,
        "visibility": article.visibility,
        "category": article.category.slug if article.category else "",
        "tags": sorted(t.slug for t in tags),
        "clients": sorted(str(c.public_id) for c in clients),
        **{name: getattr(article, name) for name in ("title_en", "title_es")},
    }


def _revise(
    article: Article, actor: User | None, tags: Sequence[Tag], clients: Sequence[Client]
) -> ArticleRevision:
    # The article row is locked by the caller (or new), so the numbers cannot collide.
    last = article.revisions.aggregate(n=Max("number"))["n"] or 0
    snapshot = _snapshot(article, tags, clients)
    return ArticleRevision.objects.create(
        article=article,
        number=last + 1,
        actor=actor if actor is not None and actor.pk else None,
        body_en=article.body_en,
        body_es=article.body_es,
        **snapshot,
    )


def _render(article: Article) -> None:
    article.body_html_en = render_markdown(article.body_en)
    article.body_html_es = render_markdown(article.body_es)


@transaction.atomic
def create_article(
    *,
    actor: User | None,
    title_en: str = "",
    title_es: str = "",
    body_en: str = "",
    body_es: str = "",
    category: Category | None = None,
    tags: Iterable[str] = (),
    status: str = ArticleStatus.DRAFT,
    visibility: str = Visibility.PUBLIC,
    clients: Sequence[Client] = (),
) -> Article:
    """Write a new article (a draft unless ``status`` says published)."""
    _require_writer(actor)
    texts = _clean_texts(
        {"title_en": title_en, "title_es": title_es, "body_en": body_en, "body_es": body_es}
    )
    if status not in ArticleStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    audience = _check_audience(visibility, clients)
    tag_rows = tags_named(tags)
    now = timezone.now()
    writer = actor if actor is not None and actor.pk else None
    article = Article(
        **texts,
        category=category,
        status=status,
        visibility=visibility,
        created_by=writer,
        updated_by=writer,
        created_at=now,
        updated_at=now,
        published_at=now if status == ArticleStatus.PUBLISHED else None,
    )
    _render(article)
    article.save()
    article.tags.set(tag_rows)
    article.clients.set(audience)
    _revise(article, actor, tag_rows, audience)
    record_audit(actor, article, "created", after=_snapshot(article, tag_rows, audience))
    return article


UPDATABLE = frozenset({*TEXT_FIELDS, "category", "tags", "status", "visibility", "clients"})


@transaction.atomic
def update_article(*, actor: User | None, article: Article, **changes: Any) -> Article:
    """Change an article: any of its texts, category, tags, status or audience.

    Fields left out keep their value. A change that changes nothing writes no revision.
    """
    _require_writer(actor)
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    # Locked so two editors saving at once get consecutive revisions, not a collision.
    current = (
        Article.objects.select_for_update(of=("self",))
        .select_related("category")
        .get(pk=article.pk)
    )
    old_tags = list(current.tags.all())
    old_clients = list(current.clients.all())
    before = _snapshot(current, old_tags, old_clients)
    before_bodies = (current.body_en, current.body_es)

    texts = _clean_texts({name: changes.get(name, getattr(current, name)) for name in TEXT_FIELDS})
    status = changes.get("status", current.status)
    if status not in ArticleStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    visibility = changes.get("visibility", current.visibility)
    audience = _check_audience(visibility, changes.get("clients", old_clients))
    tag_rows = tags_named(changes["tags"]) if "tags" in changes else old_tags

    for name, value in texts.items():
        setattr(current, name, value)
    if "category" in changes:
        current.category = changes["category"]
    if status == ArticleStatus.PUBLISHED and current.published_at is None:
        current.published_at = timezone.now()
    current.status = status
    current.visibility = visibility
    after = _snapshot(current, tag_rows, audience)
    if after == before and (current.body_en, current.body_es) == before_bodies:
        return current
    _render(current)
    current.updated_at = timezone.now()
    current.updated_by = actor if actor is not None and actor.pk else None
    current.save()
    current.tags.set(tag_rows)
    current.clients.set(audience)
    _revise(current, actor, tag_rows, audience)
    record_audit(actor, current, "updated", before=before, after=after)
    return current

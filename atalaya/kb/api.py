"""/api/v1/kb: knowledge base articles, listed or searched, read, written and changed.

Staff read every article; a client's portal user the published ones public or shared
with their companies (others are a 404, as on the pages). Writing needs a role that
may write tickets: other staff get 403, anyone else 404. Articles are loaded through
kb.access and written only through kb.services.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, User
from atalaya.kb import services
from atalaya.kb.access import get_article_or_404
from atalaya.kb.models import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    Article,
    ArticleStatus,
    Category,
    Visibility,
)
from atalaya.kb.search import search_articles
from atalaya.tickets.search import MAX_QUERY_LENGTH

router = Router(tags=["kb"])


class ArticleIn(Schema):
    title_en: str = Field("", max_length=MAX_TITLE_CHARS)
    title_es: str = Field("", max_length=MAX_TITLE_CHARS)
    body_en: str = Field("", max_length=MAX_BODY_CHARS)
    body_es: str = Field("", max_length=MAX_BODY_CHARS)
    category: str | None = Field(None, max_length=60, description="A category's slug.")
    tags: list[str] = Field(default_factory=list, max_length=20)
    status: ArticleStatus = ArticleStatus.DRAFT
    visibility: Visibility = Visibility.PUBLIC
    clients: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)


class ArticlePatch(Schema):
    title_en: str | None = Field(None, max_length=MAX_TITLE_CHARS)
    title_es: str | None = Field(None, max_length=MAX_TITLE_CHARS)
    body_en: str | None = Field(None, max_length=MAX_BODY_CHARS)
    body_es: str | None = Field(None, max_length=MAX_BODY_CHARS)
    category: str | None = Field(None, max_length=60, description='A slug; "" for none.')
    tags: list[str] | None = Field(None, max_length=20)
    status: ArticleStatus | None = None
    visibility: Visibility | None = None
    clients: list[uuid.UUID] | None = Field(None, max_length=10_000)


class ArticleSummary(Schema):
    public_id: uuid.UUID
    title_en: str
    title_es: str
    category: str | None
    status: str
    visibility: str
    updated_at: datetime


class ArticleOut(ArticleSummary):
    body_en: str
    body_es: str
    body_html_en: str
    body_html_es: str
    tags: list[str]
    clients: list[uuid.UUID] = Field(description="Staff only; empty for a client's user.")
    created_at: datetime
    published_at: datetime | None


class ArticlePage(Schema):
    items: list[ArticleSummary]
    next_offset: int | None


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise Http404("Not found")
    return user


def _writer(request: HttpRequest) -> User:
    # Only staff learn that writing exists; services.create/update say 403 to the others.
    user = _user(request)
    if not user.is_msp_staff:
        raise Http404("Not found")
    return user


def _summary(article: Article) -> dict[str, Any]:
    return {
        "public_id": article.public_id,
        "title_en": article.title_en,
        "title_es": article.title_es,
        "category": article.category.slug if article.category else None,
        "status": article.status,
        "visibility": article.visibility,
        "updated_at": article.updated_at,
    }


def _out(article: Article, viewer: User) -> dict[str, Any]:
    return {
        **_summary(article),
        "body_en": article.body_en,
        "body_es": article.body_es,
        "body_html_en": article.body_html_en,
        "body_html_es": article.body_html_es,
        "tags": sorted(t.slug for t in article.tags.all()),
        # Which other companies an article is shared with is not a client's business.
        "clients": [c.public_id for c in article.clients.all()] if viewer.is_msp_staff else [],
        "created_at": article.created_at,
        "published_at": article.published_at,
    }


def _category(slug: str | None) -> Category | None:
    if not slug:
        return None
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise FieldNotFound("category", _("No such category."))
    return category


def _clients(user: User, ids: list[uuid.UUID]) -> list[Client]:
    wanted = set(ids)
    clients = list(Client.objects.visible_to(user).filter(public_id__in=wanted))
    if len(clients) != len(wanted):
        raise FieldNotFound("clients", _("No such client."))
    return clients


@router.get("", response=responses(ArticlePage), summary="List or search articles")
def list_articles(
    request: HttpRequest,
    q: str = Query("", max_length=MAX_QUERY_LENGTH, description="Words to search for."),
    category: str = Query("", max_length=60),
    tag: str = Query("", max_length=60),
    client: uuid.UUID | None = Query(None, description="Only what this client may read."),  # noqa: B008
    limit: int = Query(50, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Articles you may read: with ``q`` the best matches ranked (titles weigh more; no
    further pages), otherwise newest change first, page by page."""
    user = _user(request)
    base = Article.objects.all()
    if category:
        base = base.filter(category__slug=category)
    if tag:
        base = base.filter(tags__slug=tag)
    chosen = None
    if client is not None:
        chosen = Client.objects.visible_to(user).filter(public_id=client).first()
        if chosen is None:
            raise FieldNotFound("client", _("No such client."))
    if q.strip():
        found = search_articles(user, q, limit=limit, client=chosen, within=base)
        return {"items": [_summary(a) for a in found], "next_offset": None}
    visible = base.visible_to(user)
    if chosen is not None:
        visible = visible.filter(pk__in=Article.objects.readable_by_client(chosen).values("pk"))
    rows = list(
        visible.select_related("category").order_by("-updated_at", "-id")[
            offset : offset + limit + 1
        ]
    )
    more = len(rows) > limit
    return {
        "items": [_summary(a) for a in rows[:limit]],
        "next_offset": offset + limit if more else None,
    }


@router.get("/{article_id}", response=responses(ArticleOut), summary="Read an article")
def get_article(request: HttpRequest, article_id: uuid.UUID) -> dict[str, Any]:
    """One article: both languages' Markdown and their sanitised HTML, tags and audience."""
    user = _user(request)
    return _out(get_article_or_404(user, article_id), user)


@router.post("", response=responses(ArticleOut, 201), summary="Write an article")
def create_article(request: HttpRequest, payload: ArticleIn) -> Any:
    """A new article; one complete language (title and text) is enough."""
    user = _writer(request)
    article = services.create_article(
        actor=user,
        title_en=payload.title_en,
        title_es=payload.title_es,
        body_en=payload.body_en,
        body_es=payload.body_es,
        category=_category(payload.category),
        tags=payload.tags,
        status=payload.status,
        visibility=payload.visibility,
        clients=_clients(user, payload.clients),
    )
    return created(_out(article, user))


@router.patch("/{article_id}", response=responses(ArticleOut), summary="Change an article")
def update_article(request: HttpRequest, article_id: uuid.UUID, payload: ArticlePatch) -> Any:
    """Change the fields given; the others keep their value. Each change is a revision."""
    user = _writer(request)
    article = get_article_or_404(user, article_id)
    changes: dict[str, Any] = {
        k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None
    }
    if "category" in payload.dict(exclude_unset=True):
        changes["category"] = _category(payload.category)
    if "clients" in changes:
        changes["clients"] = _clients(user, changes["clients"])
    article = services.update_article(actor=user, article=article, **changes)
    return _out(article, user)

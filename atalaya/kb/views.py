"""Technician pages of the knowledge base: list and search, article, write, and links for replies.

MSP staff only (anyone else gets 404); writing needs a role that may write tickets
(403 otherwise). Articles are loaded through kb.access and written only through
kb.services.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User
from atalaya.kb import services
from atalaya.kb.access import get_article_or_404
from atalaya.kb.forms import ArticleForm, CategoryForm
from atalaya.kb.models import Article, ArticleQuerySet, ArticleStatus, Category, Tag
from atalaya.kb.search import search_articles
from atalaya.tickets.access import get_ticket_or_404
from atalaya.tickets.search import MAX_QUERY_LENGTH
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
SEARCH_LIMIT = 50
REPLY_LINKS = 8


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _query(request: HttpRequest, name: str = "q") -> str:
    return str(request.GET.get(name, ""))[:MAX_QUERY_LENGTH].strip()


def filtered_articles(request: HttpRequest, base: ArticleQuerySet) -> tuple[Any, dict[str, str]]:
    """``base`` narrowed by the list's category, tag and status filters (unknown: ignored)."""
    chosen = {
        "category": str(request.GET.get("category", ""))[:60],
        "tag": str(request.GET.get("tag", ""))[:60],
        "status": str(request.GET.get("status", ""))[:10],
    }
    if chosen["category"]:
        base = base.filter(category__slug=chosen["category"])
    if chosen["tag"]:
        base = base.filter(tags__slug=chosen["tag"])
    if chosen["status"] in ArticleStatus.values:
        base = base.filter(status=chosen["status"])
    return base, chosen


@staff_view("GET", "HEAD")
def article_list(request: HttpRequest) -> HttpResponse:
    """Every article with a search box and category, tag and status filters.

    A search shows the best SEARCH_LIMIT matches ranked; without one, newest change first
    page by page. Three queries either way (page or ranking, articles, their tags).
    """
    user = _user(request)
    q = _query(request)
    narrowed, chosen = filtered_articles(request, Article.objects.all())
    page = None
    if q:
        rows = search_articles(user, q, limit=SEARCH_LIMIT, within=narrowed)
    else:
        page = Paginator(
            narrowed.visible_to(user).select_related("category").order_by("-updated_at", "-id"),
            PER_PAGE,
        ).get_page(request.GET.get("page"))
        rows = list(page.object_list)
    _attach_tags(rows)
    return render(
        request,
        "kb/list.html",
        {
            "articles": rows,
            "page": page,
            "q": q,
            "chosen": chosen,
            "categories": list(Category.objects.all()),
            "tags": list(Tag.objects.all()),
            "statuses": ArticleStatus.choices,
            "language": get_language() or "en",
        },
    )


def _attach_tags(rows: list[Article]) -> None:
    """Each article's tag list in one query for the whole page (no N+1)."""
    by_article: dict[int, list[Tag]] = {a.pk: [] for a in rows}
    through = Article.tags.through.objects.filter(article_id__in=list(by_article))
    for link in through.select_related("tag"):
        by_article[link.article_id].append(link.tag)
    for a in rows:
        a.tag_list = sorted(by_article[a.pk], key=lambda t: t.name)  # type: ignore[attr-defined]


@staff_view("GET", "HEAD")
def article_detail(request: HttpRequest, article_id: Any) -> HttpResponse:
    """One article in both languages as clients see it, its audience and its history."""
    article = get_article_or_404(_user(request), article_id)
    return render(
        request,
        "kb/detail.html",
        {
            "article": article,
            "tags": list(article.tags.all()),
            "clients": list(article.clients.order_by("name")),
            "revisions": list(article.revisions.select_related("actor").order_by("-number")[:50]),
            "portal_url": reverse("portal:kb_detail", args=[article.public_id]),
        },
    )


def _form_page(
    request: HttpRequest, form: ArticleForm, title: str, article: Article | None = None
) -> HttpResponse:
    return render(
        request,
        "kb/form.html",
        {"form": form, "title": title, "article": article},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@staff_view("GET", "HEAD", "POST", write=True)
def article_new(request: HttpRequest) -> HttpResponse:
    """Write an article (a draft until published)."""
    user = _user(request)
    form = ArticleForm(request.POST or None, clients=Client.objects.visible_to(user))
    if request.method == "POST" and form.is_valid():
        try:
            article = services.create_article(actor=user, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Article saved."))
            return redirect("kb:detail", article_id=article.public_id)
    return _form_page(request, form, _("New article"))


@staff_view("GET", "HEAD", "POST", write=True)
def article_edit(request: HttpRequest, article_id: Any) -> HttpResponse:
    """Change an article; every save is a new revision."""
    user = _user(request)
    article = get_article_or_404(user, article_id)
    form = ArticleForm(
        request.POST or None,
        initial=ArticleForm.initial_for(article),
        clients=Client.objects.visible_to(user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_article(actor=user, article=article, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Article saved."))
            return redirect("kb:detail", article_id=article.public_id)
    return _form_page(request, form, _("Edit article"), article)


@staff_view("GET", "HEAD", "POST", write=True)
def category_list(request: HttpRequest) -> HttpResponse:
    """The shelves with how many articles each holds; writers add new ones here."""
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_category(actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Category added."))
            return redirect("kb:categories")
    categories = Category.objects.annotate(n=Count("articles")).order_by("name_en")
    return render(
        request,
        "kb/categories.html",
        {"form": form, "categories": list(categories)},
        status=400 if request.method == "POST" and form.errors else 200,
    )


def portal_link(article: Article) -> str:
    """The article's address in the client portal, absolute, for a mail or a reply."""
    return settings.SITE_URL.rstrip("/") + reverse("portal:kb_detail", args=[article.public_id])


@staff_view("GET", "HEAD")
def reply_links(request: HttpRequest, number: int) -> HttpResponse:
    """Articles the ticket's client may read that match ``q``, each ready to insert into
    the reply as "Title — link" in the language of the ticket's contact (or client)."""
    ticket = get_ticket_or_404(_user(request), number)
    q = _query(request)
    language = ticket.contact.language if ticket.contact else ticket.client.language
    found = search_articles(_user(request), q, limit=REPLY_LINKS, client=ticket.client) if q else []
    links = [
        {
            "article": a,
            "title": a.title_in(language),
            "url": portal_link(a),
            "text": f"{a.title_in(language)} — {portal_link(a)}",
        }
        for a in found
    ]
    return render(request, "kb/_reply_links.html", {"links": links, "q": q, "ticket": ticket})

"""The knowledge base in the client portal: list and search, article, suggestions.

Portal users only (anyone else 404, as everywhere in the portal). They read published
articles that are public or shared with one of their companies, in their own language
(or the other one when theirs is not written); kb.access answers 404 for the rest.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from atalaya.core.models import User
from atalaya.kb.access import get_article_or_404
from atalaya.kb.models import Article, Category
from atalaya.kb.search import search_articles
from atalaya.kb.views import filtered_articles
from atalaya.portal.views import portal_only
from atalaya.tickets.search import MAX_QUERY_LENGTH

PER_PAGE = 25
SEARCH_LIMIT = 25
SUGGESTIONS = 5


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _language() -> str:
    return "es" if (get_language() or "en").startswith("es") else "en"


def _shown(articles: list[Article], language: str) -> list[dict[str, Any]]:
    return [
        {
            "article": a,
            "title": a.title_in(language),
            "category": a.category.name_in(language) if a.category else "",
        }
        for a in articles
    ]


@require_http_methods(["GET", "HEAD"])
@portal_only
def kb_list(request: HttpRequest) -> HttpResponse:
    """Articles for the contact's companies with a search box; newest first without one.

    Two queries (the page or the ranked matches, and the articles), whatever the page holds.
    """
    user = _user(request)
    language = _language()
    q = str(request.GET.get("q", ""))[:MAX_QUERY_LENGTH].strip()
    narrowed, chosen = filtered_articles(request, Article.objects.all())
    page = None
    if q:
        rows = search_articles(user, q, limit=SEARCH_LIMIT, within=narrowed)
    else:
        page = Paginator(
            narrowed.visible_to(user)
            .select_related("category")
            .order_by("-published_at", "-id")
            .only(
                "public_id",
                "title_en",
                "title_es",
                "published_at",
                "category__name_en",
                "category__name_es",
            ),
            PER_PAGE,
        ).get_page(request.GET.get("page"))
        rows = list(page.object_list)
    return render(
        request,
        "kb/portal_list.html",
        {
            "articles": _shown(rows, language),
            "page": page,
            "q": q,
            "chosen": chosen,
            "categories": [(c.slug, c.name_in(language)) for c in Category.objects.all()],
        },
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def kb_detail(request: HttpRequest, article_id: Any) -> HttpResponse:
    """One article in the reader's language, its HTML rendered and sanitised when saved."""
    article = get_article_or_404(_user(request), article_id)
    language = _language()
    return render(
        request,
        "kb/portal_detail.html",
        {
            "article": article,
            "title": article.title_in(language),
            "html": article.html_in(language),
            "shown_in": article.language_shown(language),
            "language": language,
            "category": article.category.name_in(language) if article.category else "",
        },
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def kb_suggest(request: HttpRequest) -> HttpResponse:
    """Up to five articles matching the subject a client is typing (an HTMX fragment)."""
    subject = str(request.GET.get("subject", ""))[:MAX_QUERY_LENGTH]
    found = (
        search_articles(_user(request), subject, limit=SUGGESTIONS, any_word=True)
        if subject.strip()
        else []
    )
    return render(
        request,
        "kb/_suggestions.html",
        {"suggestions": _shown(found, _language()), "subject": subject},
    )

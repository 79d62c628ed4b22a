"""Scoped lookups for articles: 404 for what the user may not read (or that does not exist)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.kb.models import Article


def get_article_or_404(user: Any, public_id: object) -> Article:
    """The article ``public_id`` if ``user`` may read it; a draft or a client's article
    is a 404 to anyone who may not, exactly like an id that names nothing."""
    try:
        key = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    article = (
        Article.objects.visible_to(user).select_related("category").filter(public_id=key).first()
    )
    if article is None:
        raise Http404("No such article")
    return article

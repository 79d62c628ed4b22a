"""Client A's knowledge base objects for the isolation walk (core/tests/test_isolation.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _an_article_for_a(a: Any) -> Any:
    """A published article shared with client A alone: client B's users must get 404."""
    if "kb_article" in a.extra:
        return a.extra["kb_article"]
    from atalaya.kb import services

    article = services.create_article(
        actor=None,
        title_en="alfa-secret VPN guide",
        title_es="alfa-secret guía de la VPN",
        body_en="alfa-secret: the VPN of Alfa Asesores.",
        body_es="alfa-secret: la VPN de Alfa Asesores.",
        status="published",
        visibility="clients",
        clients=[a.world.client_a],
    )
    a.extra["kb_article"] = article
    return article


SAMPLES: dict[str, Callable[[Any], Any]] = {
    "article_id": lambda a: _an_article_for_a(a).public_id,
}

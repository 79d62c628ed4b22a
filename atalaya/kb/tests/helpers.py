"""Small builders the knowledge base tests share."""

from __future__ import annotations

from typing import Any

from atalaya.core.models import User
from atalaya.kb import services
from atalaya.kb.models import Article, ArticleStatus

TEXTS = {
    "title_en": "Setting up the VPN on Windows",
    "title_es": "Configurar la VPN en Windows",
    "body_en": "Open **Settings**, then *Network*. Install the client and sign in.",
    "body_es": "Abra **Configuración** y luego *Red*. Instale el cliente e inicie sesión.",
}


def article(actor: User | None = None, **overrides: Any) -> Article:
    """A published public article (both languages) unless ``overrides`` say otherwise."""
    fields: dict[str, Any] = {**TEXTS, "status": ArticleStatus.PUBLISHED, **overrides}
    return services.create_article(actor=actor, **fields)

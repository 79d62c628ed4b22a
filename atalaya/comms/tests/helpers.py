"""Small builders the announcement tests share."""

from __future__ import annotations

from typing import Any

from atalaya.comms import services
from atalaya.comms.models import Announcement, Audience
from atalaya.core import services as core_services
from atalaya.core.models import Client, Contact, User

TEXTS = {
    "subject_en": "We are open and working",
    "subject_es": "Seguimos abiertos y trabajando",
    "body_en": "Our team works remotely; call or write as usual.",
    "body_es": "Nuestro equipo trabaja en remoto; llámenos o escríbanos como siempre.",
}


def announce(
    actor: User | None,
    *,
    audience: str = Audience.ALL_CLIENTS,
    role: str = "",
    clients: list[Client] | None = None,
    **overrides: Any,
) -> Announcement:
    fields = {**TEXTS, **overrides}
    return services.create_announcement(
        actor=actor, audience=audience, role=role, clients=clients or [], **fields
    )


def contact_at(
    clients: list[Client], name: str, email: str, language: str = "es", **roles: bool
) -> Contact:
    return core_services.create_contact(
        actor=None, clients=clients, name=name, email=email, language=language, **roles
    )

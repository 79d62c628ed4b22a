"""The portal's announcement banner, on every page a client's user sees."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from atalaya.comms.models import Announcement, AnnouncementClient

BANNERS_SHOWN = 3


def banners_for(user: Any) -> list[dict[str, Any]]:
    """The announcements on banner that reached one of the user's clients, in their language.

    One query: the reached clients are a subquery on the contact's memberships.
    """
    language = "es" if user.language == "es" else "en"
    reached = AnnouncementClient.objects.filter(
        client__memberships__contact_id=user.contact_id
    ).values("announcement_id")
    rows = (
        Announcement.objects.on_banner(timezone.now())
        .filter(pk__in=reached)
        .order_by("-sent_at", "-id")
        .values("public_id", f"subject_{language}", f"body_{language}", "sent_at", "expires_at")[
            :BANNERS_SHOWN
        ]
    )
    return [
        {
            "public_id": row["public_id"],
            "subject": row[f"subject_{language}"],
            "body": row[f"body_{language}"],
            "sent_at": row["sent_at"],
            "expires_at": row["expires_at"],
        }
        for row in rows
    ]


def portal_banners(request: HttpRequest) -> dict[str, Any]:
    """``portal_banners`` for a portal user's pages; nothing (and no query) for anyone else.

    Lazy, so a response that never renders base.html does not pay for the query.
    """
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_portal", False):
        return {}
    return {"portal_banners": SimpleLazyObject(lambda: banners_for(user))}

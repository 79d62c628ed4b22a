"""API routes of announcements: list, write, preview and send (MSP staff only).

Anyone else gets 404, as on the pages; writing and sending need a role that may
write tickets (403). Announcements are loaded through comms.access and written only
through comms.services.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.comms import services
from atalaya.comms.access import get_announcement_or_404
from atalaya.comms.models import Announcement, Audience, ContactRole
from atalaya.core.models import Client, User

router = Router(tags=["announcements"])


class AnnouncementIn(Schema):
    subject_en: str = Field(max_length=200)
    subject_es: str = Field(max_length=200)
    body_en: str = Field(max_length=20_000)
    body_es: str = Field(max_length=20_000)
    audience: Audience = Audience.ALL_CLIENTS
    role: ContactRole | None = None
    clients: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    expires_at: datetime | None = None
    is_public: bool = False


class AnnouncementOut(Schema):
    public_id: uuid.UUID
    subject_en: str
    subject_es: str
    audience: str
    role: str
    clients: list[uuid.UUID]
    status: str
    scheduled_for: datetime | None
    expires_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    is_public: bool


class AnnouncementPage(Schema):
    items: list[AnnouncementOut]
    next_offset: int | None


class MailOut(Schema):
    subject: str
    body: str


class PreviewOut(Schema):
    contacts: int
    clients: int
    per_language: dict[str, int]
    mails: dict[str, MailOut]


class SendOut(Schema):
    recipients: int
    clients: int
    status: str


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found")
    return user


def _out(announcement: Announcement, clients: list[uuid.UUID]) -> dict[str, Any]:
    return {
        "public_id": announcement.public_id,
        "subject_en": announcement.subject_en,
        "subject_es": announcement.subject_es,
        "audience": announcement.audience,
        "role": announcement.role,
        "clients": clients,
        "status": announcement.status,
        "scheduled_for": announcement.scheduled_for,
        "expires_at": announcement.expires_at,
        "sent_at": announcement.sent_at,
        "created_at": announcement.created_at,
        "is_public": announcement.is_public,
    }


@router.get("", response=responses(AnnouncementPage), summary="List announcements")
def list_announcements(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Announcements, newest first (staff only)."""
    user = _staff(request)
    rows = list(
        Announcement.objects.visible_to(user)
        .order_by("-created_at", "-id")
        .prefetch_related("clients")[offset : offset + limit + 1]
    )
    more = len(rows) > limit
    return {
        "items": [_out(a, [c.public_id for c in a.clients.all()]) for a in rows[:limit]],
        "next_offset": offset + limit if more else None,
    }


@router.post("", response=responses(AnnouncementOut, 201), summary="Write an announcement")
def create_announcement(request: HttpRequest, payload: AnnouncementIn) -> Any:
    """A draft: subject and body in English and Spanish and its audience.

    ``is_public`` also shows it, once sent and until it expires, on the MSP's public
    news page (/news/) and Atom feeds (/news/feed/en.atom, /news/feed/es.atom), and
    emits the ``announcement.published`` webhook event when it is sent."""
    user = _staff(request)
    wanted = set(payload.clients)
    clients = list(Client.objects.visible_to(user).filter(public_id__in=wanted))
    if len(clients) != len(wanted):
        raise FieldNotFound("clients", "No such client.")
    announcement = services.create_announcement(
        actor=user,
        subject_en=payload.subject_en,
        subject_es=payload.subject_es,
        body_en=payload.body_en,
        body_es=payload.body_es,
        audience=payload.audience,
        role=payload.role or "",
        clients=clients,
        expires_at=payload.expires_at,
        is_public=payload.is_public,
    )
    return created(_out(announcement, [c.public_id for c in clients]))


@router.get(
    "/{announcement_id}/preview", response=responses(PreviewOut), summary="Preview the reach"
)
def preview_announcement(request: HttpRequest, announcement_id: uuid.UUID) -> dict[str, Any]:
    """How many contacts and clients it would reach now, per language, and its mails."""
    announcement = get_announcement_or_404(_staff(request), announcement_id)
    preview = services.preview_announcement(announcement, sample=0)
    return {
        "contacts": preview.contacts,
        "clients": preview.clients,
        "per_language": preview.per_language,
        "mails": {k: {"subject": m.subject, "body": m.body} for k, m in preview.mails.items()},
    }


@router.post("/{announcement_id}/send", response=responses(SendOut), summary="Send now")
def send_announcement(request: HttpRequest, announcement_id: uuid.UUID) -> dict[str, Any]:
    """Queue its mails now; 422 if it is already being sent, sent or cancelled."""
    user = _staff(request)
    announcement = get_announcement_or_404(user, announcement_id)
    result = services.send_announcement(actor=user, announcement=announcement)
    if result is None:
        raise ValidationError(
            {"status": [_("This announcement is already being sent, sent or cancelled.")]}
        )
    return {
        "recipients": result.recipients,
        "clients": result.clients,
        "status": result.announcement.status,
    }

"""Scoped lookups for announcements; 404 for what the user may not see."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.comms.models import Announcement


def get_announcement_or_404(user: Any, public_id: object) -> Announcement:
    try:
        key = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    announcement = Announcement.objects.visible_to(user).filter(public_id=key).first()
    if announcement is None:
        raise Http404("No such announcement")
    return announcement

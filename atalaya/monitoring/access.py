"""Scoped lookups for monitoring: the only way views and the API load its objects.

The monitoring pages and API routes are for MSP staff: anyone else (portal users
included, although a portal user's clients own the devices) gets 404, exactly as for
an object that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from atalaya.monitoring.models import Device, EnrollmentToken, RemoteAction, Script


def _uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def require_staff(user: Any) -> None:
    """404 for anyone who is not active MSP staff."""
    if user is None or not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")


def visible_devices(user: Any) -> QuerySet[Device]:
    """Devices the user may see on the monitoring pages: every one for staff, else none."""
    if user is None or not getattr(user, "is_msp_staff", False):
        return Device.objects.none()
    return Device.objects.visible_to(user)


def visible_actions(user: Any) -> QuerySet[RemoteAction]:
    return RemoteAction.objects.visible_to(user)


def get_device_or_404(user: Any, public_id: object) -> Device:
    require_staff(user)
    device = (
        visible_devices(user)
        .select_related("client", "site", "parent")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if device is None:
        raise Http404("No such device")
    return device


def get_action_or_404(user: Any, public_id: object) -> RemoteAction:
    require_staff(user)
    action = (
        visible_actions(user)
        .select_related("device", "device__client", "device__site", "script", "created_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if action is None:
        raise Http404("No such action")
    return action


def get_script_or_404(user: Any, public_id: object) -> Script:
    require_staff(user)
    script = (
        Script.objects.visible_to(user)
        .select_related("created_by", "approved_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if script is None:
        raise Http404("No such script")
    return script


def get_enrollment_token_or_404(user: Any, public_id: object) -> EnrollmentToken:
    require_staff(user)
    token = (
        EnrollmentToken.objects.visible_to(user)
        .select_related("site", "site__client", "created_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if token is None:
        raise Http404("No such enrollment token")
    return token

"""API routes of alerts and maintenance windows (MSP staff only; anyone else 404).

``/api/v1/alerts`` (list, get, snooze, unsnooze) and ``/api/v1/maintenance-windows``
(list, create, cancel). Writes need a role that may write tickets (403) and go through
monitoring.alerts and monitoring.maintenance, like the pages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, Site, User
from atalaya.monitoring import alerts as alert_services
from atalaya.monitoring import maintenance
from atalaya.monitoring.models import Alert, Device, MaintenanceWindow, Recurrence, Severity
from atalaya.monitoring.views.alerts import get_alert_or_404, visible_alerts
from atalaya.monitoring.views.maintenance import get_window_or_404, visible_windows

router = Router(tags=["alerts"])


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found")
    return user


class AlertOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    site: uuid.UUID
    device: uuid.UUID | None
    kind: str
    target: str
    severity: str
    message: str
    value: float | None
    opened_at: datetime
    changed_at: datetime
    resolved_at: datetime | None
    snoozed_until: datetime | None
    suppressed_reason: str
    ticket: int | None


class AlertPage(Schema):
    items: list[AlertOut]
    next_offset: int | None


class SnoozeIn(Schema):
    until: datetime


class WindowIn(Schema):
    client: uuid.UUID
    site: uuid.UUID | None = None
    device: uuid.UUID | None = None
    name: str = Field(max_length=200)
    starts_at: datetime
    ends_at: datetime
    recurrence: Recurrence = Recurrence.NONE
    repeat_until: datetime | None = None


class WindowOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    site: uuid.UUID | None
    device: uuid.UUID | None
    name: str
    starts_at: datetime
    ends_at: datetime
    recurrence: str
    repeat_until: datetime | None
    cancelled_at: datetime | None
    next_starts_at: datetime | None
    next_ends_at: datetime | None


class WindowPage(Schema):
    items: list[WindowOut]
    next_offset: int | None


def _alert_out(alert: Alert) -> dict[str, Any]:
    value = alert.details.get("value") if isinstance(alert.details, dict) else None
    return {
        "public_id": alert.public_id,
        "client": alert.client.public_id,
        "site": alert.site.public_id,
        "device": alert.device.public_id if alert.device else None,
        "kind": alert.kind,
        "target": alert.target,
        "severity": alert.severity,
        "message": alert.message,
        "value": value if isinstance(value, int | float) else None,
        "opened_at": alert.opened_at,
        "changed_at": alert.changed_at,
        "resolved_at": alert.resolved_at,
        "snoozed_until": alert.snoozed_until,
        "suppressed_reason": alert.suppressed_reason,
        "ticket": alert.ticket.number if alert.ticket else None,
    }


def _window_out(window: MaintenanceWindow, now: datetime | None = None) -> dict[str, Any]:
    from django.utils import timezone

    upcoming = maintenance.next_occurrence(window, now or timezone.now())
    return {
        "public_id": window.public_id,
        "client": window.client.public_id,
        "site": window.site.public_id if window.site else None,
        "device": window.device.public_id if window.device else None,
        "name": window.name,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "recurrence": window.recurrence,
        "repeat_until": window.repeat_until,
        "cancelled_at": window.cancelled_at,
        "next_starts_at": upcoming[0] if upcoming else None,
        "next_ends_at": upcoming[1] if upcoming else None,
    }


@router.get("/alerts", response=responses(AlertPage), summary="List alerts")
def list_alerts(
    request: HttpRequest,
    client: uuid.UUID | None = None,
    severity: Severity | None = None,
    open_only: bool = Query(True, alias="open"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Alerts, newest first: open ones by default (``open=false`` for all)."""
    user = _staff(request)
    rows = visible_alerts(user)
    if client is not None:
        found = Client.objects.visible_to(user).filter(public_id=client).first()
        if found is None:
            raise FieldNotFound("client", "No such client.")
        rows = rows.filter(client=found)
    if severity is not None:
        rows = rows.filter(severity=severity)
    if open_only:
        rows = rows.filter(resolved_at__isnull=True)
    page = list(
        rows.select_related("client", "site", "device", "ticket").order_by("-opened_at", "-id")[
            offset : offset + limit + 1
        ]
    )
    return {
        "items": [_alert_out(a) for a in page[:limit]],
        "next_offset": offset + limit if len(page) > limit else None,
    }


@router.get("/alerts/{alert_id}", response=responses(AlertOut), summary="Get an alert")
def get_alert(request: HttpRequest, alert_id: uuid.UUID) -> dict[str, Any]:
    """One alert."""
    return _alert_out(get_alert_or_404(_staff(request), alert_id))


@router.post("/alerts/{alert_id}/snooze", response=responses(AlertOut), summary="Snooze")
def snooze_alert(request: HttpRequest, alert_id: uuid.UUID, payload: SnoozeIn) -> dict[str, Any]:
    """No ticket and no notes until ``until`` (at most 30 days ahead)."""
    user = _staff(request)
    alert = get_alert_or_404(user, alert_id)
    alert_services.snooze(alert, actor=user, until=payload.until)
    return _alert_out(alert)


@router.post("/alerts/{alert_id}/unsnooze", response=responses(AlertOut), summary="Unsnooze")
def unsnooze_alert(request: HttpRequest, alert_id: uuid.UUID) -> dict[str, Any]:
    """End the snooze now."""
    user = _staff(request)
    alert = get_alert_or_404(user, alert_id)
    alert_services.unsnooze(alert, actor=user)
    return _alert_out(alert)


@router.get(
    "/maintenance-windows", response=responses(WindowPage), summary="List maintenance windows"
)
def list_windows(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Maintenance windows, latest first, with each one's current or next occurrence."""
    user = _staff(request)
    rows = list(
        visible_windows(user)
        .select_related("client", "site", "device__site")
        .order_by("-starts_at", "-id")[offset : offset + limit + 1]
    )
    return {
        "items": [_window_out(w) for w in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post("/maintenance-windows", response=responses(WindowOut, 201), summary="Plan a window")
def create_window(request: HttpRequest, payload: WindowIn) -> Any:
    """A window for a client, one of its sites or one device; times with their zone."""
    user = _staff(request)
    client = Client.objects.visible_to(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", "No such client.")
    site = None
    if payload.site is not None:
        site = Site.objects.filter(client=client, public_id=payload.site).first()
        if site is None:
            raise FieldNotFound("site", "No such site.")
    device = None
    if payload.device is not None:
        device = Device.objects.filter(client=client, public_id=payload.device).first()
        if device is None:
            raise FieldNotFound("device", "No such device.")
    window = maintenance.create_window(
        actor=user,
        client=client,
        site=site,
        device=device,
        name=payload.name,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        recurrence=payload.recurrence,
        repeat_until=payload.repeat_until,
    )
    return created(_window_out(window))


@router.post(
    "/maintenance-windows/{window_id}/cancel", response=responses(WindowOut), summary="Cancel"
)
def cancel_window(request: HttpRequest, window_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a window from now on (idempotent)."""
    user = _staff(request)
    window = get_window_or_404(user, window_id)
    maintenance.cancel_window(actor=user, window=window)
    return _window_out(window)

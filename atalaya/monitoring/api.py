"""API routes of monitoring: devices, remote actions, scripts and enrollment tokens.

MSP staff only: anyone else gets 404, as on the pages. Objects are loaded through
monitoring.access and changed only through the services (monitoring.actions,
monitoring.enrollment), which answer 403 for a role that may not write and 422 naming
the field for bad input. Lists fetch one row beyond the page instead of counting.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, Site, User
from atalaya.core.schemas import InputSchema
from atalaya.monitoring import actions, enrollment
from atalaya.monitoring.access import (
    get_action_or_404,
    get_device_or_404,
    get_enrollment_token_or_404,
    get_script_or_404,
    visible_actions,
    visible_devices,
)
from atalaya.monitoring.display import volume_forecast
from atalaya.monitoring.models import (
    ActionStatus,
    Device,
    DeviceStatus,
    EnrollmentToken,
    RemoteAction,
    Script,
    Volume,
)
from atalaya.monitoring.queries import (
    device_page,
    encode_cursor,
    filter_devices,
    open_alert_counts,
)

router = Router(tags=["monitoring"])

MAX_LIMIT = 200
MAX_OFFSET = 10_000_000
DeviceStatusValue = Literal["online", "overdue", "offline", "maintenance", "pending"]
ActionStatusValue = Literal[
    "queued", "sent", "succeeded", "failed", "refused", "expired", "cancelled"
]
ActionKindValue = Literal["reboot", "run_script"]
InterpreterValue = Literal["sh", "bash", "python", "powershell"]


# --- shapes ------------------------------------------------------------------------------


class DeviceOut(Schema):
    public_id: uuid.UUID
    hostname: str
    display_name: str
    client: uuid.UUID
    client_name: str
    site: uuid.UUID
    site_name: str
    parent: uuid.UUID | None
    status: DeviceStatusValue
    last_seen_at: datetime | None
    platform: str
    os_name: str
    os_version: str
    agent_version: str
    checkin_interval_s: int
    has_pending_actions: bool
    open_alerts: int
    enrolled_at: datetime
    retired_at: datetime | None


class DevicePage(Schema):
    items: list[DeviceOut]
    next_cursor: str | None = Field(
        None, description="Pass as cursor for the next page (same filters); null at the end."
    )


class VolumeOut(Schema):
    mountpoint: str
    device_name: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    used_pct: float
    is_read_only: bool
    is_present: bool
    updated_at: datetime
    forecast_full_at: datetime | None
    forecast_slope_bytes_per_hour: float | None
    forecast_r2: float | None
    forecast_state: Literal["full_soon", "not_filling", "no_trend", "no_history"]
    forecast_text: str
    forecast_days: float | None


class DeviceDetailOut(DeviceOut):
    inventory: dict[str, Any]
    latest: dict[str, Any]
    volumes: list[VolumeOut]


class DevicePatch(InputSchema):
    display_name: str | None = Field(None, max_length=255)
    parent: uuid.UUID | None = Field(None, description="Public id of a device of the same client.")
    site: uuid.UUID | None = Field(None, description="Public id of a site of the device's client.")
    checkin_interval_s: int | None = Field(None, ge=30, le=3600)


class ActionOut(Schema):
    public_id: uuid.UUID
    device: uuid.UUID
    device_name: str
    client: uuid.UUID
    kind: ActionKindValue
    script: uuid.UUID | None
    script_name: str | None
    arguments: list[str]
    status: ActionStatusValue
    created_by: str
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    output: str
    duration_ms: int | None
    reason: str
    envelope: str = Field(description="The signed payload exactly as the agent verifies it.")
    signature: str = Field(description="Its Ed25519 signature, base64.")


class ActionPage(Schema):
    items: list[ActionOut]
    next_offset: int | None


class ActionIn(InputSchema):
    kind: ActionKindValue
    script: uuid.UUID | None = Field(None, description="Public id of an approved script.")
    arguments: list[str] = Field(
        default_factory=list, max_length=actions.MAX_ARGUMENTS, description="At most 20."
    )
    expires_in_minutes: int = Field(
        24 * 60, ge=5, le=30 * 24 * 60, description="Kept for an offline device this long."
    )


class ScriptOut(Schema):
    public_id: uuid.UUID
    name: str
    description: str
    interpreter: InterpreterValue
    body: str
    sha256: str
    timeout_s: int
    is_approved: bool
    created_by: str | None
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    retired_at: datetime | None


class ScriptPage(Schema):
    items: list[ScriptOut]
    next_offset: int | None


class ScriptIn(InputSchema):
    name: str = Field(max_length=500)
    interpreter: InterpreterValue
    body: str = Field(max_length=actions.SCRIPT_BODY_MAX * 2)
    description: str = Field("", max_length=2000)
    timeout_s: int = Field(300, ge=1, le=24 * 3600)


class EnrollmentTokenOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    site: uuid.UUID
    site_name: str
    name: str
    hint: str
    expires_at: datetime
    max_uses: int
    uses: int
    is_usable: bool
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None


class EnrollmentTokenCreated(EnrollmentTokenOut):
    token: str = Field(description="The raw token: shown this once, stored only hashed.")
    command: str = Field(description="The command that enrolls a machine with it.")


class EnrollmentTokenPage(Schema):
    items: list[EnrollmentTokenOut]
    next_offset: int | None


class EnrollmentTokenIn(InputSchema):
    site: uuid.UUID = Field(description="Public id of the site devices enroll into.")
    name: str = Field(max_length=500)
    expires_at: datetime
    max_uses: int = Field(1, ge=1, le=1_000_000)


# --- helpers -----------------------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404(_("Not found."))
    return user


def _name(user: User | None) -> str | None:
    return user.username if user is not None else None


def device_out(device: Device, open_alerts: int) -> dict[str, Any]:
    return {
        "public_id": device.public_id,
        "hostname": device.hostname,
        "display_name": device.display_name,
        "client": device.client.public_id,
        "client_name": device.client.name,
        "site": device.site.public_id,
        "site_name": device.site.name,
        "parent": device.parent.public_id if device.parent_id else None,  # type: ignore[union-attr]
        "status": device.status,
        "last_seen_at": device.last_seen_at,
        "platform": device.platform,
        "os_name": device.os_name,
        "os_version": device.os_version,
        "agent_version": device.agent_version,
        "checkin_interval_s": device.checkin_interval_s,
        "has_pending_actions": device.has_pending_actions,
        "open_alerts": open_alerts,
        "enrolled_at": device.enrolled_at,
        "retired_at": device.retired_at,
    }


def volume_out(volume: Volume, now: datetime) -> dict[str, Any]:
    forecast = volume_forecast(volume, now)
    return {
        "mountpoint": volume.mountpoint,
        "device_name": volume.device_name,
        "fstype": volume.fstype,
        "total_bytes": volume.total_bytes,
        "used_bytes": volume.used_bytes,
        "free_bytes": volume.free_bytes,
        "used_pct": round(volume.used_pct, 2),
        "is_read_only": volume.is_read_only,
        "is_present": volume.is_present,
        "updated_at": volume.updated_at,
        "forecast_full_at": volume.forecast_full_at,
        "forecast_slope_bytes_per_hour": volume.forecast_slope,
        "forecast_r2": volume.forecast_r2,
        "forecast_state": forecast.state,
        "forecast_text": forecast.text,
        "forecast_days": forecast.days,
    }


def device_detail_out(device: Device) -> dict[str, Any]:
    now = timezone.now()
    data = device_out(device, open_alert_counts([device.pk]).get(device.pk, 0))
    data["inventory"] = device.inventory or {}
    data["latest"] = device.latest or {}
    data["volumes"] = [volume_out(v, now) for v in device.volumes.order_by("mountpoint")]
    return data


def action_out(action: RemoteAction) -> dict[str, Any]:
    return {
        "public_id": action.public_id,
        "device": action.device.public_id,
        "device_name": action.device.name,
        "client": action.device.client.public_id,
        "kind": action.kind,
        "script": action.script.public_id if action.script_id else None,  # type: ignore[union-attr]
        "script_name": action.script.name if action.script_id else None,  # type: ignore[union-attr]
        "arguments": list(action.arguments or []),
        "status": action.status,
        "created_by": action.created_by.username,
        "created_at": action.created_at,
        "expires_at": action.expires_at,
        "sent_at": action.sent_at,
        "finished_at": action.finished_at,
        "exit_code": action.exit_code,
        "output": action.output,
        "duration_ms": action.duration_ms,
        "reason": action.reason,
        "envelope": action.envelope,
        "signature": action.signature,
    }


def script_out(script: Script) -> dict[str, Any]:
    return {
        "public_id": script.public_id,
        "name": script.name,
        "description": script.description,
        "interpreter": script.interpreter,
        "body": script.body,
        "sha256": script.sha256,
        "timeout_s": script.timeout_s,
        "is_approved": script.is_approved,
        "created_by": _name(script.created_by),
        "created_at": script.created_at,
        "approved_by": _name(script.approved_by),
        "approved_at": script.approved_at,
        "retired_at": script.retired_at,
    }


def enrollment_token_out(token: EnrollmentToken, now: datetime) -> dict[str, Any]:
    return {
        "public_id": token.public_id,
        "client": token.site.client.public_id,
        "site": token.site.public_id,
        "site_name": token.site.name,
        "name": token.name,
        "hint": token.hint,
        "expires_at": token.expires_at,
        "max_uses": token.max_uses,
        "uses": token.uses,
        "is_usable": token.is_usable(now),
        "created_by": _name(token.created_by),
        "created_at": token.created_at,
        "revoked_at": token.revoked_at,
    }


def enroll_command(raw: str) -> str:
    """The exact command that enrolls a machine with a raw enrollment token."""
    return f"atalaya-agent enroll --server {settings.SITE_URL.rstrip('/')} --token {raw}"


def _client(user: User, public_id: uuid.UUID) -> Client:
    client = Client.objects.visible_to(user).filter(public_id=public_id).first()
    if client is None:
        raise FieldNotFound("client", _("No such client."))
    return client


def _site(user: User, public_id: uuid.UUID, field: str = "site") -> Site:
    site = (
        Site.objects.visible_to(user).select_related("client").filter(public_id=public_id).first()
    )
    if site is None:
        raise FieldNotFound(field, _("No such site."))
    return site


# --- devices -------------------------------------------------------------------------------


@router.get("/devices", response=responses(DevicePage), summary="List devices")
def list_devices(
    request: HttpRequest,
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    site: uuid.UUID | None = Query(None, description="Public id of a site."),  # noqa: B008
    status: DeviceStatusValue | None = Query(None),  # noqa: B008
    q: str = Query("", max_length=200, description="Part of the hostname."),
    include_retired: bool = Query(False),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, max_length=600, description="next_cursor of the last page."),
) -> dict[str, Any]:
    """Devices by hostname, a page at a time, filtered by client, site, status or hostname."""
    user = _staff(request)
    qs = filter_devices(
        visible_devices(user),
        client=_client(user, client) if client else None,
        site=_site(user, site) if site else None,
        status=status,
        q=q,
        include_retired=include_retired,
    )
    rows, more = device_page(qs, limit, cursor)
    counts = open_alert_counts([d.pk for d in rows])
    return {
        "items": [device_out(d, counts.get(d.pk, 0)) for d in rows],
        "next_cursor": encode_cursor(rows[-1]) if more and rows else None,
    }


@router.get("/devices/{device_id}", response=responses(DeviceDetailOut), summary="Get a device")
def get_device(request: HttpRequest, device_id: uuid.UUID) -> dict[str, Any]:
    """One device with its inventory, latest state, volumes and their disk-full forecasts."""
    return device_detail_out(get_device_or_404(_staff(request), device_id))


@router.patch(
    "/devices/{device_id}", response=responses(DeviceDetailOut), summary="Change a device"
)
def update_device(request: HttpRequest, device_id: uuid.UUID, payload: DevicePatch) -> Any:
    """Change the display name, parent, site or check-in interval (only the fields sent)."""
    user = _staff(request)
    device = get_device_or_404(user, device_id)
    sent = payload.model_fields_set
    changes: dict[str, Any] = {}
    if "display_name" in sent:
        changes["display_name"] = payload.display_name or ""
    if "site" in sent:
        if payload.site is None:
            raise ValidationError({"site": [_("This field cannot be null.")]})
        changes["site"] = _site(user, payload.site)
    if "parent" in sent:
        parent = None
        if payload.parent is not None:
            parent = visible_devices(user).filter(public_id=payload.parent).first()
            if parent is None:
                raise FieldNotFound("parent", _("No such device."))
        changes["parent"] = parent
    if "checkin_interval_s" in sent:
        if payload.checkin_interval_s is None:
            raise ValidationError({"checkin_interval_s": [_("This field cannot be null.")]})
        changes["checkin_interval_s"] = payload.checkin_interval_s
    actions.update_device(actor=user, device=device, **changes)
    return device_detail_out(get_device_or_404(user, device_id))


@router.post(
    "/devices/{device_id}/retire", response=responses(DeviceDetailOut), summary="Retire a device"
)
def retire_device(request: HttpRequest, device_id: uuid.UUID) -> Any:
    """Stop monitoring the device: its token stops working, its waiting actions are cancelled."""
    user = _staff(request)
    device = get_device_or_404(user, device_id)
    actions.retire_device(actor=user, device=device)
    return device_detail_out(get_device_or_404(user, device_id))


# --- actions -------------------------------------------------------------------------------

ACTION_RELATED = ("device", "device__client", "script", "created_by")


def _action_page(qs: QuerySet[RemoteAction], limit: int, offset: int) -> dict[str, Any]:
    rows = list(
        qs.select_related(*ACTION_RELATED).order_by("-created_at", "-id")[
            offset : offset + limit + 1
        ]
    )
    return {
        "items": [action_out(a) for a in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.get("/actions", response=responses(ActionPage), summary="List remote actions")
def list_actions(
    request: HttpRequest,
    status: ActionStatusValue | None = Query(None),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Every device's actions, newest first, optionally of one status."""
    qs = visible_actions(_staff(request))
    if status:
        qs = qs.filter(status=status)
    return _action_page(qs, limit, offset)


@router.get(
    "/devices/{device_id}/actions",
    response=responses(ActionPage),
    summary="List a device's actions",
)
def list_device_actions(
    request: HttpRequest,
    device_id: uuid.UUID,
    status: ActionStatusValue | None = Query(None),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The device's actions with their results, newest first."""
    user = _staff(request)
    device = get_device_or_404(user, device_id)
    qs = visible_actions(user).filter(device=device)
    if status:
        qs = qs.filter(status=status)
    return _action_page(qs, limit, offset)


@router.post(
    "/devices/{device_id}/actions",
    response=responses(ActionOut, 201),
    summary="Queue a remote action",
)
def create_action(request: HttpRequest, device_id: uuid.UUID, payload: ActionIn) -> Any:
    """Queue a reboot or an approved script (with arguments), signed, kept until it expires.

    Needs the remote-actions permission (403 otherwise).
    """
    user = _staff(request)
    device = get_device_or_404(user, device_id)
    script = None
    if payload.script is not None:
        script = Script.objects.visible_to(user).filter(public_id=payload.script).first()
        if script is None:
            raise FieldNotFound("script", _("No such script."))
    action = actions.queue_action(
        actor=user,
        device=device,
        kind=payload.kind,
        script=script,
        arguments=payload.arguments,
        expires_in=timedelta(minutes=payload.expires_in_minutes),
    )
    return created(action_out(get_action_or_404(user, action.public_id)))


@router.get("/actions/{action_id}", response=responses(ActionOut), summary="Get a remote action")
def get_action(request: HttpRequest, action_id: uuid.UUID) -> dict[str, Any]:
    """One action: what was queued (the signed envelope) and its result."""
    return action_out(get_action_or_404(_staff(request), action_id))


@router.post(
    "/actions/{action_id}/cancel", response=responses(ActionOut), summary="Cancel a remote action"
)
def cancel_action(request: HttpRequest, action_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a queued or sent action (422 when it has already finished)."""
    user = _staff(request)
    action = get_action_or_404(user, action_id)
    actions.cancel_action(actor=user, action=action)
    return action_out(get_action_or_404(user, action_id))


# --- scripts -------------------------------------------------------------------------------


@router.get("/scripts", response=responses(ScriptPage), summary="List the script library")
def list_scripts(
    request: HttpRequest,
    state: Literal["approved", "pending", "retired", "all"] = Query("all"),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Scripts by name; ``state`` narrows to approved, awaiting approval or retired ones."""
    qs = Script.objects.visible_to(_staff(request)).select_related("created_by", "approved_by")
    if state == "approved":
        qs = qs.filter(approved_at__isnull=False, retired_at__isnull=True)
    elif state == "pending":
        qs = qs.filter(approved_at__isnull=True, retired_at__isnull=True)
    elif state == "retired":
        qs = qs.filter(retired_at__isnull=False)
    rows = list(qs.order_by("name", "id")[offset : offset + limit + 1])
    return {
        "items": [script_out(s) for s in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post("/scripts", response=responses(ScriptOut, 201), summary="Add a script")
def create_script(request: HttpRequest, payload: ScriptIn) -> Any:
    """Propose a script for the library; it runs nowhere until an administrator approves it."""
    user = _staff(request)
    script = actions.create_script(
        actor=user,
        name=payload.name,
        interpreter=payload.interpreter,
        body=payload.body,
        description=payload.description,
        timeout_s=payload.timeout_s,
    )
    return created(script_out(script))


@router.get("/scripts/{script_id}", response=responses(ScriptOut), summary="Get a script")
def get_script(request: HttpRequest, script_id: uuid.UUID) -> dict[str, Any]:
    """One script of the library with its body, its SHA-256 and who approved it when."""
    return script_out(get_script_or_404(_staff(request), script_id))


@router.post(
    "/scripts/{script_id}/approve", response=responses(ScriptOut), summary="Approve a script"
)
def approve_script(request: HttpRequest, script_id: uuid.UUID) -> dict[str, Any]:
    """Administrators only: the script may run from now on and its body is frozen."""
    user = _staff(request)
    script = actions.approve_script(actor=user, script=get_script_or_404(user, script_id))
    return script_out(get_script_or_404(user, script.public_id))


@router.post(
    "/scripts/{script_id}/retire", response=responses(ScriptOut), summary="Retire a script"
)
def retire_script(request: HttpRequest, script_id: uuid.UUID) -> dict[str, Any]:
    """Administrators only: no new actions may run it; its waiting actions are cancelled."""
    user = _staff(request)
    script = get_script_or_404(user, script_id)
    actions.retire_script(actor=user, script=script)
    return script_out(get_script_or_404(user, script_id))


# --- enrollment tokens -------------------------------------------------------------------


@router.get(
    "/enrollment-tokens", response=responses(EnrollmentTokenPage), summary="List enrollment tokens"
)
def list_enrollment_tokens(
    request: HttpRequest,
    site: uuid.UUID | None = Query(None, description="Public id of a site."),  # noqa: B008
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Enrollment tokens, newest first, with their uses and expiry (never the raw token)."""
    user = _staff(request)
    qs = EnrollmentToken.objects.visible_to(user).select_related(
        "site", "site__client", "created_by"
    )
    if site is not None:
        qs = qs.filter(site=_site(user, site))
    if client is not None:
        qs = qs.filter(client=_client(user, client))
    rows = list(qs.order_by("-created_at", "-id")[offset : offset + limit + 1])
    now = timezone.now()
    return {
        "items": [enrollment_token_out(t, now) for t in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post(
    "/enrollment-tokens",
    response=responses(EnrollmentTokenCreated, 201),
    summary="Create an enrollment token",
)
def create_enrollment_token(request: HttpRequest, payload: EnrollmentTokenIn) -> Any:
    """A token for enrolling agents at a site; the raw value is in this answer only."""
    user = _staff(request)
    site = _site(user, payload.site)
    token, raw = enrollment.create_enrollment_token(
        actor=user,
        site=site,
        name=payload.name,
        expires_at=payload.expires_at,
        max_uses=payload.max_uses,
    )
    token = get_enrollment_token_or_404(user, token.public_id)
    data = enrollment_token_out(token, timezone.now())
    data["token"] = raw
    data["command"] = enroll_command(raw)
    return created(data)


@router.post(
    "/enrollment-tokens/{enrollment_token_id}/revoke",
    response=responses(EnrollmentTokenOut),
    summary="Revoke an enrollment token",
)
def revoke_enrollment_token(request: HttpRequest, enrollment_token_id: uuid.UUID) -> Any:
    """Enrollments with it fail from now on; devices already enrolled stay."""
    user = _staff(request)
    token = get_enrollment_token_or_404(user, enrollment_token_id)
    enrollment.revoke_enrollment_token(actor=user, token=token)
    return enrollment_token_out(get_enrollment_token_or_404(user, token.public_id), timezone.now())


# Keeps the literal choices above in step with the models' (checked by the tests).
STATUS_CHOICES = {
    "device": (DeviceStatusValue, DeviceStatus),
    "action": (ActionStatusValue, ActionStatus),
}

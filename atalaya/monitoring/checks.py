"""Which checks are in force on a device: built-in defaults, the client's defaults, overrides.

Resolution is by ``(kind, target)``. A built-in default (``DEFAULTS``, target ``""``)
applies until the client has a default row of the same kind and target; a device's
override of a ``(kind, target)`` replaces the client's. A row only has to name the
parameters it changes: the kind's built-in parameters fill in the rest. A disabled row
switches its ``(kind, target)`` off. For disk checks target ``""`` means "every
volume" and a row with a mountpoint refines it for that volume only, so a client that
tightens ``/data`` keeps the catch-all on its other volumes. Service, process and
backup checks with a target watch that one service, process or job; the agent is told
which to collect (``agent_config``), so saving one bumps the devices' configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, User
from atalaya.core.services import record_audit
from atalaya.monitoring import agent_config
from atalaya.monitoring.models import Check, CheckKind, Device, Severity


@dataclass(frozen=True)
class CheckSpec:
    """A kind's built-in default: severity, hysteresis and thresholds."""

    severity: str
    fail_after: int
    clear_after: int
    params: dict[str, Any] = field(default_factory=dict)
    # Kinds that need a target (a service name…) have no catch-all built-in row.
    needs_target: bool = False
    # Kinds with a built-in row in force on every device unless a client row replaces it.
    built_in: bool = True


# Sensible MSP defaults. Thresholds with a severity in their name escalate the alert;
# the row's ``severity`` is what the check raises when it has no graded thresholds.
DEFAULTS: dict[str, CheckSpec] = {
    CheckKind.OFFLINE: CheckSpec(Severity.CRITICAL, 1, 1, {"missed_intervals": 2}),
    CheckKind.DISK: CheckSpec(
        Severity.WARNING,
        2,
        2,
        {
            "warning_used_pct": 90.0,
            "critical_used_pct": 95.0,
            "warning_free_gb": 5.0,
            "critical_free_gb": 1.0,
            # Free-space floors in GB make no sense on a 512 MB /boot: they apply only
            # to volumes at least this large (the percentages apply to every volume).
            "min_total_gb_for_free": 20.0,
        },
    ),
    CheckKind.DISK_FORECAST: CheckSpec(
        Severity.WARNING,
        1,
        2,
        {
            "warning_hours": 72.0,
            "critical_hours": 24.0,
            "warning_free_pct": 15.0,
            "critical_free_pct": 10.0,
        },
    ),
    # The window does the sustaining (every raw sample in it above the threshold).
    CheckKind.CPU: CheckSpec(Severity.WARNING, 1, 2, {"pct": 95.0, "window_min": 15}),
    CheckKind.MEMORY: CheckSpec(Severity.WARNING, 1, 2, {"pct": 95.0, "window_min": 15}),
    CheckKind.SERVICE: CheckSpec(Severity.WARNING, 2, 1, {}, needs_target=True, built_in=False),
    CheckKind.PROCESS: CheckSpec(
        Severity.WARNING, 2, 1, {"min_count": 1}, needs_target=True, built_in=False
    ),
    # Target "" watches every job the device has reported; a named target also alerts
    # when that job never reported at all.
    CheckKind.BACKUP: CheckSpec(Severity.WARNING, 1, 1, {"max_age_hours": 26.0}),
    CheckKind.SMART: CheckSpec(Severity.CRITICAL, 1, 1, {}),
    CheckKind.REBOOT_PENDING: CheckSpec(Severity.WARNING, 1, 1, {"days": 7.0}),
}

# Numeric parameters each kind accepts, for validation of what a person saves.
ALLOWED_PARAMS: dict[str, set[str]] = {kind: set(spec.params) for kind, spec in DEFAULTS.items()}


@dataclass(frozen=True)
class EffectiveCheck:
    """One check in force on one device, after defaults and overrides."""

    kind: str
    target: str
    severity: str
    fail_after: int
    clear_after: int
    params: dict[str, Any]
    # The row it came from (None: a built-in default).
    check_id: int | None = None
    is_override: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind

    def param(self, name: str) -> float:
        return float(self.params.get(name, DEFAULTS[self.kind].params[name]))


def _from_row(row: Check) -> EffectiveCheck:
    spec = DEFAULTS[row.kind]
    return EffectiveCheck(
        kind=row.kind,
        target=row.target,
        severity=row.severity,
        fail_after=max(1, row.fail_after),
        clear_after=max(1, row.clear_after),
        params={**spec.params, **(row.params or {})},
        check_id=row.pk,
        is_override=row.device_id is not None,
    )


def built_in_checks() -> dict[tuple[str, str], EffectiveCheck]:
    """The built-in defaults in force where a client has no row of that kind and target."""
    return {
        (kind, ""): EffectiveCheck(
            kind=kind,
            target="",
            severity=spec.severity,
            fail_after=spec.fail_after,
            clear_after=spec.clear_after,
            params=dict(spec.params),
        )
        for kind, spec in DEFAULTS.items()
        if spec.built_in
    }


def resolve(
    rows: Iterable[Check], device_ids: Iterable[int], client_of: dict[int, int]
) -> dict[int, dict[tuple[str, str], EffectiveCheck]]:
    """The checks in force per device from the rows of their clients (no queries).

    ``rows`` are the client default and override rows of the devices' clients;
    ``client_of`` maps each device id to its client id. The client's defaults are
    resolved once per client, and every device without overrides shares that one
    dictionary (read it, never change it): a fleet of 100,000 devices costs one
    resolution per client, not per device.
    """
    defaults: dict[int, dict[tuple[str, str], Check]] = {}
    overrides: dict[int, dict[tuple[str, str], Check]] = {}
    for row in rows:
        if row.device_id is None:
            defaults.setdefault(row.client_id, {})[(row.kind, row.target)] = row
        else:
            overrides.setdefault(row.device_id, {})[(row.kind, row.target)] = row
    base = built_in_checks()
    per_client: dict[int, dict[tuple[str, str], EffectiveCheck]] = {}
    result: dict[int, dict[tuple[str, str], EffectiveCheck]] = {}
    for device_id in device_ids:
        client_id = client_of[device_id]
        in_force = per_client.get(client_id)
        if in_force is None:
            mine: dict[tuple[str, str], EffectiveCheck | None] = dict(base)
            for key, row in defaults.get(client_id, {}).items():
                mine[key] = _from_row(row) if row.is_enabled else None
            in_force = {k: v for k, v in mine.items() if v is not None}
            per_client[client_id] = in_force
        own = overrides.get(device_id)
        if not own:
            result[device_id] = in_force
            continue
        mine = dict(in_force)
        for key, row in own.items():
            mine[key] = _from_row(row) if row.is_enabled else None
        result[device_id] = {k: v for k, v in mine.items() if v is not None}
    return result


def checks_for_devices(
    devices: Iterable[Device],
) -> dict[int, dict[tuple[str, str], EffectiveCheck]]:
    """The checks in force on each device, by one query for all their clients' rows."""
    devices = list(devices)
    client_of = {d.pk: d.client_id for d in devices}
    if not devices:
        return {}
    rows = Check.objects.filter(client_id__in=set(client_of.values())).filter(
        Q(device__isnull=True) | Q(device_id__in=list(client_of))
    )
    return resolve(rows, list(client_of), client_of)


def checks_for(device: Device) -> dict[tuple[str, str], EffectiveCheck]:
    """The checks in force on one device."""
    return checks_for_devices([device])[device.pk]


def _require_writer(actor: User | None) -> None:
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change monitoring checks."))


def _clean(
    kind: str, target: str, severity: str, params: dict[str, Any], fail_after: int, clear_after: int
) -> tuple[str, dict[str, float]]:
    errors: dict[str, list[str]] = {}
    if kind not in DEFAULTS:
        allowed = ", ".join(sorted(DEFAULTS))
        raise ValidationError(
            {"kind": [_("Unknown check kind %(k)r; use one of: %(a)s") % {"k": kind, "a": allowed}]}
        )
    target = (target or "").replace("\x00", "").strip()
    if len(target) > 255:
        errors["target"] = [_("At most %(n)d characters.") % {"n": 255}]
    if DEFAULTS[kind].needs_target and not target:
        errors["target"] = [_("This kind of check needs the name of what it watches.")]
    if (
        kind
        in (
            CheckKind.OFFLINE,
            CheckKind.CPU,
            CheckKind.MEMORY,
            CheckKind.SMART,
            CheckKind.REBOOT_PENDING,
        )
        and target
    ):
        errors["target"] = [_("This kind of check takes no target.")]
    if severity not in Severity.values:
        errors["severity"] = [_("Unknown severity %(s)r.") % {"s": severity}]
    for name, value in (("fail_after", fail_after), ("clear_after", clear_after)):
        if not isinstance(value, int) or not 1 <= value <= 100:
            errors[name] = [_("A whole number from 1 to 100.")]
    cleaned: dict[str, float] = {}
    for name, value in (params or {}).items():
        if name not in ALLOWED_PARAMS[kind]:
            allowed = ", ".join(sorted(ALLOWED_PARAMS[kind])) or "-"
            errors.setdefault("params", []).append(
                _("Unknown parameter %(p)r for this check; allowed: %(a)s")
                % {"p": name, "a": allowed}
            )
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors.setdefault("params", []).append(
                _("Parameter %(p)r must be a number.") % {"p": name}
            )
            continue
        if not 0 <= number <= 1_000_000:
            errors.setdefault("params", []).append(
                _("Parameter %(p)r is out of range.") % {"p": name}
            )
            continue
        cleaned[name] = number
    if errors:
        raise ValidationError(errors)
    return target, cleaned


def _snapshot(check: Check) -> dict[str, Any]:
    return {
        "kind": check.kind,
        "target": check.target,
        "device": str(check.device.public_id) if check.device_id and check.device else None,
        "is_enabled": check.is_enabled,
        "severity": check.severity,
        "params": check.params,
        "fail_after": check.fail_after,
        "clear_after": check.clear_after,
    }


@transaction.atomic
def save_check(
    *,
    actor: User | None,
    client: Client,
    kind: str,
    target: str = "",
    device: Device | None = None,
    severity: str | None = None,
    params: dict[str, Any] | None = None,
    fail_after: int | None = None,
    clear_after: int | None = None,
    is_enabled: bool = True,
) -> Check:
    """Create or change a client's default check or a device's override, audited.

    Unset severity and hysteresis take the kind's built-in values. Saving a service
    or process check bumps the configuration version of the devices it reaches, so
    their agents start (or stop) reporting that service or process.
    """
    _require_writer(actor)
    if device is not None and device.client_id != client.pk:
        raise ValidationError({"device": [_("This device belongs to another client.")]})
    spec = DEFAULTS.get(kind)
    severity = severity or (spec.severity if spec else Severity.WARNING)
    fail_after = fail_after if fail_after is not None else (spec.fail_after if spec else 1)
    clear_after = clear_after if clear_after is not None else (spec.clear_after if spec else 1)
    target, cleaned = _clean(kind, target, severity, params or {}, fail_after, clear_after)
    existing = (
        Check.objects.select_for_update()
        .filter(client=client, kind=kind, target=target, device=device)
        .first()
    )
    now = timezone.now()
    before = _snapshot(existing) if existing else None
    check = existing or Check(
        client=client, device=device, kind=kind, target=target, created_at=now
    )
    check.is_enabled = is_enabled
    check.severity = severity
    check.params = cleaned
    check.fail_after = fail_after
    check.clear_after = clear_after
    check.updated_at = now
    check.save()
    record_audit(
        actor,
        check,
        "check.updated" if before else "check.created",
        client=client,
        before=before,
        after=_snapshot(check),
    )
    if kind in agent_config.AGENT_TARGET_KINDS:
        agent_config.bump_config_version(client=client, device=device)
    return check


@transaction.atomic
def delete_check(*, actor: User | None, check: Check) -> None:
    """Remove a client default or an override: the device falls back to what is above it.

    The row's last state is kept in the audit trail.
    """
    _require_writer(actor)
    client = check.client
    device = check.device
    record_audit(actor, check, "check.deleted", client=client, before=_snapshot(check))
    kind = check.kind
    check.delete()
    if kind in agent_config.AGENT_TARGET_KINDS:
        agent_config.bump_config_version(client=client, device=device)

"""Maintenance windows: when they are in force, and creating and cancelling them.

A recurring window repeats its first occurrence's wall-clock times in the zone of
its site (else the device's site, else the client): a window from 02:00 to 04:00 in
Madrid stays 02:00–04:00 local on both sides of a daylight-saving change, so in UTC
it moves by an hour. A monthly window on the 31st falls on the month's last day in
shorter months. Windows are few (dozens per client at most), so the occurrence
arithmetic runs in Python and the status sweep turns the windows in force into one
set of (client, site, device) scopes for its set-based UPDATEs.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Site, User
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Device, MaintenanceWindow, Recurrence

# The longest a window may last: a recurring one must end before it repeats.
PERIOD_DAYS = {Recurrence.DAILY: 1, Recurrence.WEEKLY: 7, Recurrence.MONTHLY: 28}
MAX_ONCE_DAYS = 31


def _zone_of(window: MaintenanceWindow, device: Device | None = None) -> ZoneInfo:
    if window.site_id and window.site is not None:
        return ZoneInfo(window.site.time_zone)
    if window.device_id and window.device is not None:
        return ZoneInfo(window.device.site.time_zone)
    if device is not None and device.site_id:
        return ZoneInfo(device.site.time_zone)
    return ZoneInfo(window.client.time_zone)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _local(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as an aware UTC time (a skipped hour moves forward)."""
    aware = wall.replace(tzinfo=zone)
    # Round-trip through UTC normalises a wall time that does not exist (02:30 on the
    # spring-forward night) to the moment the clocks show after the jump.
    return aware.astimezone(UTC)


def occurrence(window: MaintenanceWindow, index: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The ``index``-th occurrence (0 is the first) as aware UTC start and end."""
    start_wall = window.starts_at.astimezone(zone).replace(tzinfo=None)
    end_wall = window.ends_at.astimezone(zone).replace(tzinfo=None)
    if window.recurrence == Recurrence.NONE or index == 0:
        return window.starts_at, window.ends_at
    if window.recurrence == Recurrence.MONTHLY:
        new_day = _add_months(start_wall.date(), index)
        shift = timedelta(days=(new_day - start_wall.date()).days)
    else:
        shift = timedelta(days=PERIOD_DAYS[Recurrence(window.recurrence)] * index)
    return _local(start_wall + shift, zone), _local(end_wall + shift, zone)


def _candidate_indexes(window: MaintenanceWindow, at: datetime, zone: ZoneInfo) -> range:
    """The occurrence numbers that could cover ``at`` (the one starting last before it, and
    the one before, for a window that spans midnight or a zone change)."""
    if window.recurrence == Recurrence.NONE:
        return range(0, 1)
    first = window.starts_at.astimezone(zone).date()
    here = at.astimezone(zone).date()
    if window.recurrence == Recurrence.MONTHLY:
        n = (here.year - first.year) * 12 + here.month - first.month
    else:
        n = (here - first).days // PERIOD_DAYS[Recurrence(window.recurrence)]
    return range(max(0, n - 1), max(0, n + 1) + 1)


def covering_occurrence(
    window: MaintenanceWindow, at: datetime, device: Device | None = None
) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` in force at ``at``, or None."""
    if window.cancelled_at is not None and window.cancelled_at <= at:
        return None
    if at < window.starts_at:
        return None
    zone = _zone_of(window, device)
    for index in _candidate_indexes(window, at, zone):
        start, end = occurrence(window, index, zone)
        if window.repeat_until is not None and index > 0 and start > window.repeat_until:
            return None
        if start <= at < end:
            return start, end
    return None


def next_occurrence(window: MaintenanceWindow, after: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence in force at ``after`` or the next one to start, or None when over."""
    if window.cancelled_at is not None:
        return None
    zone = _zone_of(window)
    if window.recurrence == Recurrence.NONE:
        return (window.starts_at, window.ends_at) if window.ends_at > after else None
    start_index = _candidate_indexes(window, max(after, window.starts_at), zone).start
    for index in range(start_index, start_index + 40):
        start, end = occurrence(window, index, zone)
        if window.repeat_until is not None and index > 0 and start > window.repeat_until:
            return None
        if end > after:
            return start, end
    return None


def _candidates(at: datetime) -> Any:
    """Windows that may be in force at ``at``, by their stored columns (the rest in Python)."""
    recurring = ~Q(recurrence=Recurrence.NONE) & (
        Q(repeat_until__isnull=True) | Q(repeat_until__gte=at - timedelta(days=32))
    )
    return MaintenanceWindow.objects.filter(
        Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=at), starts_at__lte=at
    ).filter(Q(recurrence=Recurrence.NONE, ends_at__gt=at) | recurring)


def is_in_maintenance(device: Device, at: datetime | None = None) -> bool:
    """Whether a window of the device's client covers the device at ``at`` (one query)."""
    at = at or timezone.now()
    windows = (
        _candidates(at)
        .filter(client_id=device.client_id)
        .filter(
            Q(device_id=device.pk)
            | Q(device__isnull=True, site_id=device.site_id)
            | Q(device__isnull=True, site__isnull=True)
        )
        .select_related("site", "client", "device__site")
    )
    return any(covering_occurrence(w, at, device) for w in windows)


@dataclass
class Scopes:
    """What the windows in force cover: whole clients, sites and single devices."""

    client_ids: set[int] = field(default_factory=set)
    site_ids: set[int] = field(default_factory=set)
    device_ids: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.client_ids or self.site_ids or self.device_ids)

    def q(self) -> Q:
        """Devices inside the scopes; matches none when there are none."""
        q = Q(pk__in=[])
        if self.client_ids:
            q |= Q(client_id__in=self.client_ids)
        if self.site_ids:
            q |= Q(site_id__in=self.site_ids)
        if self.device_ids:
            q |= Q(pk__in=self.device_ids)
        return q

    def covers(self, device: Device) -> bool:
        return (
            device.client_id in self.client_ids
            or device.site_id in self.site_ids
            or device.pk in self.device_ids
        )

    def sql(self, alias: str = "") -> tuple[str, list[int]]:
        """A WHERE fragment for the device table (``alias.`` prefixed) and its parameters."""
        parts: list[str] = []
        params: list[int] = []
        col = f"{alias}." if alias else ""
        for column, ids in (
            ("client_id", self.client_ids),
            ("site_id", self.site_ids),
            ("id", self.device_ids),
        ):
            if ids:
                parts.append(f"{col}{column} IN ({', '.join(['%s'] * len(ids))})")
                params.extend(sorted(ids))
        return (" OR ".join(parts) or "1 = 0"), params


def scopes_at(at: datetime | None = None) -> Scopes:
    """The scopes of every window in force at ``at`` (one query), for the status sweep.

    A site-less, device-less window covers its whole client. Occurrences are worked out
    in the window's site's or client's zone; a device-wide window of a client whose
    sites differ in zone uses its own device's site.
    """
    at = at or timezone.now()
    scopes = Scopes()
    for window in _candidates(at).select_related("site", "client", "device__site"):
        if covering_occurrence(window, at) is None:
            continue
        if window.device_id:
            scopes.device_ids.add(window.device_id)
        elif window.site_id:
            scopes.site_ids.add(window.site_id)
        else:
            scopes.client_ids.add(window.client_id)
    return scopes


def _require_writer(actor: User | None) -> None:
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change maintenance windows."))


def _snapshot(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "name": window.name,
        "site": str(window.site.public_id) if window.site_id and window.site else None,
        "device": str(window.device.public_id) if window.device_id and window.device else None,
        "starts_at": window.starts_at.isoformat(),
        "ends_at": window.ends_at.isoformat(),
        "recurrence": window.recurrence,
        "repeat_until": window.repeat_until.isoformat() if window.repeat_until else None,
        "cancelled_at": window.cancelled_at.isoformat() if window.cancelled_at else None,
    }


def create_window(
    *,
    actor: User | None,
    client: Client,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    recurrence: str = Recurrence.NONE,
    repeat_until: datetime | None = None,
    site: Site | None = None,
    device: Device | None = None,
) -> MaintenanceWindow:
    """Plan a maintenance window for a client, one of its sites or one device, audited.

    A recurring window must end before its next occurrence starts (a day, a week, 28
    days for monthly); a one-off window lasts at most 31 days.
    """
    _require_writer(actor)
    errors: dict[str, list[str]] = {}
    name = (name or "").replace("\x00", "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 200:
        errors["name"] = [_("At most %(n)d characters.") % {"n": 200}]
    if recurrence not in Recurrence.values:
        errors["recurrence"] = [
            _("Unknown value %(v)r; use one of: %(a)s")
            % {"v": recurrence, "a": ", ".join(Recurrence.values)}
        ]
    for label, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if timezone.is_naive(moment):
            errors[label] = [_("Give the time with its time zone.")]
    if not errors:
        if ends_at <= starts_at:
            errors["ends_at"] = [_("The window must end after it starts.")]
        elif recurrence in PERIOD_DAYS and ends_at - starts_at > timedelta(
            days=PERIOD_DAYS[Recurrence(recurrence)]
        ):
            errors["ends_at"] = [_("A recurring window must end before it repeats.")]
        elif recurrence == Recurrence.NONE and ends_at - starts_at > timedelta(days=MAX_ONCE_DAYS):
            errors["ends_at"] = [_("A window lasts at most %(n)d days.") % {"n": MAX_ONCE_DAYS}]
        if repeat_until is not None and recurrence == Recurrence.NONE:
            errors["repeat_until"] = [_("Only a recurring window repeats.")]
        elif repeat_until is not None and repeat_until < starts_at:
            errors["repeat_until"] = [_("The repetition must end after the window starts.")]
    if site is not None and site.client_id != client.pk:
        errors["site"] = [_("This site belongs to another client.")]
    if device is not None and device.client_id != client.pk:
        errors["device"] = [_("This device belongs to another client.")]
    if site is not None and device is not None and device.site_id != site.pk:
        errors["device"] = [_("This device is at another site.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        window = MaintenanceWindow.objects.create(
            client=client,
            site=site,
            device=device,
            name=name,
            starts_at=starts_at,
            ends_at=ends_at,
            recurrence=recurrence,
            repeat_until=repeat_until,
            created_by=actor if actor is not None and actor.pk else None,
        )
        record_audit(actor, window, "maintenance.created", client=client, after=_snapshot(window))
    return window


@transaction.atomic
def cancel_window(
    *, actor: User | None, window: MaintenanceWindow, now: datetime | None = None
) -> MaintenanceWindow:
    """Cancel a window from now on (an occurrence under way ends now), audited; idempotent."""
    _require_writer(actor)
    if window.cancelled_at is not None:
        return window
    now = now or timezone.now()
    before = _snapshot(window)
    window.cancelled_at = now
    window.save(update_fields=["cancelled_at"])
    record_audit(
        actor,
        window,
        "maintenance.cancelled",
        client=window.client,
        before=before,
        after=_snapshot(window),
    )
    return window

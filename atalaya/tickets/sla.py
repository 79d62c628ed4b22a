"""SLA arithmetic on a client's business-hours calendar.

Targets are business minutes. A deadline is found by walking the calendar's working
windows forward in the client's time zone; each window is built from local wall-clock
times and converted to UTC on its own day, so daylight-saving changes shorten or
lengthen nothing. While a ticket waits on its client the clock pauses: on resume, the
business minutes that were left at the pause are laid out again from the resume time.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atalaya.core.models import Client
    from atalaya.tickets.models import SlaPolicy, Ticket

# A calendar with no working time at all would loop forever; ten years is "never".
MAX_DAYS = 3660
# A clock is "due soon" in its last quarter, or its last hour, whichever is longer.
DUE_SOON_FRACTION = 0.25
DUE_SOON_MIN = timedelta(hours=1)
_UTC = zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class BusinessCalendar:
    """When a client's business is open: zone, ISO weekdays, daily hours, holidays."""

    tz: zoneinfo.ZoneInfo
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    starts: time = time(9, 0)
    ends: time = time(18, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def for_client(cls, client: Client) -> BusinessCalendar:
        return cls(
            tz=zoneinfo.ZoneInfo(client.time_zone),
            weekdays=frozenset(int(d) for d in client.working_days),
            starts=client.workday_starts_at,
            ends=client.workday_ends_at,
            holidays=holidays_of(client.pk),
        )

    def windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC start, UTC end) from ``moment`` on, clipped to start there."""
        # Fail at once on a calendar that can never open, rather than after MAX_DAYS.
        if not self.weekdays & frozenset(range(1, 8)) or self.starts >= self.ends:
            raise ValueError(
                "the business calendar has no working time: it needs a working day (1-7) "
                "and hours that end after they start"
            )
        day = moment.astimezone(self.tz).date()
        for _ in range(MAX_DAYS):
            if day.isoweekday() in self.weekdays and day not in self.holidays:
                start = datetime.combine(day, self.starts, self.tz).astimezone(_UTC)
                end = datetime.combine(day, self.ends, self.tz).astimezone(_UTC)
                # end <= start only for hours inside a skipped DST hour; such a window is empty.
                if end > moment and end > start:
                    yield max(start, moment), end
            day += timedelta(days=1)


def holidays_of(client_id: int) -> frozenset[date]:
    """The client's closed days, by one plain query.

    Raw SQL on purpose: this runs on every ticket creation and every clock move (the
    intake hot path), where building the ORM query cost ten times running it.
    """
    from django.db import connection

    from atalaya.core.models import Holiday

    table = connection.ops.quote_name(Holiday._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT date FROM {table} WHERE client_id = %s", [client_id])  # noqa: S608
        rows = cursor.fetchall()
    # SQLite hands dates back as ISO text, PostgreSQL as dates.
    return frozenset(d if isinstance(d, date) else date.fromisoformat(d) for (d,) in rows)


def add_business_minutes(start: datetime, minutes: int, calendar: BusinessCalendar) -> datetime:
    """The moment when ``minutes`` of business time have passed since ``start``."""
    remaining = timedelta(minutes=minutes)
    if remaining <= timedelta(0):
        return next(calendar.windows_from(start), (start, start))[0]
    for window_start, window_end in calendar.windows_from(start):
        length = window_end - window_start
        if remaining <= length:
            return window_start + remaining
        remaining -= length
    raise ValueError(f"the business calendar has no working time in the next {MAX_DAYS} days")


def business_minutes_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> int:
    """Whole business minutes in [start, end); zero when end is not after start."""
    if end <= start:
        return 0
    total = timedelta(0)
    for window_start, window_end in calendar.windows_from(start):
        if window_start >= end:
            break
        total += min(window_end, end) - window_start
    return int(total.total_seconds() // 60)


def state_of(ticket: Ticket, now: datetime) -> str:
    """'breached', 'due_soon', 'paused', 'ok' or 'none' for the clock that matters now.

    Before the first response that is the first-response clock; after it the
    resolution clock. A resolved ticket is judged by when it was resolved.
    """
    due: datetime | None
    done: datetime | None
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        due, done, started = ticket.first_response_due_at, None, ticket.created_at
    else:
        due, done, started = ticket.resolution_due_at, ticket.resolved_at, ticket.created_at
    if due is None:
        return "none"
    if done is not None:
        return "breached" if done > due else "ok"
    if ticket.sla_paused_at is not None:
        return "breached" if ticket.sla_paused_at > due else "paused"
    if now > due:
        return "breached"
    window = max((due - started) * DUE_SOON_FRACTION, DUE_SOON_MIN)
    return "due_soon" if due - now <= window else "ok"


def lay_out_due_times(ticket: Ticket, policy: SlaPolicy | None, calendar: BusinessCalendar) -> None:
    """Set the due times for the policy's targets from creation, moved out past any pauses."""
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    paused = ticket.sla_paused_minutes
    ticket.first_response_due_at = add_business_minutes(
        ticket.created_at, policy.first_response_minutes + paused, calendar
    )
    ticket.resolution_due_at = add_business_minutes(
        ticket.created_at, policy.resolution_minutes + paused, calendar
    )


def move_status(
    ticket: Ticket,
    status: str,
    now: datetime,
    calendar: BusinessCalendar,
    policy: SlaPolicy | None,
) -> None:
    """Set the status and the clock fields that follow from it, in memory only.

    Waiting on the client pauses the clock; leaving that state adds the business
    minutes spent waiting and lays the due times out again. Resolving stamps
    resolved_at (kept through closing); any other status clears both stamps.
    """
    from atalaya.tickets.models import PAUSED_STATUSES, Status

    before = ticket.status
    if before in PAUSED_STATUSES and status not in PAUSED_STATUSES and ticket.sla_paused_at:
        ticket.sla_paused_minutes += business_minutes_between(ticket.sla_paused_at, now, calendar)
        ticket.sla_paused_at = None
        lay_out_due_times(ticket, policy, calendar)
    if status in PAUSED_STATUSES and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    if status == Status.RESOLVED:
        ticket.resolved_at = ticket.resolved_at or now
    elif status == Status.CLOSED:
        ticket.resolved_at = ticket.resolved_at or now
        ticket.closed_at = now
    else:
        ticket.resolved_at = ticket.closed_at = None
    ticket.status = status

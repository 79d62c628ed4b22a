"""The figures of one client's month, computed with a fixed number of aggregate queries.

``monthly_figures(client, year, month)`` reads every app's models (it writes nothing)
and returns a frozen :class:`MonthlyFigures` that round-trips through JSON, which is
what a MonthlyReport stores. The month is the calendar month in the client's time
zone: it starts at local midnight of the 1st and ends at local midnight of the next
1st, so a ticket opened at 00:30 on the 1st in Madrid (23:30 UTC the day before)
belongs to the new month.

Definitions, all judged at the end of the month (later changes do not count):

* tickets opened: created in the month; closed: resolved (or closed) in the month.
* first response: of the tickets opened in the month with a target, *met* when
  answered by the due time; *missed* when the due time passed before the end of the
  month without an answer in time; clocks still running at the end are not counted.
* resolution: of the tickets resolved in the month, or whose resolution was due in
  the month and were still unresolved at its end: *met* when resolved by the due time.
* response times: business minutes (the client's calendar, tickets/sla.py) from
  creation to the first response, of the tickets opened and answered in the month.
* availability: the share of the month's 15-minute buckets (monitoring rollups) in
  which the device checked in, over the part of the month it was enrolled and not
  retired. Rollups are kept 90 days, so a month older than that reads as unknown.
* alerts: opened in the month, not suppressed, by severity.
* findings: new (first seen in the month), closed (resolved in the month), open at
  the end of the month; coverage: security/coverage.py as of the end of the month.
* temporary fixes: open at the end of the month, with their revert-by dates.
* invoices issued in the month; open balance at month end: invoices issued by then,
  plus credit notes issued by then (negative), less the payments received by then
  and not returned.

The number of queries does not depend on how many tickets, devices or invoices the
client has (``QUERIES_PER_CLIENT``, asserted in the tests); only the ticket creation
and response times of the month are read as rows, for the median and percentiles.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from atalaya.billing.models import Invoice, InvoiceKind, InvoiceStatus, PaymentAllocation
from atalaya.core.models import Client
from atalaya.monitoring.models import Alert, Device, MetricRollup
from atalaya.security.coverage import coverage_of
from atalaya.security.models import Finding, FindingStatus, FixStatus, TemporaryFix
from atalaya.tickets import sla
from atalaya.tickets.models import Category, Ticket
from atalaya.tickets.stats import local_midnight

BUCKET_S = 900
SEVERITIES = ("critical", "warning", "info")
_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class CategoryCount:
    """Tickets of one category in the month; ``key`` is its slug ("" for none)."""

    key: str
    name: str
    name_es: str
    opened: int
    closed: int

    def label(self, language: str) -> str:
        return self.name_es if language == "es" and self.name_es else self.name


@dataclass(frozen=True)
class DeviceAvailability:
    """One monitored device's share of the month it was heard from (None: no history)."""

    name: str
    availability_pct: float | None
    monitored_hours: float


@dataclass(frozen=True)
class FixRow:
    """A temporary fix still open at the end of the month."""

    title: str
    kind: str
    revert_by: str
    is_overdue: bool


@dataclass(frozen=True)
class InvoiceRow:
    """An invoice or credit note issued in the month (amounts as decimal strings)."""

    code: str
    kind: str
    issue_date: str
    total: str
    currency: str


@dataclass(frozen=True)
class MonthlyFigures:
    """Everything a monthly report shows, as plain values that survive JSON."""

    client_public_id: str
    client_name: str
    year: int
    month: int
    time_zone: str
    starts_at: str
    ends_at: str
    # Tickets
    tickets_opened: int = 0
    tickets_closed: int = 0
    categories: tuple[CategoryCount, ...] = ()
    opened_per_day: tuple[int, ...] = ()
    first_response_met: int = 0
    first_response_missed: int = 0
    resolution_met: int = 0
    resolution_missed: int = 0
    responses_measured: int = 0
    median_first_response_min: float | None = None
    p90_first_response_min: float | None = None
    # Monitoring
    devices_monitored: int = 0
    availability_pct: float | None = None
    devices: tuple[DeviceAvailability, ...] = ()
    alerts_by_severity: dict[str, int] = field(default_factory=dict)
    # Security
    findings_new: int = 0
    findings_closed: int = 0
    findings_open: int = 0
    coverage_percent: int = 100
    coverage_required: int = 0
    coverage_covered: int = 0
    coverage_by_kind: dict[str, list[int]] = field(default_factory=dict)
    open_fixes: tuple[FixRow, ...] = ()
    # Billing
    invoices: tuple[InvoiceRow, ...] = ()
    invoiced_total: str = "0.00"
    open_balance: str = "0.00"
    currency: str = "EUR"

    @property
    def alerts_total(self) -> int:
        return sum(self.alerts_by_severity.values())

    @property
    def first_response_pct(self) -> float | None:
        return _pct(self.first_response_met, self.first_response_met + self.first_response_missed)

    @property
    def resolution_pct(self) -> float | None:
        return _pct(self.resolution_met, self.resolution_met + self.resolution_missed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonthlyFigures:
        """The figures back from a stored snapshot; unknown keys (older snapshots) ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        nested: dict[str, type] = {
            "categories": CategoryCount,
            "devices": DeviceAvailability,
            "open_fixes": FixRow,
            "invoices": InvoiceRow,
        }
        for name, row_type in nested.items():
            values[name] = tuple(row_type(**row) for row in values.get(name) or ())
        values["opened_per_day"] = tuple(values.get("opened_per_day") or ())
        return cls(**values)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 1)


def month_bounds(client: Client, year: int, month: int) -> tuple[datetime, datetime]:
    """[start, end) of the month in the client's zone, as UTC instants."""
    tz = zoneinfo.ZoneInfo(client.time_zone)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return local_midnight(first, tz), local_midnight(following, tz)


def _money(value: Any) -> Decimal:
    # SQLite sums NUMERIC columns as floats; round back to cents.
    return Decimal(str(round(float(value or 0), 2))).quantize(Decimal("0.01"))


def _ticket_figures(client: Client, start: datetime, end: datetime) -> dict[str, Any]:
    """Tickets opened and closed by category, the SLA counts, response times: 5 queries."""
    base = Ticket.objects.filter(client=client).order_by()
    fr_due, fr_at = "first_response_due_at", "first_responded_at"
    opened_rows = (
        base.filter(created_at__gte=start, created_at__lt=end)
        .values("category_id")
        .annotate(
            n=Count("pk"),
            fr_met=Count(
                "pk",
                filter=Q(**{f"{fr_due}__isnull": False, f"{fr_at}__lt": end})
                & Q(**{f"{fr_at}__lte": F(fr_due)}),
            ),
            fr_missed=Count(
                "pk",
                filter=Q(**{f"{fr_due}__lt": end})
                & (Q(**{f"{fr_at}__isnull": True}) | Q(**{f"{fr_at}__gt": F(fr_due)})),
            ),
        )
        .values_list("category_id", "n", "fr_met", "fr_missed")
    )
    in_month = Q(resolved_at__gte=start, resolved_at__lt=end)
    due_unresolved = Q(resolution_due_at__gte=start, resolution_due_at__lt=end) & (
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=end)
    )
    closed_rows = (
        base.filter(in_month | due_unresolved)
        .values("category_id")
        .annotate(
            n=Count("pk", filter=in_month),
            met=Count(
                "pk",
                filter=in_month
                & Q(resolution_due_at__isnull=False, resolved_at__lte=F("resolution_due_at")),
            ),
            missed=Count(
                "pk",
                filter=(in_month & Q(resolved_at__gt=F("resolution_due_at"))) | due_unresolved,
            ),
        )
        .values_list("category_id", "n", "met", "missed")
    )
    opened: dict[int | None, int] = {}
    closed: dict[int | None, int] = {}
    fr_met = fr_missed = res_met = res_missed = 0
    for category_id, n, met, missed in opened_rows:
        opened[category_id] = n
        fr_met += met
        fr_missed += missed
    for category_id, n, met, missed in closed_rows:
        if n:
            closed[category_id] = n
        res_met += met
        res_missed += missed
    wanted = {k for k in (set(opened) | set(closed)) if k is not None}
    names = {
        pk: (slug, name, name_es)
        for pk, slug, name, name_es in Category.objects.filter(pk__in=wanted)
        .order_by()
        .values_list("pk", "slug", "name", "name_es")
    }
    categories = []
    for key in set(opened) | set(closed):
        slug, name, name_es = (
            names.get(key, ("", "No category", "Sin categoría"))
            if key is not None
            else ("", "No category", "Sin categoría")
        )
        categories.append(
            CategoryCount(
                key=slug,
                name=name,
                name_es=name_es,
                opened=opened.get(key, 0),
                closed=closed.get(key, 0),
            )
        )
    categories.sort(key=lambda c: (-c.opened, -c.closed, c.name.casefold()))

    # Rows, not counts: the median and p90 need the values, and the days their dates.
    calendar = sla.BusinessCalendar.for_client(client)  # one query: the holidays
    tz = calendar.tz
    days = (end.astimezone(tz).date() - start.astimezone(tz).date()).days
    per_day = [0] * max(days, 0)
    first_day = start.astimezone(tz).date()
    minutes: list[float] = []
    for created_at, responded_at in base.filter(
        created_at__gte=start, created_at__lt=end
    ).values_list("created_at", fr_at):
        index = (created_at.astimezone(tz).date() - first_day).days
        if 0 <= index < len(per_day):
            per_day[index] += 1
        if responded_at is not None and responded_at < end:
            minutes.append(float(sla.business_minutes_between(created_at, responded_at, calendar)))
    return {
        "tickets_opened": sum(opened.values()),
        "tickets_closed": sum(closed.values()),
        "categories": tuple(categories),
        "opened_per_day": tuple(per_day),
        "first_response_met": fr_met,
        "first_response_missed": fr_missed,
        "resolution_met": res_met,
        "resolution_missed": res_missed,
        "responses_measured": len(minutes),
        "median_first_response_min": percentile(minutes, 0.5),
        "p90_first_response_min": percentile(minutes, 0.9),
    }


def _device_figures(
    client: Client, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """Devices monitored in the month and their availability; alerts by severity: 3 queries."""
    devices = list(
        Device.objects.filter(client=client, enrolled_at__lt=end)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=start))
        .order_by("hostname", "pk")
        .values_list("pk", "hostname", "display_name", "enrolled_at", "retired_at")
    )
    first_bucket, last_bucket = int(start.timestamp()) // BUCKET_S, int(end.timestamp()) // BUCKET_S
    heard: dict[int, int] = {}
    if devices:
        rows = (
            MetricRollup.objects.filter(
                device_id__in=Subquery(Device.objects.filter(client=client).values("pk")),
                bucket__gte=first_bucket,
                bucket__lt=last_bucket,
                samples__gt=0,
            )
            .order_by()
            .values("device_id")
            .annotate(n=Count("*"))
            .values_list("device_id", "n")
        )
        heard = dict(rows)
    horizon = min(end, now)
    rows_out: list[DeviceAvailability] = []
    total_expected = total_heard = 0
    for pk, hostname, display_name, enrolled_at, retired_at in devices:
        since = max(start, enrolled_at)
        until = min(horizon, retired_at) if retired_at else horizon
        expected = max(0, int(until.timestamp()) // BUCKET_S - int(since.timestamp()) // BUCKET_S)
        got = min(heard.get(pk, 0), expected)
        pct = round(100.0 * got / expected, 2) if expected else None
        if expected:
            total_expected += expected
            total_heard += got
        rows_out.append(
            DeviceAvailability(
                name=display_name or hostname,
                availability_pct=pct,
                monitored_hours=round(expected * BUCKET_S / 3600, 1),
            )
        )
    rows_out.sort(
        key=lambda d: (d.availability_pct if d.availability_pct is not None else 101, d.name)
    )
    alerts = dict.fromkeys(SEVERITIES, 0)
    for severity, n in (
        Alert.objects.filter(client=client, opened_at__gte=start, opened_at__lt=end)
        .filter(suppressed_reason="")
        .order_by()
        .values("severity")
        .annotate(n=Count("pk"))
        .values_list("severity", "n")
    ):
        alerts[severity] = alerts.get(severity, 0) + n
    return {
        "devices_monitored": len(devices),
        "availability_pct": round(100.0 * total_heard / total_expected, 2)
        if total_expected
        else None,
        "devices": tuple(rows_out),
        "alerts_by_severity": alerts,
    }


def _security_figures(client: Client, start: datetime, end: datetime) -> dict[str, Any]:
    """Findings new, closed and open; coverage; open temporary fixes: 6 queries."""
    counts = Finding.objects.filter(client=client).aggregate(
        new=Count("pk", filter=Q(first_seen_at__gte=start, first_seen_at__lt=end)),
        closed=Count("pk", filter=Q(resolved_at__gte=start, resolved_at__lt=end)),
        open=Count(
            "pk",
            filter=Q(first_seen_at__lt=end)
            & ~Q(status=FindingStatus.ACCEPTED)
            & (Q(resolved_at__isnull=True) | Q(resolved_at__gte=end)),
        ),
    )
    # Coverage as it stood when the month ended (heartbeats and attestations by then).
    coverage = coverage_of(client, now=end - timedelta(seconds=1))
    by_kind: dict[str, list[int]] = {}
    for item in coverage.items:
        covered, required = by_kind.setdefault(item.kind, [0, 0])
        by_kind[item.kind] = [covered + int(item.is_covered), required + 1]
    last_day = (end - timedelta(seconds=1)).astimezone(zoneinfo.ZoneInfo(client.time_zone)).date()
    fixes = [
        FixRow(
            title=title, kind=kind, revert_by=revert_by.isoformat(), is_overdue=revert_by < last_day
        )
        for title, kind, revert_by in TemporaryFix.objects.filter(client=client, created_at__lt=end)
        .filter(Q(status=FixStatus.OPEN) | Q(closed_at__gte=end))
        .order_by("revert_by", "pk")
        .values_list("title", "kind", "revert_by")
    ]
    return {
        "findings_new": counts["new"],
        "findings_closed": counts["closed"],
        "findings_open": counts["open"],
        "coverage_percent": coverage.percent,
        "coverage_required": coverage.required,
        "coverage_covered": coverage.covered,
        "coverage_by_kind": by_kind,
        "open_fixes": tuple(fixes),
    }


def _billing_figures(client: Client, first: date, last: date, end: datetime) -> dict[str, Any]:
    """Invoices issued in the month; open balance at its end: 3 queries."""
    issued = Invoice.objects.filter(client=client, status=InvoiceStatus.ISSUED).order_by()
    rows = [
        InvoiceRow(
            code=code,
            kind=kind,
            issue_date=issue_date.isoformat() if issue_date else "",
            total=str(_money(total)),
            currency=currency,
        )
        for code, kind, issue_date, total, currency in issued.filter(
            issue_date__gte=first, issue_date__lte=last
        )
        .order_by("issue_date", "number", "pk")
        .values_list("code", "kind", "issue_date", "total", "currency")
    ]
    owed = issued.filter(issue_date__lte=last).aggregate(
        s=Coalesce(Sum("total"), 0, output_field=_MONEY)
    )["s"]
    paid = PaymentAllocation.objects.filter(
        invoice__client=client,
        invoice__status=InvoiceStatus.ISSUED,
        invoice__kind=InvoiceKind.INVOICE,
        invoice__issue_date__lte=last,
        payment__received_on__lte=last,
    ).filter(Q(payment__returned_at__isnull=True) | Q(payment__returned_at__gte=end))
    paid_sum = paid.order_by().aggregate(s=Coalesce(Sum("amount"), 0, output_field=_MONEY))["s"]
    invoiced = sum((Decimal(r.total) for r in rows), Decimal("0.00"))
    return {
        "invoices": tuple(rows),
        "invoiced_total": str(invoiced.quantize(Decimal("0.01"))),
        "open_balance": str(_money(owed) - _money(paid_sum)),
        "currency": rows[0].currency if rows else "EUR",
    }


# tickets 5 (two aggregates, categories, holidays, rows) + devices 3 + findings 1 +
# coverage 4 + fixes 1 + billing 3. The categories query is skipped when there are none.
QUERIES_PER_CLIENT = 17


def monthly_figures(
    client: Client, year: int, month: int, *, now: datetime | None = None
) -> MonthlyFigures:
    """The figures of ``client``'s ``month`` (see the module docstring for definitions)."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1 to 12, not {month}")
    now = now or timezone.now()
    start, end = month_bounds(client, year, month)
    tz = zoneinfo.ZoneInfo(client.time_zone)
    first = start.astimezone(tz).date()
    last = (end - timedelta(seconds=1)).astimezone(tz).date()
    return MonthlyFigures(
        client_public_id=str(client.public_id),
        client_name=client.name,
        year=year,
        month=month,
        time_zone=client.time_zone,
        starts_at=start.astimezone(UTC).isoformat(),
        ends_at=end.astimezone(UTC).isoformat(),
        **_ticket_figures(client, start, end),
        **_device_figures(client, start, end, now),
        **_security_figures(client, start, end),
        **_billing_figures(client, first, last, end),
    )

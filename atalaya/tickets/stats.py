"""Aggregations behind the dashboards: who is on what, and where we are flooded.

Both take a ticket queryset already scoped by ``visible_to(user)``, so isolation stays
the caller's single decision. "Where are we flooded" must stay fast with a million
tickets: it never loads tickets into Python, it asks the database for counts grouped
by (local day, category), reading the ``ticket_created_category`` index. Days are
calendar days in the viewer's time zone; the database works them out natively (no
per-row Python function on SQLite) from UTC offsets that are constant between the
zone's daylight-saving changes, which are found here and passed in as a CASE.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, cast

from django.db import NotSupportedError
from django.db.models import (
    Case,
    Count,
    DateField,
    ExpressionWrapper,
    F,
    Func,
    QuerySet,
    Value,
    When,
)
from django.db.models import IntegerField as IntegerOutput
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import TICKET_WRITER_ROLES, Client, User
from atalaya.tickets import sla
from atalaya.tickets.models import OPEN_STATUSES, Category, Ticket

# How urgent each SLA state is, most urgent first: the order of the "who" board.
SLA_STATES: tuple[str, ...] = ("breached", "due_soon", "ok", "paused", "none")
SLA_RANK = {state: rank for rank, state in enumerate(SLA_STATES)}
WINDOWS: tuple[int, ...] = (30, 90)
RECENT_DAYS = 7


# ---------------------------------------------------------------------------
# Who is on what
# ---------------------------------------------------------------------------


@dataclass
class BoardTicket:
    """An open ticket as the board shows it, with its age and SLA state.

    A plain row rather than a model instance: the board may hold tens of thousands of
    open tickets and building models (and their related clients) would dominate its
    cost. It carries the SLA fields, so sla.state_of reads it like a ticket.
    """

    id: int
    number: int
    subject: str
    status: str
    priority: str
    created_at: datetime
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    sla_paused_at: datetime | None
    assignee_id: int | None
    client_name: str = ""
    client_public_id: Any = None
    category: str = ""
    age: timedelta = timedelta(0)
    sla: str = "none"


@dataclass
class BoardGroup:
    """One technician's open tickets (or the unassigned ones when ``user`` is None)."""

    user: User | None
    tickets: list[BoardTicket] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SLA_STATES, 0))

    @property
    def total(self) -> int:
        return len(self.tickets)

    @property
    def label(self) -> str:
        return self.user.display_name() if self.user is not None else _("Unassigned")


@dataclass
class Board:
    """The whole board: unassigned first, then every technician and admin by name."""

    groups: list[BoardGroup]
    counts: dict[str, int]
    now: datetime

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_BOARD_FIELDS = (
    "id",
    "number",
    "subject",
    "status",
    "priority",
    "created_at",
    "first_response_due_at",
    "resolution_due_at",
    "first_responded_at",
    "resolved_at",
    "sla_paused_at",
    "assignee_id",
)
# Past this many distinct clients one query for all of them beats a long IN list.
_CLIENTS_BY_ID_LIMIT = 500


def who_is_on_what(
    tickets: QuerySet[Ticket], *, now: datetime | None = None, language: str = "en"
) -> Board:
    """Open tickets per technician with age and SLA state, in four queries whatever the
    number of people and tickets.

    The active staff who can take tickets (so a technician with nothing open still
    shows, with zero); every open ticket as plain values, without joins; the names of
    their clients; the categories. Joins were measured slower on a million tickets (they
    let SQLite start from the clients and probe every ticket), as were subqueries per
    row on PostgreSQL. Tickets of someone who can no longer take tickets (deactivated,
    role changed) still appear under their name, so nothing open is hidden; only then
    does a fifth query read those people. Within a group the most urgent SLA state
    comes first, then the oldest ticket.
    """
    now = now or timezone.now()
    people = list(
        User.objects.filter(is_active=True, role__in=TICKET_WRITER_ROLES).order_by(
            "first_name", "last_name", "username"
        )
    )
    groups: dict[int | None, BoardGroup] = {None: BoardGroup(user=None)}
    for person in people:
        groups[person.pk] = BoardGroup(user=person)
    rows = list(
        tickets.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values_list(*_BOARD_FIELDS, "client_id", "category_id")
    )
    client_ids = {values[-2] for values in rows}
    clients_qs = Client.objects.all()
    if len(client_ids) <= _CLIENTS_BY_ID_LIMIT:
        clients_qs = clients_qs.filter(pk__in=client_ids)
    clients = (
        {
            pk: (name, public_id)
            for pk, name, public_id in clients_qs.order_by().values_list("pk", "name", "public_id")
        }
        if rows
        else {}
    )
    categories = {c.pk: c.localized_name(language) for c in Category.objects.all()} if rows else {}
    totals = dict.fromkeys(SLA_STATES, 0)
    strays: list[BoardTicket] = []
    for *fields, client_id, category_id in rows:
        client_name, client_public_id = clients.get(client_id, ("", None))
        row = BoardTicket(
            **dict(zip(_BOARD_FIELDS, fields, strict=True)),
            client_name=client_name,
            client_public_id=client_public_id,
            category=categories.get(category_id, ""),
        )
        row.age = now - row.created_at
        row.sla = sla.state_of(cast(Ticket, row), now)
        totals[row.sla] += 1
        group = groups.get(row.assignee_id)
        if group is None:
            strays.append(row)
            continue
        group.tickets.append(row)
        group.counts[row.sla] += 1
    if strays:
        others = User.objects.in_bulk({row.assignee_id for row in strays})
        for row in strays:
            group = groups.get(row.assignee_id)
            if group is None:
                group = groups[row.assignee_id] = BoardGroup(user=others.get(row.assignee_id))
            group.tickets.append(row)
            group.counts[row.sla] += 1
    for group in groups.values():
        group.tickets.sort(key=lambda row: (SLA_RANK[row.sla], -row.age.total_seconds()))
    unassigned = groups.pop(None)
    staff = sorted(groups.values(), key=lambda g: (g.label.casefold(), g.user.pk if g.user else 0))
    return Board(groups=[unassigned, *staff], counts=totals, now=now)


# ---------------------------------------------------------------------------
# Where are we flooded
# ---------------------------------------------------------------------------


def offset_segments(tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The UTC offsets in force over [start, end): ``(from_instant, offset_seconds)`` pairs.

    The first pair starts at ``start``; a new one starts at each change of the offset
    (daylight saving). Hours are probed, then the exact second of a change is found by
    bisection over whole seconds (zones change offset on whole seconds, and none twice
    within an hour).
    """

    def offset_at(moment: datetime) -> int:
        delta = moment.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset_at(start))]
    probe = start
    while probe < end:
        following = min(probe + timedelta(hours=1), end)
        if following < end and offset_at(following) != segments[-1][1]:
            low, high = 0, int((following - probe).total_seconds())
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(probe + timedelta(seconds=middle)) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            change = probe + timedelta(seconds=high)
            segments.append((change, offset_at(change)))
        probe = following
    return segments


class LocalDay(Func):
    """The calendar day of a UTC timestamp column at a per-row UTC offset, computed natively.

    The second argument is an integer expression (seconds), typically a CASE over the
    instants at which the viewer's zone changes its offset. SQLite uses
    ``date(col, 'N seconds')`` and PostgreSQL shifts the UTC wall time by an interval,
    so neither calls back into Python for each row (Django's TruncDate with a zone
    does, on SQLite, which is far too slow for a million rows).
    """

    arity = 2
    output_field = DateField()

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        raise NotSupportedError("LocalDay supports SQLite and PostgreSQL")

    def _compiled(self, compiler: Any) -> tuple[str, str, tuple[Any, ...]]:
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        offset_sql, offset_params = compiler.compile(self.source_expressions[1])
        return column_sql, offset_sql, (*column_params, *offset_params)

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column_sql, offset_sql, params = self._compiled(compiler)
        return f"date({column_sql}, ({offset_sql}) || ' seconds')", params

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column_sql, offset_sql, params = self._compiled(compiler)
        shifted = f"(({column_sql}) AT TIME ZONE 'UTC') + ({offset_sql}) * INTERVAL '1 second'"
        return f"({shifted})::date", params


def local_day(column: str, segments: Sequence[tuple[datetime, int]]) -> LocalDay:
    """``LocalDay`` of ``column`` with the offsets of ``segments`` (see offset_segments)."""
    offset: Any
    if len(segments) == 1:
        offset = Value(segments[0][1], output_field=IntegerOutput())
    else:
        whens = [
            When(**{f"{column}__lt": following[0]}, then=Value(current[1]))
            for current, following in zip(segments, segments[1:], strict=False)
        ]
        offset = Case(*whens, default=Value(segments[-1][1]), output_field=IntegerOutput())
    return LocalDay(F(column), Cast(offset, IntegerOutput()))


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)


@dataclass
class CategoryTrend:
    """One category's daily figures over the window, and how fast it is growing.

    ``key`` is the category's slug ("" for tickets without a category).
    """

    key: str
    name: str
    new_per_day: list[int]
    open_per_day: list[int]
    recent_rate: float = 0.0
    earlier_rate: float = 0.0

    @property
    def total_new(self) -> int:
        return sum(self.new_per_day)

    @property
    def recent_new(self) -> int:
        return sum(self.new_per_day[-RECENT_DAYS:])

    @property
    def open_now(self) -> int:
        return self.open_per_day[-1] if self.open_per_day else 0

    @property
    def growth(self) -> float:
        """Extra new tickets per day lately: recent daily rate minus earlier daily rate."""
        return self.recent_rate - self.earlier_rate

    @property
    def growth_percent(self) -> float | None:
        """The same as a percentage of the earlier rate; None when there was no earlier rate."""
        if self.earlier_rate == 0:
            return None
        return 100.0 * (self.recent_rate - self.earlier_rate) / self.earlier_rate


@dataclass
class FloodReport:
    """Per-category new and open tickets per local day, fastest-growing category first."""

    days: list[date]
    categories: list[CategoryTrend]

    @property
    def new_per_day(self) -> list[int]:
        return [sum(c.new_per_day[i] for c in self.categories) for i in range(len(self.days))]

    @property
    def open_per_day(self) -> list[int]:
        return [sum(c.open_per_day[i] for c in self.categories) for i in range(len(self.days))]


def growth_rates(new_per_day: Sequence[int], recent_days: int = RECENT_DAYS) -> tuple[float, float]:
    """(recent rate, earlier rate) of a daily series, both in tickets per day.

    The recent rate is the average over the last ``recent_days`` days of the window
    (today included, though today is not over yet); the earlier rate is the average
    over all the days of the window before those. Growth is their difference: how many
    more tickets a day the category brings now than it used to. A difference rather
    than a ratio, so a quiet category going from 0 to 1 ticket does not outrank one
    going from 10 to 30 a day; the ratio is shown beside it.
    """
    recent = list(new_per_day[-recent_days:])
    earlier = list(new_per_day[:-recent_days]) if len(new_per_day) > recent_days else []
    recent_rate = sum(recent) / len(recent) if recent else 0.0
    earlier_rate = sum(earlier) / len(earlier) if earlier else 0.0
    return recent_rate, earlier_rate


def _category_key() -> ExpressionWrapper:
    """``category_id + 0`` to group by: the same value, but not a bare indexed column.

    Grouping by the bare column let SQLite walk the whole category index (every ticket)
    to get its groups in order, instead of reading only the rows the filters select
    through their own index; on a million tickets that was ten times slower.
    """
    return ExpressionWrapper(F("category_id") + 0, output_field=IntegerOutput())


def flood_report(
    tickets: QuerySet[Ticket],
    *,
    days: int,
    tz: tzinfo,
    today: date | None = None,
    language: str = "en",
) -> FloodReport:
    """New and open tickets per category per local day over the last ``days`` days.

    The window is the ``days`` calendar days in ``tz`` ending with ``today`` (by default
    today in ``tz``). "New on day d" counts tickets created on d. "Open on day d" counts
    tickets created on or before d and not resolved (nor closed) by the end of d, judged
    by their current ``resolved_at`` (a ticket that was reopened counts as open since its
    creation). Open per day is the number open when the window starts plus the running
    sum of new minus resolved.

    Five queries whatever the window and the data: new tickets grouped by (local day,
    category) through the (created_at, category) index; resolutions grouped the same
    way; tickets created before the window and still open; those created before it and
    resolved since; and the categories. There is no index on ``resolved_at``, so the
    queries that filter on it add conditions the service layer guarantees, to let the
    database use an index: a ticket is resolved exactly when its status is resolved or
    closed, and resolving it sets ``updated_at``, so ``updated_at >= resolved_at``.
    Categories are sorted by growth (see growth_rates), then by recent volume, then name.
    """
    today = today or timezone.localdate(timezone.now(), tz)
    first_day = today - timedelta(days=days - 1)
    window_days = [first_day + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(window_days)}
    start, end = local_midnight(first_day, tz), local_midnight(today + timedelta(days=1), tz)
    segments = offset_segments(tz, start, end)
    base = tickets.order_by()

    new_rows = (
        base.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=local_day("created_at", segments), cat=_category_key())
        .values("day", "cat")
        .annotate(n=Count("*"))
        .values_list("day", "cat", "n")
    )
    done_rows = (
        base.filter(resolved_at__gte=start, resolved_at__lt=end, created_at__lt=end)
        .filter(updated_at__gte=start)  # implied; reads the updated_at index
        .annotate(day=local_day("resolved_at", segments), cat=_category_key())
        .values("day", "cat")
        .annotate(n=Count("*"))
        .values_list("day", "cat", "n")
    )
    still_open_rows = (
        base.filter(created_at__lt=start, resolved_at__isnull=True)
        .filter(status__in=OPEN_STATUSES)  # implied; reads the status index
        .annotate(cat=_category_key())
        .values("cat")
        .annotate(n=Count("*"))
        .values_list("cat", "n")
    )
    resolved_since_rows = (
        base.filter(created_at__lt=start, resolved_at__gte=start)
        .filter(updated_at__gte=start)  # implied; reads the updated_at index
        .annotate(cat=_category_key())
        .values("cat")
        .annotate(n=Count("*"))
        .values_list("cat", "n")
    )
    new: dict[int | None, list[int]] = defaultdict(lambda: [0] * days)
    done: dict[int | None, list[int]] = defaultdict(lambda: [0] * days)
    for rows, target in ((new_rows, new), (done_rows, done)):
        for day, category_id, n in rows:
            local = _as_date(day)
            position = index.get(local) if local is not None else None
            if position is not None:
                target[category_id][position] += n
    opening: dict[int | None, int] = defaultdict(int)
    for rows_by_category in (still_open_rows, resolved_since_rows):
        for category_id, n in rows_by_category:
            opening[category_id] += n

    wanted = set(new) | set(done) | {k for k, v in opening.items() if v}
    named = {c.pk: c for c in Category.objects.filter(pk__in=[k for k in wanted if k is not None])}
    trends: list[CategoryTrend] = []
    for category_id in wanted:
        category = named.get(category_id) if category_id is not None else None
        running = opening.get(category_id, 0)
        open_per_day = []
        for i in range(days):
            running += new[category_id][i] - done[category_id][i]
            # Never below zero, even if a row says it was resolved before it was created.
            open_per_day.append(max(running, 0))
        trend = CategoryTrend(
            key=category.slug if category else "",
            name=category.localized_name(language) if category else _("No category"),
            new_per_day=list(new[category_id]),
            open_per_day=open_per_day,
        )
        trend.recent_rate, trend.earlier_rate = growth_rates(trend.new_per_day)
        trends.append(trend)
    trends.sort(key=lambda t: (-t.growth, -t.recent_new, -t.open_now, t.name.casefold()))
    return FloodReport(days=window_days, categories=trends)


def _as_date(value: Any) -> date | None:
    # SQLite hands back the text of date(); PostgreSQL a date. Django converts most,
    # but an annotation inside values_list keeps whatever the driver gave.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return None

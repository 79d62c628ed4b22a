"""Dashboard aggregations on small hand-built datasets: local days, open counts, growth, queries."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.tickets import services as ticket_services
from atalaya.tickets import stats
from atalaya.tickets.models import Category, Priority, Status, Ticket

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make(world: World, created: datetime, category: Category | None, **kwargs: object) -> Ticket:
    return ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="t",
        category=category,
        now=created,
        **kwargs,
    )


def resolve(world: World, ticket: Ticket, when: datetime, status: str = Status.RESOLVED) -> None:
    ticket_services.change_status(ticket, actor=world.tech, status=status, now=when)


@pytest.fixture
def vpn(db: None) -> Category:
    return Category.objects.get(slug="remote-access")


@pytest.fixture
def mail(db: None) -> Category:
    return Category.objects.get(slug="email")


def trend(report: stats.FloodReport, key: str) -> stats.CategoryTrend:
    return next(c for c in report.categories if c.key == key)


# -- offsets and local days ---------------------------------------------------------------


def test_offset_segments_find_the_exact_daylight_saving_change() -> None:
    start = stats.local_midnight(date(2024, 3, 25), MADRID)
    end = stats.local_midnight(date(2024, 4, 5), MADRID)
    assert stats.offset_segments(MADRID, start, end) == [(start, 3600), (at(2024, 3, 31, 1), 7200)]


def test_offset_segments_without_change_and_for_half_hour_zone() -> None:
    start = stats.local_midnight(date(2024, 6, 1), MADRID)
    assert stats.offset_segments(MADRID, start, start + timedelta(days=30)) == [(start, 7200)]
    start = stats.local_midnight(date(2024, 3, 1), KOLKATA)
    assert stats.offset_segments(KOLKATA, start, start + timedelta(days=90)) == [(start, 19800)]
    # New York's autumn change, both directions in one window.
    start = stats.local_midnight(date(2024, 3, 1), NEW_YORK)
    segments = stats.offset_segments(
        NEW_YORK, start, stats.local_midnight(date(2024, 11, 30), NEW_YORK)
    )
    assert [offset for _, offset in segments] == [-18000, -14400, -18000]
    assert segments[1][0] == at(2024, 3, 10, 7) and segments[2][0] == at(2024, 11, 3, 6)


def test_new_tickets_are_counted_on_the_viewers_local_day(world: World, vpn: Category) -> None:
    # 23:30 UTC on 9 March is already 00:30 on 10 March in Madrid.
    make(world, at(2024, 3, 9, 23, 30), vpn)
    make(world, at(2024, 3, 9, 22, 59), vpn)  # 23:59 in Madrid: still the 9th
    tickets = Ticket.objects.all()
    madrid = stats.flood_report(tickets, days=30, tz=MADRID, today=date(2024, 3, 20))
    utc = stats.flood_report(tickets, days=30, tz=zoneinfo.ZoneInfo("UTC"), today=date(2024, 3, 20))
    day9, day10 = madrid.days.index(date(2024, 3, 9)), madrid.days.index(date(2024, 3, 10))
    assert trend(madrid, "remote-access").new_per_day[day9] == 1
    assert trend(madrid, "remote-access").new_per_day[day10] == 1
    assert trend(utc, "remote-access").new_per_day[day9] == 2
    assert trend(utc, "remote-access").new_per_day[day10] == 0


def test_local_days_follow_the_daylight_saving_change(world: World, vpn: Category) -> None:
    make(world, at(2024, 3, 30, 22, 30), vpn)  # +1: 23:30 on the 30th
    make(world, at(2024, 3, 31, 22, 30), vpn)  # +2: 00:30 on 1 April
    make(world, at(2024, 3, 31, 21, 59), vpn)  # +2: 23:59 on the 31st
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=date(2024, 4, 10))
    counts = dict(zip(report.days, trend(report, "remote-access").new_per_day, strict=True))
    assert counts[date(2024, 3, 30)] == 1
    assert counts[date(2024, 3, 31)] == 1
    assert counts[date(2024, 4, 1)] == 1
    assert sum(counts.values()) == 3


def test_half_hour_zone_day_boundary(world: World, vpn: Category) -> None:
    make(world, at(2024, 5, 9, 18, 29), vpn)  # 23:59 in Kolkata (+5:30)
    make(world, at(2024, 5, 9, 18, 30), vpn)  # 00:00 on the 10th
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=KOLKATA, today=date(2024, 5, 20))
    counts = dict(zip(report.days, trend(report, "remote-access").new_per_day, strict=True))
    assert counts[date(2024, 5, 9)] == 1 and counts[date(2024, 5, 10)] == 1


def test_window_bounds_are_local_midnights(world: World, vpn: Category) -> None:
    today = date(2024, 6, 30)
    first = today - timedelta(days=29)
    make(world, stats.local_midnight(first, MADRID) - timedelta(seconds=1), vpn)  # before
    make(world, stats.local_midnight(first, MADRID), vpn)  # first second of the window
    make(world, stats.local_midnight(today + timedelta(days=1), MADRID) - timedelta(seconds=1), vpn)
    make(world, stats.local_midnight(today + timedelta(days=1), MADRID), vpn)  # tomorrow
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=today)
    assert report.days[0] == first and report.days[-1] == today and len(report.days) == 30
    new = trend(report, "remote-access").new_per_day
    assert new[0] == 1 and new[-1] == 1 and sum(new) == 2


# -- open per day ------------------------------------------------------------------------------


def test_open_per_day_counts_created_and_not_yet_resolved(world: World, vpn: Category) -> None:
    today = date(2024, 6, 30)
    day = {
        d: stats.local_midnight(date(2024, 6, d), MADRID) + timedelta(hours=10)
        for d in range(1, 31)
    }
    # Created and resolved before the window: never open in it.
    old = make(world, at(2024, 5, 1, 10), vpn)
    resolve(world, old, at(2024, 5, 2, 10))
    # Created before the window, still open: open every day.
    make(world, at(2024, 5, 3, 10), vpn)
    # Created before the window, closed on 3 June: open on 1 and 2 June only.
    early = make(world, at(2024, 5, 4, 10), vpn)
    resolve(world, early, day[3], Status.CLOSED)
    # Created 10 June, resolved 12 June: open on the 10th and 11th.
    mid = make(world, day[10], vpn)
    resolve(world, mid, day[12])
    # Created and resolved the same day: never open at a day's end.
    quick = make(world, day[15], vpn)
    resolve(world, quick, day[15] + timedelta(hours=2))
    # Resolved after the window: open from its creation to the end.
    late = make(world, day[20], vpn)
    resolve(world, late, at(2024, 7, 5, 10))
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=today)
    opened = dict(zip(report.days, trend(report, "remote-access").open_per_day, strict=True))
    expected = {}
    for d in range(1, 31):
        n = 1  # the one still open since May
        n += d <= 2
        n += 10 <= d <= 11
        n += d >= 20
        expected[date(2024, 6, d)] = n
    assert opened == expected
    assert trend(report, "remote-access").open_now == 2
    assert report.open_per_day == list(expected.values())


def test_reopened_ticket_counts_as_open_since_creation(world: World, vpn: Category) -> None:
    ticket = make(world, at(2024, 6, 5, 10), vpn)
    resolve(world, ticket, at(2024, 6, 6, 10))
    ticket_services.change_status(
        ticket, actor=world.tech, status=Status.OPEN, now=at(2024, 6, 8, 10)
    )
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=date(2024, 6, 30))
    open_per_day = trend(report, "remote-access").open_per_day
    assert open_per_day[report.days.index(date(2024, 6, 4))] == 0
    assert all(n == 1 for n in open_per_day[report.days.index(date(2024, 6, 5)) :])


def test_uncategorised_tickets_and_other_clients_are_counted(world: World) -> None:
    ticket_services.create_ticket(
        actor=world.tech, client=world.client_b, subject="x", now=at(2024, 6, 20, 9)
    )
    report = stats.flood_report(
        Ticket.objects.all(), days=30, tz=MADRID, today=date(2024, 6, 30), language="es"
    )
    none = trend(report, "")
    assert none.total_new == 1 and none.name == "No category"


def test_category_names_follow_the_viewers_language(world: World, vpn: Category) -> None:
    make(world, at(2024, 6, 20, 9), vpn)
    report = stats.flood_report(
        Ticket.objects.all(), days=30, tz=MADRID, today=date(2024, 6, 30), language="es"
    )
    assert report.categories[0].name == "Acceso remoto / VPN"


def test_only_the_given_queryset_is_counted(world: World, vpn: Category) -> None:
    make(world, at(2024, 6, 20, 9), vpn)
    ticket_services.create_ticket(
        actor=world.tech, client=world.client_b, subject="x", category=vpn, now=at(2024, 6, 21, 9)
    )
    report = stats.flood_report(
        Ticket.objects.filter(client=world.client_b), days=30, tz=MADRID, today=date(2024, 6, 30)
    )
    assert trend(report, "remote-access").total_new == 1


# -- growth ----------------------------------------------------------------------------------


def test_growth_rates_definition() -> None:
    # 30 days: 23 earlier days with 1 a day, then 7 recent days with 3 a day.
    series = [1] * 23 + [3] * 7
    recent, earlier = stats.growth_rates(series)
    assert recent == 3.0 and earlier == 1.0
    assert stats.growth_rates([0] * 30) == (0.0, 0.0)
    assert stats.growth_rates([7, 0, 0, 0, 0, 0, 0, 0]) == (0.0, 7.0)
    # Shorter than the recent period: everything is recent, nothing earlier.
    assert stats.growth_rates([2, 4]) == (3.0, 0.0)


def test_categories_growing_fastest_come_first(world: World, vpn: Category, mail: Category) -> None:
    security = Category.objects.get(slug="security")
    today = date(2024, 6, 30)
    noon = {
        i: stats.local_midnight(today - timedelta(days=i), MADRID) + timedelta(hours=12)
        for i in range(30)
    }
    # E-mail: busy but steady, two a day every day (growth 0).
    for i in range(30):
        for _ in range(2):
            make(world, noon[i], mail)
    # VPN: nothing before, then two a day over the last week (growth +2/day).
    for i in range(7):
        for _ in range(2):
            make(world, noon[i], vpn)
    # Security: one every other earlier day (0.5/day), one a day lately (+0.5/day).
    for i in range(7, 30, 2):
        make(world, noon[i], security)
    for i in range(7):
        make(world, noon[i], security)
    report = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=today)
    assert [c.key for c in report.categories] == ["remote-access", "security", "email"]
    vpn_trend, sec, email = report.categories
    assert vpn_trend.growth == pytest.approx(2.0) and vpn_trend.growth_percent is None
    assert sec.earlier_rate == pytest.approx(12 / 23) and sec.recent_rate == pytest.approx(1.0)
    assert sec.growth_percent == pytest.approx(100 * (1 - 12 / 23) / (12 / 23))
    assert email.growth == pytest.approx(0.0) and email.growth_percent == pytest.approx(0.0)
    assert email.recent_new == 14 and email.total_new == 60


def test_ninety_day_window(world: World, vpn: Category) -> None:
    make(world, at(2024, 4, 5, 12), vpn)
    report30 = stats.flood_report(Ticket.objects.all(), days=30, tz=MADRID, today=date(2024, 6, 30))
    report90 = stats.flood_report(Ticket.objects.all(), days=90, tz=MADRID, today=date(2024, 6, 30))
    assert len(report90.days) == 90
    assert trend(report90, "remote-access").new_per_day[report90.days.index(date(2024, 4, 5))] == 1
    # Outside the 30-day window it is still open, so it shows as open there.
    assert trend(report30, "remote-access").total_new == 0
    assert trend(report30, "remote-access").open_per_day == [1] * 30


def test_flood_report_uses_a_fixed_number_of_queries(
    world: World, vpn: Category, mail: Category, django_assert_num_queries: object
) -> None:
    for i in range(5):
        t = make(world, at(2024, 3, 20 + i, 12), vpn if i % 2 else mail)
        resolve(world, t, at(2024, 4, 1 + i, 12))
    # The window spans a daylight-saving change; still five queries.
    with django_assert_num_queries(5):  # type: ignore[operator]
        report = stats.flood_report(
            Ticket.objects.all(), days=90, tz=MADRID, today=date(2024, 5, 15)
        )
    assert sum(report.new_per_day) == 5
    assert report.open_per_day[-1] == 0


# -- who is on what ----------------------------------------------------------------------------


def test_who_is_on_what_groups_open_tickets_by_assignee(
    world: World, django_assert_num_queries: object
) -> None:
    now = at(2024, 6, 12, 12)  # a Wednesday
    other = core_services.create_staff_user(
        actor=None, username="zoe", password="x" * 12, role="technician", first_name="Zoe"
    )
    breached = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="old",
        priority=Priority.URGENT,
        assignee=world.tech,
        now=now - timedelta(days=2),
    )
    fresh = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="fresh",
        priority=Priority.LOW,
        assignee=world.tech,
        now=now - timedelta(minutes=5),
    )
    done = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_b,
        subject="done",
        assignee=world.admin,
        now=now - timedelta(days=1),
    )
    resolve(world, done, now - timedelta(hours=1))
    waiting = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_b,
        subject="wait",
        assignee=world.admin,
        now=now - timedelta(hours=3),
    )
    ticket_services.change_status(
        waiting, actor=world.tech, status=Status.WAITING_CLIENT, now=now - timedelta(hours=2)
    )
    # Someone who has left keeps their open tickets on the board.
    leaver = core_services.create_staff_user(
        actor=None, username="leaver", password="x" * 12, role="technician", first_name="Leaver"
    )
    left = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="left",
        assignee=leaver,
        now=now - timedelta(hours=1),
    )
    leaver.is_active = False
    leaver.save(update_fields=["is_active"])

    # People, open tickets, their clients, categories; one more for the leaver.
    with django_assert_num_queries(5):  # type: ignore[operator]
        board = stats.who_is_on_what(Ticket.objects.filter(created_at__lte=now), now=now)
    labels = [g.label for g in board.groups]
    assert labels == ["Unassigned", "Admin", "Leaver", "Tech", "Zoe"]
    by_label = {g.label: g for g in board.groups}
    assert by_label["Zoe"].total == 0 and other.pk == by_label["Zoe"].user.pk
    tech = by_label["Tech"]
    assert [row.id for row in tech.tickets] == [breached.pk, fresh.pk]
    assert tech.tickets[0].sla == "breached" and tech.tickets[1].sla == "ok"
    assert tech.tickets[0].age == timedelta(days=2)
    assert tech.counts["breached"] == 1 and tech.counts["ok"] == 1
    assert [r.id for r in by_label["Admin"].tickets] == [waiting.pk]
    assert by_label["Admin"].counts["paused"] == 1
    assert [r.id for r in by_label["Leaver"].tickets] == [left.pk]
    assert by_label["Unassigned"].total == 0
    assert board.total == 4
    assert board.counts == {"breached": 1, "due_soon": 0, "ok": 2, "paused": 1, "none": 0}
    row = tech.tickets[0]
    assert (row.number, row.subject, row.client_name) == (breached.number, "old", "Alfa Asesores")
    assert row.client_public_id == world.client_a.public_id and row.priority == Priority.URGENT
    with django_assert_num_queries(4):  # type: ignore[operator]
        stats.who_is_on_what(Ticket.objects.exclude(assignee=leaver), now=now)


def test_who_is_on_what_names_categories_in_the_viewers_language(world: World) -> None:
    ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="vpn",
        assignee=world.tech,
        category=Category.objects.get(slug="remote-access"),
    )
    board = stats.who_is_on_what(Ticket.objects.all(), language="es")
    (row,) = next(g for g in board.groups if g.user == world.tech).tickets
    assert row.category == "Acceso remoto / VPN"


def test_who_is_on_what_unassigned_group(world: World) -> None:
    board = stats.who_is_on_what(Ticket.objects.all())
    unassigned = board.groups[0]
    assert unassigned.user is None
    assert {r.id for r in unassigned.tickets} == {world.ticket_a.pk, world.ticket_b.pk}
    # Portal users and read-only staff never get a group of their own.
    assert {g.user.username for g in board.groups[1:]} == {"admin", "tech"}


def test_who_is_on_what_respects_the_queryset_scope(world: World) -> None:
    board = stats.who_is_on_what(Ticket.objects.visible_to(world.portal_a))
    assert {r.id for g in board.groups for r in g.tickets} == {world.ticket_a.pk}

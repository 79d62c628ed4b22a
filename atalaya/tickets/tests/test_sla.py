"""SLA arithmetic: business hours, weekends, holidays, pauses, time zones and DST.

Pure calendar arithmetic is tested on ``BusinessCalendar`` directly with explicit
datetimes; the ticket clocks (pause, resume, priority change, states) go through the
service layer with explicit ``now=`` or frozen time, never the wall clock.
"""

from __future__ import annotations

import time as wallclock
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from atalaya.core.models import Holiday
from atalaya.tickets import services, sla
from atalaya.tickets.models import Priority, SlaPolicy, Status, Ticket
from atalaya.tickets.sla import BusinessCalendar, add_business_minutes, business_minutes_between

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CAL = BusinessCalendar(tz=MADRID)  # Monday to Friday, 09:00–18:00
EVERY_DAY = BusinessCalendar(tz=MADRID, weekdays=frozenset(range(1, 8)))

# 2024-06-03 is a Monday.
MON = date(2024, 6, 3)


# --- the calendar ---------------------------------------------------------------------


def test_minutes_inside_one_working_day() -> None:
    assert add_business_minutes(madrid(2024, 6, 3, 10, 0), 120, CAL) == madrid(2024, 6, 3, 12, 0)


def test_minutes_that_run_past_closing_continue_next_morning() -> None:
    assert add_business_minutes(madrid(2024, 6, 3, 17, 0), 120, CAL) == madrid(2024, 6, 4, 10, 0)


def test_exactly_to_closing_time_ends_at_closing_time() -> None:
    assert add_business_minutes(madrid(2024, 6, 3, 17, 0), 60, CAL) == madrid(2024, 6, 3, 18, 0)


def test_weekend_is_skipped() -> None:
    friday = madrid(2024, 6, 7, 17, 0)
    assert add_business_minutes(friday, 120, CAL) == madrid(2024, 6, 10, 10, 0)
    assert business_minutes_between(friday, madrid(2024, 6, 10, 10, 0), CAL) == 120


def test_holidays_are_skipped() -> None:
    cal = BusinessCalendar(tz=MADRID, holidays=frozenset({date(2024, 6, 10)}))
    friday = madrid(2024, 6, 7, 17, 0)
    assert add_business_minutes(friday, 120, cal) == madrid(2024, 6, 11, 10, 0)
    assert business_minutes_between(friday, madrid(2024, 6, 11, 10, 0), cal) == 120


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (madrid(2024, 6, 8, 11, 0), madrid(2024, 6, 10, 10, 0)),  # Saturday
        (madrid(2024, 6, 3, 7, 0), madrid(2024, 6, 3, 10, 0)),  # before opening
        (madrid(2024, 6, 3, 20, 0), madrid(2024, 6, 4, 10, 0)),  # after closing
        (madrid(2024, 6, 7, 18, 0), madrid(2024, 6, 10, 10, 0)),  # Friday at closing time
    ],
)
def test_start_outside_hours_counts_from_next_opening(start: datetime, expected: datetime) -> None:
    assert add_business_minutes(start, 60, CAL) == expected


def test_zero_minutes_outside_hours_is_the_next_opening() -> None:
    assert add_business_minutes(madrid(2024, 6, 8, 11, 0), 0, CAL) == madrid(2024, 6, 10, 9, 0)
    assert add_business_minutes(madrid(2024, 6, 3, 11, 0), 0, CAL) == madrid(2024, 6, 3, 11, 0)


def test_minutes_between_ignores_nights_weekends_and_reversed_ranges() -> None:
    assert (
        business_minutes_between(madrid(2024, 6, 3, 9, 0), madrid(2024, 6, 10, 9, 0), CAL)
        == 5 * 540
    )
    assert business_minutes_between(madrid(2024, 6, 8, 9, 0), madrid(2024, 6, 9, 20, 0), CAL) == 0
    assert business_minutes_between(madrid(2024, 6, 4, 9, 0), madrid(2024, 6, 3, 9, 0), CAL) == 0


def test_results_are_aware_and_absolute() -> None:
    due = add_business_minutes(utc(2024, 6, 3, 8, 0), 30, CAL)  # 10:00 in Madrid
    assert due.utcoffset() is not None
    assert due == utc(2024, 6, 3, 8, 30)


# --- time zones -------------------------------------------------------------------------


def test_same_moment_gives_different_deadlines_per_client_zone() -> None:
    moment = utc(2024, 6, 3, 14, 0)  # 10:00 in New York, 16:00 in Madrid
    ny = BusinessCalendar(tz=NEW_YORK)
    assert add_business_minutes(moment, 240, ny) == datetime(2024, 6, 3, 14, 0, tzinfo=NEW_YORK)
    assert add_business_minutes(moment, 240, CAL) == madrid(2024, 6, 4, 11, 0)


def test_between_us_and_european_dst_changes_the_offset_is_honoured() -> None:
    # 2024-03-11..29: New York already on EDT (UTC-4), Madrid still on CET (UTC+1).
    ny = BusinessCalendar(tz=NEW_YORK)
    assert add_business_minutes(utc(2024, 3, 18, 12, 0), 60, ny) == utc(2024, 3, 18, 14, 0)
    assert add_business_minutes(utc(2024, 3, 18, 7, 0), 60, CAL) == utc(2024, 3, 18, 9, 0)


# --- daylight saving (Europe/Madrid: 2024-03-31 and 2024-10-27 are the change Sundays) --


@pytest.mark.parametrize("change_day", [date(2024, 3, 31), date(2024, 10, 27)])
def test_a_working_day_on_a_dst_change_keeps_its_wall_clock_length(change_day: date) -> None:
    start = datetime.combine(change_day, time(0, 0), MADRID)
    end = datetime.combine(change_day + timedelta(days=1), time(0, 0), MADRID)
    assert business_minutes_between(start, end, EVERY_DAY) == 540
    opening = datetime.combine(change_day, time(9, 0), MADRID)
    assert add_business_minutes(start, 540, EVERY_DAY) == datetime.combine(
        change_day, time(18, 0), MADRID
    )
    assert add_business_minutes(opening, 1, EVERY_DAY) == opening + timedelta(minutes=1)


def test_spring_forward_window_across_the_change_is_not_shortened() -> None:
    # Saturday 17:00 CET + 2 business hours = Sunday 10:00 CEST (08:00 UTC), not 09:00.
    saturday = madrid(2024, 3, 30, 17, 0)
    due = add_business_minutes(saturday, 120, EVERY_DAY)
    assert due == madrid(2024, 3, 31, 10, 0)
    assert due == utc(2024, 3, 31, 8, 0)
    assert business_minutes_between(saturday, due, EVERY_DAY) == 120


def test_fall_back_window_across_the_change_is_not_lengthened() -> None:
    # Saturday 17:00 CEST + 2 business hours = Sunday 10:00 CET (09:00 UTC).
    saturday = madrid(2024, 10, 26, 17, 0)
    due = add_business_minutes(saturday, 120, EVERY_DAY)
    assert due == madrid(2024, 10, 27, 10, 0)
    assert due == utc(2024, 10, 27, 9, 0)
    assert business_minutes_between(saturday, due, EVERY_DAY) == 120


def test_weekday_calendar_across_the_spring_weekend() -> None:
    # Friday 29 March 17:00 CET + 2h → Monday 1 April 10:00 CEST.
    due = add_business_minutes(madrid(2024, 3, 29, 17, 0), 120, CAL)
    assert due == utc(2024, 4, 1, 8, 0)
    assert (
        business_minutes_between(madrid(2024, 3, 29, 9, 0), madrid(2024, 4, 2, 9, 0), CAL)
        == 2 * 540
    )


def test_working_hours_inside_the_skipped_spring_hour_never_count_negative_time() -> None:
    # 02:50–03:10 on 31 March starts in the hour that does not exist; it must add nothing
    # rather than subtract (its ends converted to UTC are in the wrong order).
    night = BusinessCalendar(
        tz=MADRID, weekdays=frozenset(range(1, 8)), starts=time(2, 50), ends=time(3, 10)
    )
    start = madrid(2024, 3, 30, 12, 0)
    assert business_minutes_between(start, madrid(2024, 4, 1, 12, 0), night) == 20
    assert add_business_minutes(start, 10, night) == madrid(2024, 4, 1, 3, 0)


# --- calendars that cannot work ------------------------------------------------------


@pytest.mark.parametrize(
    "calendar",
    [
        BusinessCalendar(tz=MADRID, weekdays=frozenset()),
        BusinessCalendar(tz=MADRID, weekdays=frozenset({0, 8})),
        BusinessCalendar(tz=MADRID, starts=time(18, 0), ends=time(9, 0)),
        BusinessCalendar(tz=MADRID, starts=time(9, 0), ends=time(9, 0)),
    ],
    ids=["no-days", "invalid-days", "ends-before-start", "zero-length-day"],
)
def test_calendar_without_working_time_raises_a_clear_error_fast(
    calendar: BusinessCalendar,
) -> None:
    began = wallclock.monotonic()
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(madrid(2024, 6, 3, 10, 0), 60, calendar)
    with pytest.raises(ValueError, match="no working time"):
        business_minutes_between(madrid(2024, 6, 3, 10, 0), madrid(2024, 6, 10, 10, 0), calendar)
    assert wallclock.monotonic() - began < 1.0


def test_calendar_whose_every_day_is_a_holiday_gives_up_with_an_error() -> None:
    start = date(2024, 6, 3)
    holidays = frozenset(start + timedelta(days=i) for i in range(sla.MAX_DAYS + 7))
    cal = BusinessCalendar(tz=MADRID, holidays=holidays)
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(madrid(2024, 6, 3, 10, 0), 60, cal)


# --- properties -----------------------------------------------------------------------

ZONES = ["Europe/Madrid", "America/New_York", "UTC", "Asia/Kolkata", "Australia/Lord_Howe"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    weekdays = draw(st.frozensets(st.integers(1, 7), min_size=1))
    # At least an hour a week, so the largest target below fits well inside MAX_DAYS.
    start_minute = draw(st.integers(0, 22 * 60))
    end_minute = draw(st.integers(start_minute + 60, 23 * 60 + 59))
    holidays = draw(st.frozensets(st.dates(date(2024, 1, 1), date(2026, 12, 31)), max_size=30))
    return BusinessCalendar(
        tz=zoneinfo.ZoneInfo(draw(st.sampled_from(ZONES))),
        weekdays=weekdays,
        starts=time(start_minute // 60, start_minute % 60),
        ends=time(end_minute // 60, end_minute % 60),
        holidays=holidays,
    )


moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@st.composite
def moments_inside_working_hours(draw: st.DrawFn, calendar: BusinessCalendar) -> datetime:
    moment = draw(moments)
    window_start, window_end = next(calendar.windows_from(moment))
    span = int((window_end - window_start).total_seconds())
    return window_start + timedelta(seconds=draw(st.integers(0, span - 1)))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), calendar=calendars(), minutes=st.integers(0, 10_000))
def test_between_inverts_add_from_inside_working_hours(
    data: st.DataObject, calendar: BusinessCalendar, minutes: int
) -> None:
    start = data.draw(moments_inside_working_hours(calendar))
    assert (
        business_minutes_between(start, add_business_minutes(start, minutes, calendar), calendar)
        == minutes
    )


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), start=moments, minutes=st.integers(0, 10_000))
def test_between_inverts_add_from_any_moment(
    calendar: BusinessCalendar, start: datetime, minutes: int
) -> None:
    due = add_business_minutes(start, minutes, calendar)
    assert due >= start
    assert business_minutes_between(start, due, calendar) == minutes


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), start=moments, a=st.integers(0, 20_000), b=st.integers(0, 20_000))
def test_add_is_monotonic_in_minutes(
    calendar: BusinessCalendar, start: datetime, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    first, second = (
        add_business_minutes(start, low, calendar),
        add_business_minutes(start, high, calendar),
    )
    assert first <= second
    if low < high:
        assert first < second
        # Adding in two steps lands where adding at once does: pauses rely on this.
        # (Zero minutes from a closing time is the next opening, hence low < high.)
        assert add_business_minutes(first, high - low, calendar) == second


# --- ticket clocks --------------------------------------------------------------------


def set_status(world, ticket: Ticket, status: str, at: datetime) -> None:
    services.change_status(ticket, actor=world.tech, status=status, now=at)


def policy(priority: str) -> SlaPolicy:
    return SlaPolicy.objects.get(priority=priority)


def new_ticket(world, *, at: datetime, priority: str = Priority.NORMAL, client=None) -> Ticket:
    return services.create_ticket(
        actor=world.tech,
        client=client or world.client_a,
        subject="Clock test",
        priority=priority,
        now=at,
    )


def test_targets_come_from_the_priority_policy(world) -> None:
    created = madrid(2024, 6, 3, 9, 0)
    ticket = new_ticket(world, at=created)
    normal = policy(Priority.NORMAL)
    assert ticket.first_response_due_at == add_business_minutes(
        created, normal.first_response_minutes, CAL
    )
    assert ticket.resolution_due_at == add_business_minutes(created, normal.resolution_minutes, CAL)
    assert ticket.first_response_due_at == madrid(2024, 6, 3, 13, 0)
    assert ticket.resolution_due_at == madrid(2024, 6, 5, 18, 0)  # 27 business hours


def test_ticket_created_on_a_saturday_night_counts_from_monday_morning(world) -> None:
    with time_machine.travel(madrid(2024, 6, 8, 23, 30), tick=False):
        ticket = services.create_ticket(
            actor=world.tech, client=world.client_a, subject="Weekend call"
        )
    assert ticket.created_at == madrid(2024, 6, 8, 23, 30)
    assert ticket.first_response_due_at == madrid(2024, 6, 10, 13, 0)


def test_client_holidays_move_the_deadline(world) -> None:
    Holiday.objects.create(client=world.client_a, date=date(2024, 6, 3), name="Fiesta local")
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 10, 0))
    assert ticket.first_response_due_at == madrid(2024, 6, 4, 13, 0)


def test_client_zone_decides_the_deadline(world) -> None:
    world.client_b.time_zone = "America/New_York"
    world.client_b.save(update_fields=["time_zone"])
    moment = utc(2024, 6, 3, 14, 0)
    in_madrid = new_ticket(world, at=moment, client=world.client_a)
    in_new_york = new_ticket(world, at=moment, client=world.client_b)
    assert in_new_york.first_response_due_at == utc(2024, 6, 3, 18, 0)  # 14:00 EDT
    assert in_madrid.first_response_due_at == utc(2024, 6, 4, 9, 0)  # Tuesday 11:00 CEST


def test_waiting_on_client_pauses_and_resume_moves_due_times_by_paused_business_minutes(
    world,
) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    first_due, resolution_due = ticket.first_response_due_at, ticket.resolution_due_at

    set_status(world, ticket, Status.WAITING_CLIENT, madrid(2024, 6, 3, 10, 0))
    ticket.refresh_from_db()
    assert ticket.sla_paused_at == madrid(2024, 6, 3, 10, 0)
    assert ticket.sla_state(madrid(2024, 6, 3, 11, 0)) == "paused"
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (first_due, resolution_due)

    set_status(world, ticket, Status.OPEN, madrid(2024, 6, 4, 10, 0))
    ticket.refresh_from_db()
    paused = 8 * 60 + 60  # Monday 10–18 and Tuesday 9–10
    assert ticket.sla_paused_at is None
    assert ticket.sla_paused_minutes == paused
    assert ticket.first_response_due_at == add_business_minutes(first_due, paused, CAL)
    assert ticket.resolution_due_at == add_business_minutes(resolution_due, paused, CAL)
    assert ticket.first_response_due_at == madrid(2024, 6, 4, 13, 0)


def test_pauses_accumulate_and_nights_and_weekends_do_not_count(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    first_due = ticket.first_response_due_at
    # Friday 17:00 → Monday 10:00 is two business hours; Monday 11:00 → 11:30 another half.
    for pause, resume in [
        (madrid(2024, 6, 7, 17, 0), madrid(2024, 6, 10, 10, 0)),
        (madrid(2024, 6, 10, 11, 0), madrid(2024, 6, 10, 11, 30)),
    ]:
        set_status(world, ticket, Status.WAITING_CLIENT, pause)
        set_status(world, ticket, Status.OPEN, resume)
    ticket.refresh_from_db()
    assert ticket.sla_paused_minutes == 150
    assert ticket.first_response_due_at == add_business_minutes(first_due, 150, CAL)


def test_waiting_on_a_third_party_does_not_pause(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    due = ticket.first_response_due_at
    set_status(world, ticket, Status.WAITING_THIRD_PARTY, madrid(2024, 6, 3, 10, 0))
    set_status(world, ticket, Status.OPEN, madrid(2024, 6, 4, 10, 0))
    ticket.refresh_from_db()
    assert ticket.sla_paused_minutes == 0
    assert ticket.first_response_due_at == due


def test_clients_portal_reply_resumes_the_clock(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    due = ticket.first_response_due_at
    set_status(world, ticket, Status.WAITING_CLIENT, madrid(2024, 6, 3, 10, 0))
    ticket = Ticket.objects.get(pk=ticket.pk)
    services.add_reply(
        ticket,
        actor=world.portal_a,
        body="Here is the log you asked for",
        now=madrid(2024, 6, 3, 12, 0),
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.sla_paused_at is None
    assert ticket.sla_paused_minutes == 120
    assert ticket.first_response_due_at == add_business_minutes(due, 120, CAL)


def test_resolving_while_waiting_on_client_closes_the_pause(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    set_status(world, ticket, Status.WAITING_CLIENT, madrid(2024, 6, 3, 10, 0))
    set_status(world, ticket, Status.RESOLVED, madrid(2024, 6, 3, 11, 0))
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is None
    assert ticket.sla_paused_minutes == 60
    assert ticket.resolved_at == madrid(2024, 6, 3, 11, 0)


def test_priority_change_recomputes_due_times_from_creation_including_pauses(world) -> None:
    created = madrid(2024, 6, 3, 9, 0)
    ticket = new_ticket(world, at=created)
    set_status(world, ticket, Status.WAITING_CLIENT, madrid(2024, 6, 3, 9, 10))
    set_status(world, ticket, Status.OPEN, madrid(2024, 6, 3, 9, 20))
    services.change_priority(
        ticket, actor=world.tech, priority=Priority.URGENT, now=madrid(2024, 6, 3, 9, 30)
    )
    ticket.refresh_from_db()
    urgent = policy(Priority.URGENT)
    assert ticket.first_response_due_at == add_business_minutes(
        created, urgent.first_response_minutes + 10, CAL
    )
    assert ticket.first_response_due_at == madrid(2024, 6, 3, 9, 40)
    assert ticket.resolution_due_at == add_business_minutes(
        created, urgent.resolution_minutes + 10, CAL
    )

    services.change_priority(
        ticket, actor=world.tech, priority=Priority.LOW, now=madrid(2024, 6, 3, 9, 45)
    )
    ticket.refresh_from_db()
    low = policy(Priority.LOW)
    assert ticket.first_response_due_at == add_business_minutes(
        created, low.first_response_minutes + 10, CAL
    )


def test_ticket_across_the_spring_dst_weekend(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 3, 29, 16, 0), priority=Priority.URGENT)  # 30 min
    assert ticket.first_response_due_at == madrid(2024, 3, 29, 16, 30)
    ticket = new_ticket(world, at=madrid(2024, 3, 29, 17, 0))  # normal: 4 business hours
    assert ticket.first_response_due_at == madrid(2024, 4, 1, 12, 0)
    assert ticket.first_response_due_at == utc(2024, 4, 1, 10, 0)


# --- states ---------------------------------------------------------------------------


def test_states_move_from_ok_to_due_soon_to_breached(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))  # first response due 13:00
    assert ticket.sla_state(madrid(2024, 6, 3, 11, 59)) == "ok"
    assert ticket.sla_state(madrid(2024, 6, 3, 12, 0)) == "due_soon"
    assert ticket.sla_state(madrid(2024, 6, 3, 13, 0)) == "due_soon"
    assert ticket.sla_state(madrid(2024, 6, 3, 13, 1)) == "breached"


def test_sla_state_defaults_to_the_current_time(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    with time_machine.travel(madrid(2024, 6, 3, 10, 0), tick=False):
        assert ticket.sla_state() == "ok"
    with time_machine.travel(madrid(2024, 6, 3, 12, 30), tick=False):
        assert ticket.sla_state() == "due_soon"
    with time_machine.travel(madrid(2024, 6, 4, 9, 0), tick=False):
        assert ticket.sla_state() == "breached"


def test_after_the_first_response_the_resolution_clock_counts(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    services.add_reply(
        ticket, actor=world.tech, body="Looking into it", now=madrid(2024, 6, 3, 9, 30)
    )
    ticket.refresh_from_db()
    assert ticket.first_responded_at == madrid(2024, 6, 3, 9, 30)
    assert ticket.sla_state(madrid(2024, 6, 3, 14, 0)) == "ok"  # first-response due has passed
    assert ticket.sla_state(madrid(2024, 6, 5, 17, 30)) == "due_soon"
    assert ticket.sla_state(madrid(2024, 6, 6, 9, 0)) == "breached"


def test_a_late_first_reply_does_not_erase_the_breach_of_resolution(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    services.add_reply(
        ticket, actor=world.tech, body="Sorry for the wait", now=madrid(2024, 6, 7, 9, 0)
    )
    ticket.refresh_from_db()
    assert ticket.sla_state(madrid(2024, 6, 7, 9, 1)) == "breached"


def test_resolved_tickets_are_judged_by_when_they_were_resolved(world) -> None:
    on_time = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    services.add_reply(on_time, actor=world.tech, body="Done", now=madrid(2024, 6, 3, 9, 5))
    set_status(world, on_time, Status.RESOLVED, madrid(2024, 6, 3, 10, 0))
    late = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    services.add_reply(late, actor=world.tech, body="Done", now=madrid(2024, 6, 3, 9, 5))
    set_status(world, late, Status.RESOLVED, madrid(2024, 6, 10, 10, 0))
    far_future = madrid(2030, 1, 1, 9, 0)
    assert on_time.sla_state(far_future) == "ok"
    assert late.sla_state(far_future) == "breached"


def test_paused_ticket_shows_paused_unless_it_was_already_breached(world) -> None:
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    set_status(world, ticket, Status.WAITING_CLIENT, madrid(2024, 6, 3, 9, 30))
    assert ticket.sla_state(madrid(2024, 7, 1, 9, 0)) == "paused"
    late = new_ticket(world, at=madrid(2024, 6, 3, 9, 0))
    set_status(world, late, Status.WAITING_CLIENT, madrid(2024, 6, 3, 14, 0))
    assert late.sla_state(madrid(2024, 6, 3, 14, 1)) == "breached"


def test_without_a_policy_there_is_no_clock(world) -> None:
    SlaPolicy.objects.filter(priority=Priority.LOW).delete()
    ticket = new_ticket(world, at=madrid(2024, 6, 3, 9, 0), priority=Priority.LOW)
    assert ticket.first_response_due_at is None
    assert ticket.resolution_due_at is None
    assert ticket.sla_state(madrid(2030, 1, 1)) == "none"

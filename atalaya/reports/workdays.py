"""When the monthly run happens: the MSP's first working day of the month.

The MSP works on ISO weekdays ``REPORTS_MSP_WORKING_DAYS`` (default Monday to Friday)
and is closed on Spain's national holidays (Good Friday included; the same computus
the demo's client calendars use), so a month that starts on a Saturday, or on New
Year's Day, sends its reports on the Monday or the 2nd.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings

from atalaya.core.holidays import spanish_national_holidays


def msp_working_days() -> frozenset[int]:
    """The MSP's ISO weekdays (1 = Monday … 7 = Sunday), Monday to Friday unless set."""
    value = str(getattr(settings, "REPORTS_MSP_WORKING_DAYS", "12345"))
    days = frozenset(int(c) for c in value if c in "1234567")
    return days or frozenset({1, 2, 3, 4, 5})


def is_working_day(day: date, weekdays: frozenset[int] | None = None) -> bool:
    weekdays = weekdays if weekdays is not None else msp_working_days()
    holidays = {d for d, _name in spanish_national_holidays(day.year)}
    return day.isoweekday() in weekdays and day not in holidays


def first_working_day(year: int, month: int, weekdays: frozenset[int] | None = None) -> date:
    """The first day of ``month`` that is a working day for the MSP."""
    day = date(year, month, 1)
    # A month always has a working day within its first two weeks (no run of holidays
    # and weekends is that long), but never loop for ever on a strange setting.
    for _ in range(31):
        if is_working_day(day, weekdays):
            return day
        day += timedelta(days=1)
    return date(year, month, 1)


def previous_month(day: date) -> tuple[int, int]:
    """(year, month) of the month before the one ``day`` is in."""
    first = day.replace(day=1) - timedelta(days=1)
    return first.year, first.month

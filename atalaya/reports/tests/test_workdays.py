"""The monthly run's day: the MSP's first working day, past weekends and Spain's holidays."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from atalaya.reports import services
from atalaya.reports.models import MonthlyReport, ReportStatus
from atalaya.reports.workdays import first_working_day, previous_month


def test_first_working_day_skips_weekends_and_holidays(settings: Any) -> None:
    assert first_working_day(2026, 8) == date(2026, 8, 3)  # 1 Aug 2026 is a Saturday
    assert first_working_day(2026, 1) == date(2026, 1, 2)  # New Year's Day, a Thursday
    assert first_working_day(2027, 1) == date(2027, 1, 4)  # Fri 1st a holiday, then the weekend
    assert first_working_day(2026, 5) == date(2026, 5, 4)  # Fri 1 May a holiday, then weekend
    assert first_working_day(2026, 12) == date(2026, 12, 1)  # an ordinary Tuesday
    settings.REPORTS_MSP_WORKING_DAYS = "123456"  # an MSP open on Saturdays
    assert first_working_day(2026, 8) == date(2026, 8, 1)
    assert previous_month(date(2026, 1, 2)) == (2025, 12)


@pytest.mark.django_db
def test_the_run_proposes_last_months_reports_on_that_day_only(world: Any) -> None:
    # 1 August 2026 is a Saturday: nothing then; Monday the 3rd proposes July's reports.
    assert services.monthly_run(today=date(2026, 8, 1)).ran is False
    assert MonthlyReport.objects.count() == 0
    result = services.monthly_run(today=date(2026, 8, 3))
    assert result.ran and (result.year, result.month) == (2026, 7) and result.generated == 2
    assert set(MonthlyReport.objects.values_list("status", flat=True)) == {ReportStatus.PROPOSED}
    # Run again the same day (a restarted worker): nothing new, nothing mailed.
    again = services.monthly_run(today=date(2026, 8, 3))
    assert again.generated == 0 and again.existing == 2
    assert MonthlyReport.objects.count() == 2

"""monthly_figures on a hand-built month: exact numbers, month bounds in the client's zone,
a constant number of queries, and a snapshot that survives JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaya.reports.figures import QUERIES_PER_CLIENT, MonthlyFigures, monthly_figures
from atalaya.reports.tests.month import MONTH, YEAR, build_march, z


@pytest.fixture
def march(world: Any) -> Any:
    build_march(world)
    return world


def test_the_figures_of_a_hand_built_month(march: Any) -> None:
    f = monthly_figures(march.client_a, YEAR, MONTH, now=z(2026, 4, 2))
    assert f.starts_at == "2026-02-28T23:00:00+00:00" and f.ends_at == "2026-03-31T22:00:00+00:00"
    # T1, T2 and T3 (23:30 local on the 31st); not T4 (00:30 local on 1 April).
    assert f.tickets_opened == 3
    assert f.tickets_closed == 2  # T1, and T5 opened in February
    assert len(f.opened_per_day) == 31
    assert f.opened_per_day[1] == 1 and f.opened_per_day[9] == 1 and f.opened_per_day[30] == 1
    assert sum(f.opened_per_day) == 3
    by_name = {c.key: (c.opened, c.closed) for c in f.categories}
    assert sorted(by_name.values()) == [(0, 1), (1, 0), (2, 1)]
    assert (f.first_response_met, f.first_response_missed) == (1, 1)
    assert (f.resolution_met, f.resolution_missed) == (1, 2)
    assert f.first_response_pct == 50.0 and f.resolution_pct == pytest.approx(33.3)
    assert f.responses_measured == 2
    assert f.median_first_response_min == 120.0 and f.p90_first_response_min == 168.0

    assert f.devices_monitored == 2
    availability = {d.name: d.availability_pct for d in f.devices}
    assert availability == {"alfa-pc1": round(100 * 2872 / 2972, 2), "alfa-pc2": 100.0}
    assert f.availability_pct == round(100 * 4400 / 4500, 2)
    assert f.alerts_by_severity == {"critical": 1, "warning": 2, "info": 0}

    assert (f.findings_new, f.findings_closed, f.findings_open) == (1, 1, 2)
    # Two active devices need antivirus and backup, the one user MFA: nothing proven.
    assert (f.coverage_required, f.coverage_covered, f.coverage_percent) == (5, 0, 0)
    assert [(x.title, x.revert_by, x.is_overdue) for x in f.open_fixes] == [
        ("RDP opened", "2026-03-20", True),
        ("MFA off", "2026-04-30", False),
    ]
    assert [(i.issue_date, i.total) for i in f.invoices] == [("2026-03-10", "121.00")]
    assert f.invoiced_total == "121.00"
    # February's and March's invoices, less February's payment; April's is not yet owed.
    assert f.open_balance == "121.00"


def test_a_constant_number_of_queries_and_a_json_snapshot(march: Any, world: Any) -> None:
    with CaptureQueriesContext(connection) as busy:
        figures = monthly_figures(march.client_a, YEAR, MONTH, now=z(2026, 4, 2))
    with CaptureQueriesContext(connection) as quiet:
        empty = monthly_figures(world.client_b, YEAR, MONTH, now=z(2026, 4, 2))
    # A client with data costs no more than one without (the category names at most).
    assert len(busy) == QUERIES_PER_CLIENT
    assert len(quiet) <= QUERIES_PER_CLIENT
    assert empty.tickets_opened == 0 and empty.availability_pct is None
    again = MonthlyFigures.from_dict(json.loads(figures.to_json()))
    assert again == figures


def test_a_bad_month_is_refused(world: Any) -> None:
    with pytest.raises(ValueError, match="month"):
        monthly_figures(world.client_a, 2026, 13)

"""Client A's monthly report for the isolation test (approved, so A's portal user sees it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _a_report_of_a(a: Any) -> Any:
    from atalaya.reports import services
    from atalaya.reports.models import MonthlyReport

    if "report" in a.extra:
        return a.extra["report"]
    found = MonthlyReport.objects.filter(client=a.world.client_a).first()
    if found is None:
        found = services.generate_report(actor=None, client=a.world.client_a, year=2026, month=3)
        services.approve_report(actor=None, report=found)
    a.extra["report"] = found
    return found


SAMPLES: dict[str, Callable[[Any], Any]] = {
    "report_id": lambda a: _a_report_of_a(a).public_id,
}

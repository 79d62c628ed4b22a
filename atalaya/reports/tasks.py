"""Background jobs of reports, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.reports import services


@db_periodic_task(crontab(hour="6", minute="15"))
def propose_monthly_reports() -> dict[str, Any]:
    """Daily; on the MSP's first working day of a month it proposes last month's reports
    (any other day it does nothing, and a repeat on that day adds nothing)."""
    return asdict(services.monthly_run())

"""Background jobs of security, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.security.fixes import reminders


@db_periodic_task(crontab(minute="7"))
def remind_temporary_fixes() -> dict[str, Any]:
    """Hourly, so each client's day boundary is met soon after it passes: reminders of
    revert-by dates and escalation of overdue fixes (each sent once, see reminders)."""
    return asdict(reminders.send_due_reminders())


from atalaya.security import (  # noqa: E402  (registers their periodic tasks)
    tasks_awareness,  # noqa: F401  (awareness tips)
    tasks_scans,  # noqa: F401  (network scans)
)

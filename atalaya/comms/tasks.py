"""Background jobs of client communications, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.comms import services


@db_periodic_task(crontab(minute="*"))
def send_due_announcements() -> int:
    """Every minute: send the scheduled announcements whose time has come.

    Also picks up a send whose worker died half-way (its claim went stale); the
    idempotency keys make that re-run add only the mails still missing.
    """
    return services.send_due_announcements()

"""Background jobs of the help desk, run by the huey consumer (``atalaya serve`` starts it).

No job refreshes SLA flags: "due soon" and "breached" are computed when a ticket is
read, from the due times the services store, so they are never stale.
"""

from __future__ import annotations

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.tickets import services


@db_periodic_task(crontab(minute="7"))
def auto_close_resolved_tickets() -> int:
    """Hourly: close tickets resolved ATALAYA_AUTOCLOSE_DAYS ago that the client did not reopen.

    Returns how many it closed. A backlog larger than one run's limit is worked off by
    the following runs.
    """
    return services.close_stale_resolved_tickets(days=settings.TICKET_AUTOCLOSE_DAYS)

"""Background jobs of billing, run by the huey consumer (``atalaya serve`` starts it).

The recurring run drafts every day; issuing the drafts stays a person's decision (the
run page). Drafting is idempotent, so a missed or repeated day does no harm.
"""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.billing.services import agreements
from atalaya.billing.tasks_quotes import expire_quotes  # noqa: F401 - huey registers tasks.py only

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="5", minute="17"))
def draft_recurring_invoices(as_of: date | None = None) -> int:
    """Daily: draft the next period of every agreement that is due; how many drafted."""
    drafted = agreements.draft_due_invoices(actor=None, as_of=as_of or timezone.localdate())
    if drafted:
        logger.info("recurring run drafted %d invoices for review", len(drafted))
    return len(drafted)


@db_periodic_task(crontab(hour="6", minute="7"))
def finalize_direct_debits(today: date | None = None) -> int:
    """Daily: direct debits past their 8-week refund window become final (each moved by
    compare-and-set, so a repeated or parallel run does no harm); how many."""
    from atalaya.billing.services import collections

    moved = collections.finalize_due(today=today or timezone.localdate())
    if moved:
        logger.info("%d direct debits are final", moved)
    return moved

"""The quotes' periodic job: sent quotes past their last valid day become expired.

Huey discovers ``billing.tasks``; that module imports this one so the job is registered.
"""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.billing.services import quotes

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="0", minute="23"))
def expire_quotes(today: date | None = None) -> int:
    """Daily, just after midnight: expire the sent quotes no longer valid (each by
    compare-and-set, so a repeated or parallel run does no harm); how many."""
    expired = quotes.expire_due(today=today or timezone.localdate())
    if expired:
        logger.info("%d quotes expired", expired)
    return expired

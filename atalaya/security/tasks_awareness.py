"""Awareness's background job: send due campaign tips through the outbox."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.security import awareness


@db_periodic_task(crontab(minute="*/15"))
def send_awareness_tips() -> int:
    """Every 15 minutes: each due campaign step, once (see awareness.send_due)."""
    return awareness.send_due()

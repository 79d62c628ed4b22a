"""Periodic job of remote actions: expire what waited too long.

Huey discovers ``tasks`` modules only; ``atalaya.monitoring.tasks`` imports this one.
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.monitoring import actions


@db_periodic_task(crontab(minute="*"))
def expire_remote_actions() -> int:
    """Every minute: queued or sent actions past their expiry become expired (audited)."""
    return actions.expire_actions()

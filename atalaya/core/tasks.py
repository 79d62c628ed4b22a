"""Background jobs of the core app, run by the huey consumer (``atalaya serve`` starts it).

Periodic schedules are in UTC, huey's default.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from atalaya.core.demo.fleet import simulate_checkins


@db_periodic_task(crontab(hour="3", minute="17"))
def clear_expired_sessions() -> None:
    """Nightly: delete expired sign-in sessions, which Django never removes by itself.

    With the database session store every visit that signs in leaves a row; without
    this job the table only grows.
    """
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()


@db_periodic_task(crontab(minute="*"))
def simulate_demo_fleet() -> int:
    """Every minute with ``ATALAYA_DEMO_FLEET`` on: the demo's devices check in.

    ``make run`` turns it on, so the demo's devices stay online as if their agents ran
    (core/demo/fleet.py); off by default, and nothing to do where no demo is loaded.
    """
    if not settings.DEMO_FLEET:
        return 0
    return simulate_checkins()

"""Background jobs of monitoring, run by the huey consumer (``atalaya serve``).

The status sweep must run every ~10 s (a stopped agent's offline alert within 150 s
of its last check-in), but huey's periodic tasks fire once a minute. So the
per-minute task runs one sweep now and schedules five one-shot sweeps 10, 20 … 50 s
later; the consumer's scheduler starts scheduled tasks to the second. A sweep that
finds the previous one still running in this worker skips instead of piling up (a
process-local lock, not huey's stored lock: a worker killed while holding a stored
lock would leave it behind and silence every later sweep). No chain re-schedules
itself, so a lost or duplicated task never multiplies sweeps, and after a restart
the next minute starts the fan-out again. Sweeps of several consumers overlapping
are harmless: the sweep's UPDATE … RETURNING and the alerts' unique constraints see
to that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from atalaya.monitoring import evaluate, forecast, retention, status

logger = logging.getLogger(__name__)

EVALUATED_UNTIL_KEY = "monitoring:evaluated_until"
# Without a stored cursor (first run, job store wiped) look back this far; devices
# already evaluated for their latest check-in are skipped, so overlap is harmless.
EVALUATE_LOOKBACK = timedelta(minutes=5)


_SWEEPING = threading.Lock()
_EVALUATING = threading.Lock()


@contextmanager
def _alone(lock: threading.Lock) -> Iterator[bool]:
    """True if this thread got the lock (and holds it for the block), False if busy."""
    got = lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


def _run_alone(lock: threading.Lock, job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    with _alone(lock) as got:
        return job() if got else {"busy": "the previous run is still going"}


def _sweep_once() -> dict[str, Any]:
    return _run_alone(_SWEEPING, lambda: status.sweep().as_dict())


@db_task()
def sweep_statuses() -> dict[str, Any]:
    """One status sweep (scheduled by the per-minute fan-out below)."""
    return _sweep_once()


@db_periodic_task(crontab(minute="*"))
def sweep_statuses_every_minute() -> dict[str, Any]:
    """Every minute: a sweep now and five more at 10 s steps (see the module's note)."""
    step = status.SWEEP_EVERY_S
    for delay in range(step, 60, step):
        sweep_statuses.schedule(delay=delay)
    return _sweep_once()


def _evaluated_until() -> datetime | None:
    raw = HUEY.get(EVALUATED_UNTIL_KEY, peek=True)
    if not raw:
        return timezone.now() - EVALUATE_LOOKBACK
    try:
        return datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return timezone.now() - EVALUATE_LOOKBACK


@db_periodic_task(crontab(minute="*"))
def evaluate_checks() -> dict[str, Any]:
    """Every minute: evaluate the checks of every device seen since the last run."""

    def job() -> dict[str, Any]:
        report = evaluate.evaluate_since(_evaluated_until())
        if report.until is not None:
            HUEY.put(EVALUATED_UNTIL_KEY, report.until.isoformat())
        return report.as_dict()

    return _run_alone(_EVALUATING, job)


@db_periodic_task(crontab(minute="2,17,32,47"))
def roll_up_metrics() -> dict[str, Any]:
    """Every 15 minutes, just after a bucket completes: roll raw samples into rollups."""
    return retention.rollup().as_dict()


@db_periodic_task(crontab(minute="5,20,35,50"))
def recompute_forecasts() -> dict[str, Any]:
    """Every 15 minutes, after the rollups: refit every volume's disk-full forecast."""
    return forecast.recompute_forecasts().as_dict()


@db_periodic_task(crontab(minute="41"))
def apply_metric_retention() -> dict[str, Any]:
    """Hourly: drop raw samples and rollups past their retention, in bounded batches."""
    return retention.apply_retention().as_dict()


# Huey discovers modules named ``tasks`` only: the remote-action jobs live apart.
from atalaya.monitoring import tasks_actions  # noqa: E402, F401

"""Background jobs of network scans: due schedules, pending results, expired acceptances."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from atalaya.monitoring.models import ActionStatus
from atalaya.security.models import ScanRun, ScanSource, ScanStatus
from atalaya.security.scans import findings, ingest, schedule


@db_task()
def process_scan_task(scan_id: int) -> None:
    """Compare one stored agent result (queued by the check-in writer)."""
    scan = ScanRun.objects.filter(pk=scan_id).first()
    if scan is not None:
        ingest.process_scan(scan)


def process_pending(limit: int = 100) -> int:
    """Results stored but not processed (a queue that was down, a crashed worker)."""
    ids = list(
        ScanRun.objects.filter(processed_at__isnull=True, result__isnull=False).values_list(
            "pk", flat=True
        )[:limit]
    )
    for pk in ids:
        ingest.process_scan(ScanRun(pk=pk))
    return len(ids)


def fail_abandoned(now: datetime | None = None) -> int:
    """Queued scans whose action expired or was cancelled (or whose result never came
    although it should have by the action's expiry) are failed, not left queued."""
    now = now or timezone.now()
    abandoned = ScanRun.objects.filter(status=ScanStatus.QUEUED, result__isnull=True).filter(
        Q(action__status__in=(ActionStatus.EXPIRED, ActionStatus.CANCELLED))
        | Q(action__expires_at__lt=now - timedelta(hours=1))
        | Q(action__isnull=True, source=ScanSource.AGENT)
    )
    return abandoned.update(
        status=ScanStatus.FAILED, error="the agent did not run the scan", processed_at=now
    )


@db_periodic_task(crontab(minute="*/5"))
def scans_periodic() -> dict[str, Any]:
    """Every 5 minutes: queue due scans, process pending results, expire acceptances,
    fail scans their agent never ran."""
    return {
        "queued": schedule.queue_due_scans(),
        "processed": process_pending(),
        "expired": findings.expire_acceptances(),
        "abandoned": fail_abandoned(),
    }

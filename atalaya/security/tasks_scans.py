"""Background jobs of network scans: due schedules, pending results, expired acceptances."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from atalaya.security.models import ScanRun
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


@db_periodic_task(crontab(minute="*/5"))
def scans_periodic() -> dict[str, Any]:
    """Every 5 minutes: queue due scans, process pending results, expire acceptances."""
    return {
        "queued": schedule.queue_due_scans(),
        "processed": process_pending(),
        "expired": findings.expire_acceptances(),
    }

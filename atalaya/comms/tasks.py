"""Background jobs of client communications, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from atalaya.comms import services


@db_periodic_task(crontab(minute="*"))
def send_due_announcements() -> int:
    """Every minute: send the scheduled announcements whose time has come.

    Also picks up a send whose worker died half-way (its claim went stale); the
    idempotency keys make that re-run add only the mails still missing.
    """
    return services.send_due_announcements()


# --- Outbound webhooks (comms/webhooks/outbox.py) ----------------------------------------


@db_task()
def deliver_webhooks() -> dict[str, Any]:
    """POST the due webhook deliveries now: started after each commit that emitted events."""
    from atalaya.comms.webhooks import outbox

    return outbox.deliver_due().as_dict()


@db_periodic_task(crontab(minute="*"))
def deliver_webhooks_every_minute() -> dict[str, Any]:
    """The safety net: events whose start was lost, retries whose backoff ran out, stale
    claims of a worker that died."""
    from atalaya.comms.webhooks import outbox

    return outbox.deliver_due().as_dict()

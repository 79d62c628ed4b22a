"""Background jobs of the mail channel, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

# --- Outgoing mail (mail/outbox.py, mail/notify.py) -------------------------------------


def _deliver() -> dict[str, Any]:
    from atalaya.mail import outbox, smtp

    try:
        return outbox.deliver_due().as_dict()
    except smtp.SmtpUrlError as error:
        # A setting to fix, not a crash to retry: the mail stays queued meanwhile.
        logging.getLogger(__name__).error("mail not sent: %s", error)
        return {"configured": False, "error": str(error)}


@db_task()
def deliver_outbox() -> dict[str, Any]:
    """Send the outbox's due mail now: started after each commit that queued mail."""
    return _deliver()


@db_periodic_task(crontab(minute="*"))
def deliver_outbox_every_minute() -> dict[str, Any]:
    """The safety net: mail whose start was lost, retries whose backoff ran out, stale claims."""
    return _deliver()


@db_periodic_task(crontab(minute="*/5"))
def warn_sla_due_soon() -> int:
    """Every 5 minutes: tell technicians of SLA clocks due soon (once per clock and due time)."""
    from atalaya.mail import notify

    return notify.notify_sla_due_soon()


# --- Fetching over IMAP (mail/imap.py) ---------------------------------------------------


@db_periodic_task(crontab(minute="*"))
def fetch_mailboxes_every_minute() -> list[dict[str, Any]]:
    """Every minute: fetch the active IMAP mailboxes, each at most DEFAULT_LIMIT messages.

    Each mailbox is claimed by compare-and-set for its run (imap.fetch_mailbox), so two
    workers, or a worker and ``atalaya mail fetch``, never fetch one mailbox at once: the
    second finds it claimed and skips it.
    """
    from atalaya.mail import imap

    return [report.as_dict() for report in imap.fetch_all()]

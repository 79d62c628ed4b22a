"""Background jobs of the mail channel, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

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

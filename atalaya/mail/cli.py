"""What ``atalaya mail …`` does; the management command only parses the arguments.

Each function gets the command (for its stdout and style) and the parsed options.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


def ingest(command: BaseCommand, **options: Any) -> None:
    """Read one message on standard input into the pipeline (mail/inbound.py)."""
    raise NotImplementedError


def fetch(command: BaseCommand, **options: Any) -> None:
    """Poll the IMAP mailboxes once (mail/imap.py)."""
    raise NotImplementedError


def deliver(command: BaseCommand, **options: Any) -> None:
    """Send the outbox's due mail once (mail/outbox.py)."""
    raise NotImplementedError

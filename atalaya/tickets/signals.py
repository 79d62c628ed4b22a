"""Signals the ticket services send inside their transaction, so other apps can follow.

The mail channel queues its notifications from these (mail/notify.py): the outbox row
is written in the same transaction as the change, as DESIGN.md asks. Every signal
carries ``ticket``, ``event`` (the timeline event written) and ``actor`` (a User or
None for Atalaya itself).
"""

from __future__ import annotations

from django.dispatch import Signal

# A public reply written by MSP staff (not a client's message, not an internal note).
staff_replied = Signal()
# The ticket moved to resolved.
ticket_resolved = Signal()
# The ticket was given to a technician (``assignee``), never sent for unassigning.
ticket_assigned = Signal()

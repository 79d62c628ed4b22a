"""Claiming queued rows by compare-and-set: the one step every outbox worker shares.

A row is queued (``status`` = queued, due at ``next_attempt_at``), then taken by one
worker (``status`` = sending, ``claimed_at`` = now) and finished by it. The claim is an
UPDATE conditioned on the state the worker saw, so of two workers that saw the same row
only one gets it; a claim older than the lease belongs to a worker that died, and is
taken over the same way (conditioned on the old ``claimed_at``). The mail outbox and the
webhook outbox both claim through here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet

# When another worker took every row this one saw, look again this many times at most.
ROUNDS = 5


def claim_due(
    model: type[Model],
    due: QuerySet[Any],
    *,
    queued: str,
    sending: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> tuple[list[int], int]:
    """Claim up to ``limit`` rows of ``due`` (and rows whose claim outlived ``lease``).

    ``due`` is the model's queryset of queued rows due at ``now`` (an app may narrow it,
    e.g. to active webhooks). Returns the ids won, oldest due first, and how many of them
    were taken over from a dead worker. All claims of a round are one short transaction.
    """
    rows = model._default_manager
    for _round in range(ROUNDS):
        seen = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
        stale: list[tuple[int, datetime | None]] = []
        if len(seen) < limit:
            stale = list(
                rows.filter(status=sending, claimed_at__lt=now - lease)
                .order_by("claimed_at", "id")
                .values_list("pk", "claimed_at")[: limit - len(seen)]
            )
        if not seen and not stale:
            return [], 0
        won: list[int] = []
        taken_over = 0
        with transaction.atomic():
            for pk in seen:
                if rows.filter(pk=pk, status=queued, next_attempt_at__lte=now).update(
                    status=sending, claimed_at=now
                ):
                    won.append(pk)
            for pk, claimed_at in stale:
                if rows.filter(pk=pk, status=sending, claimed_at=claimed_at).update(claimed_at=now):
                    won.append(pk)
                    taken_over += 1
        if won:
            return won, taken_over
        if len(seen) + len(stale) < limit:
            break
    return [], 0

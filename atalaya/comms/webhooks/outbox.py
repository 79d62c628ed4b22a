"""The webhook outbox: events written with the change that caused them, POSTed by a worker.

``emit_event`` is called inside the transaction of the change (a ticket created, an
alert opened…): it writes one ``WebhookDelivery`` per active webhook subscribed to the
event, keyed ``<webhook id>:<key>``, so a rollback writes none and the same change
emitted again writes none twice. After the commit a job delivers them; a periodic job
is the safety net.

Delivery (``deliver_due``) claims due rows by compare-and-set with a lease, POSTs them
from a small thread pool (a receiver that hangs holds one thread for at most the
request's 10 s, never the run), and records every attempt. 2xx is delivered; 410 Gone
switches the webhook off; anything else (4xx, 5xx, timeout, refused, a redirect) is
retried after 1 min, 5, 30, 2 h, 6 h, 12 h and 24 h, then the delivery has failed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from atalaya.comms.webhooks import http, signing
from atalaya.comms.webhooks.models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from atalaya.comms.webhooks.payloads import payload_of
from atalaya.core.claims import claim_due

logger = logging.getLogger(__name__)

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
# The first try and one after each wait: then the delivery has failed.
MAX_ATTEMPTS = len(BACKOFF) + 1
# Requests in flight at once: enough that one hanging receiver does not hold up the
# others, few enough for a small server.
POOL_SIZE = 4
# Rows claimed at once. With POOL_SIZE threads and 10 s per request at worst, a chunk
# is done in CLAIM_CHUNK / POOL_SIZE * 10 s = 50 s, well inside the lease.
CLAIM_CHUNK = 20
LEASE = timedelta(minutes=5)
# A namespace for event ids: the same key is the same event id, on every webhook.
EVENT_NAMESPACE = uuid.UUID("7d3f0a52-3c1e-4b7e-9a51-6f1f0c9b2e11")


# ---------------------------------------------------------------------------------------
# Emitting
# ---------------------------------------------------------------------------------------


def subscribers(event: str) -> list[Webhook]:
    """The active webhooks subscribed to ``event`` (one small query; filtered here because
    SQLite cannot search inside a JSON list)."""
    hooks = Webhook.objects.filter(is_active=True).only("pk", "events", "public_id")
    return [hook for hook in hooks if event in (hook.events or [])]


def event_body(event: str, data: dict[str, Any], *, key: str, occurred_at: datetime) -> str:
    """The JSON body every webhook gets for an event: id, event, occurred_at, data."""
    return json.dumps(
        {
            "id": str(uuid.uuid5(EVENT_NAMESPACE, key)),
            "event": event,
            "occurred_at": occurred_at.isoformat(),
            "data": data,
        },
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def emit_event(
    event: str,
    data: Any,
    *,
    key: str,
    now: datetime | None = None,
    webhooks: list[Webhook] | None = None,
) -> int:
    """Queue ``event`` for every active webhook subscribed to it; returns rows written.

    Call it inside the transaction of the change, with a ``key`` naming the change
    (``ticket.created:<id>``): a rollback takes the rows with it and a second call with
    the same key writes nothing. ``data`` is the payload dict or the domain object
    (payloads.py turns it into the few fields a receiver needs). With no subscriber
    this is one query and builds nothing.
    """
    hooks = subscribers(event) if webhooks is None else webhooks
    if not hooks:
        return 0
    keys = {hook.pk: f"{hook.pk}:{key}"[:255] for hook in hooks}
    done = set(
        WebhookDelivery.objects.filter(idempotency_key__in=keys.values()).values_list(
            "idempotency_key", flat=True
        )
    )
    hooks = [hook for hook in hooks if keys[hook.pk] not in done]
    if not hooks:
        return 0
    now = now or timezone.now()
    body = event_body(event, payload_of(data), key=key, occurred_at=now)
    rows = [
        WebhookDelivery(
            webhook_id=hook.pk,
            event=event,
            idempotency_key=keys[hook.pk],
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        for hook in hooks
    ]
    # ON CONFLICT DO NOTHING as well: a concurrent emit of the same key between the
    # check above and here is dropped, and the caller's transaction is not spoilt.
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    kick_delivery()
    return len(rows)


def _run_delivery_job() -> None:
    try:
        from atalaya.comms import tasks

        tasks.deliver_webhooks()
    except Exception:  # queued rows stay queued: the periodic job sends them anyway
        logger.exception("could not start webhook delivery")


def kick_delivery() -> None:
    """Start the delivery job once the current transaction commits, once per commit."""
    connection = transaction.get_connection()
    pending = getattr(connection, "run_on_commit", None) or []
    if any(entry[1] is _run_delivery_job for entry in pending):
        return
    transaction.on_commit(_run_delivery_job)


# ---------------------------------------------------------------------------------------
# Delivering
# ---------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` run did."""

    claimed: int = 0
    taken_over: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    # Webhooks switched off during this run: their rows still waiting are not sent.
    switched_off: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("switched_off")
        data["seconds"] = round(self.seconds, 3)
        data["errors"] = self.errors[:20]
        return data


def backoff_after(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try (1 min, 5, 30, 2 h, …)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now, webhook__is_active=True)


def _claim(now: datetime, limit: int) -> tuple[list[WebhookDelivery], int]:
    """Claim up to ``limit`` due rows of active webhooks (and rows whose claim outlived
    the lease): see core/claims.py. Oldest due first, with how many were taken over."""
    won, taken_over = claim_due(
        WebhookDelivery,
        WebhookDelivery.objects.filter(_due(now)),
        queued=DeliveryStatus.QUEUED,
        sending=DeliveryStatus.SENDING,
        now=now,
        lease=LEASE,
        limit=limit,
    )
    rows = WebhookDelivery.objects.filter(pk__in=won).select_related("webhook")
    return sorted(rows, key=lambda d: (d.next_attempt_at, d.pk)), taken_over


def request_headers(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of one attempt: event, delivery id, timestamp and signature."""
    webhook = delivery.webhook
    secret = signing.secret_for(webhook.public_id, webhook.secret_version)
    return {
        signing.EVENT_HEADER: delivery.event,
        signing.DELIVERY_HEADER: str(delivery.public_id),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body),
    }


def _send(delivery: WebhookDelivery) -> tuple[datetime, http.Outcome]:
    """One POST (runs in a pool thread: no database access here)."""
    started = timezone.now()
    body = delivery.body.encode()
    headers = request_headers(delivery, body, int(time.time()))
    return started, http.post(delivery.webhook.url, body, headers)


def _record(
    delivery: WebhookDelivery,
    started: datetime,
    outcome: http.Outcome,
    report: DeliveryReport,
) -> None:
    """Write the attempt and the delivery's new state, if the claim is still ours."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "claimed_at": None,
        "last_status_code": outcome.status_code,
        "last_error": (outcome.error or "")[:500],
    }
    gone = outcome.status_code == 410
    if outcome.is_success:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    elif gone or attempts >= MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED)
        if gone:
            fields["last_error"] = "410 Gone: the receiver asked to stop; webhook disabled"
    else:
        fields.update(status=DeliveryStatus.QUEUED, next_attempt_at=now + backoff_after(attempts))
    with transaction.atomic():
        # Compare-and-set on our claim: a worker that took the row over (we were slower
        # than the lease) owns its outcome.
        if not WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
        ).update(**fields):
            return
        WebhookAttempt.objects.create(
            delivery_id=delivery.pk,
            number=attempts,
            started_at=started,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            response_body=outcome.body[: http.BODY_LIMIT],
            error=(outcome.error or "")[:500],
        )
        if gone:
            report.switched_off.add(delivery.webhook_id)
            if disable_webhook(delivery.webhook, reason="410 Gone from the receiver", actor=None):
                report.disabled += 1
    if outcome.is_success:
        report.delivered += 1
    elif fields["status"] == DeliveryStatus.FAILED:
        report.failed += 1
        report.errors.append(f"{delivery.public_id}: {fields['last_error']}")
    else:
        report.retried += 1
        report.errors.append(f"{delivery.public_id}: {outcome.status_code or outcome.error}")


def disable_webhook(webhook: Webhook, *, reason: str, actor: Any) -> bool:
    """Switch a webhook off and cancel its queued deliveries; False if it was off already.

    Queued events are cancelled, not kept: switched on again weeks later, a receiver
    should not get a burst of stale news.
    """
    from atalaya.core.services import record_audit

    with transaction.atomic():
        if not Webhook.objects.filter(pk=webhook.pk, is_active=True).update(
            is_active=False, disabled_reason=reason[:300]
        ):
            return False
        cancelled = WebhookDelivery.objects.filter(
            webhook_id=webhook.pk, status=DeliveryStatus.QUEUED
        ).update(status=DeliveryStatus.CANCELLED)
        record_audit(
            actor,
            webhook,
            "webhook.disabled",
            before={"is_active": True},
            after={"is_active": False, "reason": reason[:300], "cancelled": cancelled},
        )
    webhook.is_active, webhook.disabled_reason = False, reason[:300]
    return True


def deliver_due(
    *, now: datetime | None = None, limit: int = 500, max_seconds: float = 45.0
) -> DeliveryReport:
    """POST every due delivery (at most ``limit``), POOL_SIZE at a time.

    Claims CLAIM_CHUNK rows at a time and keeps the pool full: as soon as one request
    ends its result is written and, while under ``limit`` and ``max_seconds``, more
    rows are claimed. Results are written from this thread only, so the pool threads
    never touch the database. A run stops claiming after ``max_seconds`` so the
    periodic job never piles up behind itself.
    """
    report = DeliveryReport()
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="webhook")
    pending: dict[Future[tuple[datetime, http.Outcome]], WebhookDelivery] = {}
    waiting: list[WebhookDelivery] = []
    exhausted = False
    try:
        while True:
            if not waiting and not exhausted and report.claimed < limit:
                if time.monotonic() - started < max_seconds:
                    batch, taken = _claim(
                        now or timezone.now(), min(CLAIM_CHUNK, limit - report.claimed)
                    )
                    report.claimed += len(batch)
                    report.taken_over += taken
                    waiting.extend(batch)
                    exhausted = not batch
                else:
                    exhausted = True
            while waiting and len(pending) < POOL_SIZE:
                delivery = waiting.pop(0)
                if delivery.webhook_id in report.switched_off:
                    _cancel(delivery)
                    continue
                pending[pool.submit(_send, delivery)] = delivery
            if not pending:
                break
            # A request cannot outlive its own deadline by much (the watchdog cuts it);
            # the margin covers a DNS lookup, which no socket timeout bounds.
            done, _ = wait(
                list(pending), timeout=http.TOTAL_TIMEOUT + 5, return_when=FIRST_COMPLETED
            )
            if not done:
                # Stuck beyond every limit: leave those claims to the lease, stop here.
                report.errors.append("requests still running past their deadline")
                break
            for future in done:
                delivery = pending.pop(future)
                try:
                    when, outcome = future.result()
                except Exception as error:  # a bug, not the receiver: retry later
                    logger.exception("webhook POST crashed")
                    when, outcome = timezone.now(), http.Outcome(None, 0, "", repr(error)[:500])
                _record(delivery, when, outcome, report)
    finally:
        # Never wait for a stuck thread: its claim runs out and another run retries.
        pool.shutdown(wait=False, cancel_futures=True)
        _release(waiting)
    report.seconds = time.monotonic() - started
    return report


def _cancel(delivery: WebhookDelivery) -> None:
    """A claimed row of a webhook switched off meanwhile: cancelled, like its queued ones."""
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
    ).update(status=DeliveryStatus.CANCELLED, claimed_at=None)


def _release(rows: list[WebhookDelivery]) -> None:
    """Claimed rows a run did not get to go back to the queue at once (not after the lease)."""
    for delivery in rows:
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
        ).update(status=DeliveryStatus.QUEUED, claimed_at=None)


def queue_again(delivery: WebhookDelivery, now: datetime) -> bool:
    """Have a queued (waiting out its backoff) or failed delivery tried at once."""
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED),
    ).update(
        status=DeliveryStatus.QUEUED,
        next_attempt_at=now,
        claimed_at=None,
        # A failed one gets its full set of retries again; a waiting one keeps its count.
        attempts=F("attempts") if delivery.status == DeliveryStatus.QUEUED else 0,
    )
    if updated:
        kick_delivery()
    return bool(updated)

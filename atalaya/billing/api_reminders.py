"""API routes of humane reminders under /api/v1/billing: runs, pauses, disputes, the why.

MSP staff only (anyone else's token gets 404: a run spans clients); writes need the
billing role or an administrator (403) and go through services.reminders like the pages.
A run is proposed (nothing sent), its items approved or skipped, then sent: each item is
checked again at that moment and dropped, with its reason, if anything changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.billing.access_invoices import get_invoice_or_404
from atalaya.billing.models import ReminderItem, ReminderPause, ReminderRun, can_write_billing
from atalaya.billing.services import reminders
from atalaya.billing.services.reminders.decision import Reason
from atalaya.billing.views.reminders import get_item_or_404, get_pause_or_404, get_run_or_404
from atalaya.core.models import Client, User

router = Router(tags=["reminders"])
MAX_PAGE = 500


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found")
    return user


def _writer(request: HttpRequest) -> User:
    user = _staff(request)
    if not can_write_billing(user):
        raise PermissionDenied(_("Your role may not change billing."))
    return user


class ReasonOut(Schema):
    code: str
    text: str
    blocks: bool
    params: dict[str, Any]


class ItemOut(Schema):
    id: int
    invoice: uuid.UUID
    invoice_code: str
    client: uuid.UUID
    step: int
    kind: str
    channel: str
    open_balance: str
    status: str
    to_address: str
    language: str
    subject: str
    body: str
    reasons: list[ReasonOut]
    dropped_reason: str
    sent_at: datetime | None


class RunOut(Schema):
    public_id: uuid.UUID
    status: str
    as_of: datetime
    created_at: datetime
    bank_data_until: str | None
    bank_data_override_reason: str
    summary: dict[str, Any]
    sent_at: datetime | None


class RunDetailOut(RunOut):
    items: list[ItemOut]
    next_offset: int | None


class ProposeIn(Schema):
    override_bank_data_reason: str | None = Field(default=None, max_length=300)


class SkipIn(Schema):
    reason: str = Field(default="", max_length=300)


class SendOut(Schema):
    sent: list[int]
    dropped: dict[int, str]


class PauseIn(Schema):
    client: uuid.UUID | None = None
    reason: str = Field(max_length=300)
    expires_at: datetime


class PauseOut(Schema):
    id: int
    client: uuid.UUID | None
    reason: str
    starts_at: datetime
    expires_at: datetime
    lifted_at: datetime | None


class DisputeIn(Schema):
    reason: str = Field(max_length=300)


class ExplainOut(Schema):
    invoice: uuid.UUID
    proposed: bool
    step: int | None
    kind: str | None
    reasons: list[ReasonOut]


def _reason(r: Reason) -> dict[str, Any]:
    return {"code": r.code, "text": r.text, "blocks": r.blocks, "params": r.params}


def _run_out(run: ReminderRun) -> dict[str, Any]:
    return {
        "public_id": run.public_id,
        "status": run.status,
        "as_of": run.as_of,
        "created_at": run.created_at,
        "bank_data_until": run.bank_data_until.isoformat() if run.bank_data_until else None,
        "bank_data_override_reason": run.bank_data_override_reason,
        "summary": run.summary or {},
        "sent_at": run.sent_at,
    }


def _item_out(item: ReminderItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "invoice": item.invoice.public_id,
        "invoice_code": item.invoice.code,
        "client": item.client.public_id,
        "step": item.step,
        "kind": item.kind,
        "channel": item.channel,
        "open_balance": str(item.open_balance),
        "status": item.status,
        "to_address": item.to_address,
        "language": item.language,
        "subject": item.subject,
        "body": item.body,
        "reasons": [_reason(Reason.from_json(r)) for r in item.reasons if isinstance(r, dict)],
        "dropped_reason": item.dropped_reason,
        "sent_at": item.sent_at,
    }


def _pause_out(pause: ReminderPause) -> dict[str, Any]:
    return {
        "id": pause.pk,
        "client": pause.client.public_id if pause.client else None,
        "reason": pause.reason,
        "starts_at": pause.starts_at,
        "expires_at": pause.expires_at,
        "lifted_at": pause.lifted_at,
    }


def _detail(run: ReminderRun, offset: int = 0, limit: int = MAX_PAGE) -> dict[str, Any]:
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    items = list(
        ReminderItem.objects.filter(run=run)
        .select_related("invoice", "client")
        .order_by("id")[offset : offset + limit + 1]
    )
    more = len(items) > limit
    return {
        **_run_out(run),
        "items": [_item_out(i) for i in items[:limit]],
        "next_offset": offset + limit if more else None,
    }


@router.get("/reminder-runs", response=responses(list[RunOut]), summary="List reminder runs")
def list_runs(request: HttpRequest) -> Any:
    """Reminder runs, newest first, with their summaries."""
    _staff(request)
    return [_run_out(r) for r in ReminderRun.objects.order_by("-created_at", "-id")[:100]]


@router.post(
    "/reminder-runs", response=responses(RunDetailOut, 201), summary="Propose a reminder run"
)
def propose(request: HttpRequest, payload: ProposeIn) -> Any:
    """Propose a reminder run: nothing is sent; stale bank data needs an override reason."""
    user = _writer(request)
    run = reminders.propose_run(actor=user, override_bank_data=payload.override_bank_data_reason)
    return created(_detail(run))


@router.get(
    "/reminder-runs/{run_id}", response=responses(RunDetailOut), summary="A run with its items"
)
def get_run(request: HttpRequest, run_id: uuid.UUID, offset: int = 0, limit: int = 100) -> Any:
    """A run with every item, its previewed message and its reasons."""
    user = _staff(request)
    return _detail(get_run_or_404(user, run_id), offset, limit)


@router.post(
    "/reminder-runs/{run_id}/approve", response=responses(RunOut), summary="Approve every item"
)
def approve_all(request: HttpRequest, run_id: uuid.UUID) -> Any:
    """Approve every item of a proposed run, or none if any invoice changed meanwhile."""
    user = _staff(request)
    run = get_run_or_404(user, run_id)
    user = _writer(request)
    reminders.approve_all(actor=user, run=run)
    return _run_out(run)


@router.post(
    "/reminder-runs/{run_id}/items/{item_id}/approve",
    response=responses(ItemOut),
    summary="Approve one item",
)
def approve_item(request: HttpRequest, run_id: uuid.UUID, item_id: int) -> Any:
    """Approve one item of a run."""
    user = _staff(request)
    item = get_item_or_404(user, get_run_or_404(user, run_id), item_id)
    reminders.approve_item(actor=_writer(request), item=item)
    item.refresh_from_db()
    return _item_out(item)


@router.post(
    "/reminder-runs/{run_id}/items/{item_id}/skip",
    response=responses(ItemOut),
    summary="Skip one item",
)
def skip_item(request: HttpRequest, run_id: uuid.UUID, item_id: int, payload: SkipIn) -> Any:
    """Skip one item of a run: it will not be sent."""
    user = _staff(request)
    item = get_item_or_404(user, get_run_or_404(user, run_id), item_id)
    reminders.skip_item(actor=_writer(request), item=item, reason=payload.reason)
    item.refresh_from_db()
    return _item_out(item)


@router.post(
    "/reminder-runs/{run_id}/send", response=responses(SendOut), summary="Send the approved"
)
def send(request: HttpRequest, run_id: uuid.UUID) -> Any:
    """Send the approved items, each checked again first; what changed is dropped."""
    user = _staff(request)
    run = get_run_or_404(user, run_id)
    result = reminders.send_approved(actor=_writer(request), run=run)
    return {"sent": result.sent, "dropped": result.dropped}


@router.get("/reminder-pauses", response=responses(list[PauseOut]), summary="List pauses")
def list_pauses(request: HttpRequest) -> Any:
    """Reminder pauses, global and per client, with reason and expiry."""
    _staff(request)
    rows = ReminderPause.objects.select_related("client").order_by("-starts_at", "-id")[:200]
    return [_pause_out(p) for p in rows]


@router.post("/reminder-pauses", response=responses(PauseOut, 201), summary="Pause reminders")
def create_pause(request: HttpRequest, payload: PauseIn) -> Any:
    """Pause reminders globally or for a client, with a reason and an expiry."""
    user = _writer(request)
    client = None
    if payload.client is not None:
        client = Client.objects.filter(public_id=payload.client).first()
        if client is None:
            raise FieldNotFound("client", _("No such client."))
    pause = reminders.pause_reminders(
        actor=user, client=client, reason=payload.reason, expires_at=payload.expires_at
    )
    return created(_pause_out(pause))


@router.post(
    "/reminder-pauses/{pause_id}/lift", response=responses(PauseOut), summary="Lift a pause"
)
def lift_pause(request: HttpRequest, pause_id: int) -> Any:
    """Lift a pause before its expiry (recorded)."""
    user = _staff(request)
    pause = get_pause_or_404(user, pause_id)
    return _pause_out(reminders.lift_pause(actor=_writer(request), pause=pause))


def _staff_invoice(request: HttpRequest, invoice_id: uuid.UUID) -> Any:
    user = _staff(request)
    return get_invoice_or_404(user, invoice_id)


@router.get(
    "/invoices/{invoice_id}/reminders",
    response=responses(ExplainOut),
    summary="Why an invoice would or would not get a reminder now",
)
def explain(request: HttpRequest, invoice_id: uuid.UUID) -> Any:
    """Why an invoice would or would not get a reminder now, reason by reason."""
    invoice = _staff_invoice(request, invoice_id)
    decision = reminders.decision_for(invoice)
    return {
        "invoice": invoice.public_id,
        "proposed": decision.proposed,
        "step": decision.level.step if decision.level else None,
        "kind": decision.level.kind if decision.level else None,
        "reasons": [_reason(r) for r in decision.reasons],
    }


@router.post(
    "/invoices/{invoice_id}/dispute", response=responses(ExplainOut), summary="Mark disputed"
)
def set_dispute(request: HttpRequest, invoice_id: uuid.UUID, payload: DisputeIn) -> Any:
    """Mark an invoice disputed: no reminder while the flag holds."""
    invoice = _staff_invoice(request, invoice_id)
    reminders.set_dispute(actor=_writer(request), invoice=invoice, reason=payload.reason)
    return explain(request, invoice_id)


@router.post(
    "/invoices/{invoice_id}/undispute", response=responses(ExplainOut), summary="Clear a dispute"
)
def clear_dispute(request: HttpRequest, invoice_id: uuid.UUID) -> Any:
    """Clear an invoice's dispute flag."""
    invoice = _staff_invoice(request, invoice_id)
    reminders.clear_dispute(actor=_writer(request), invoice=invoice)
    return explain(request, invoice_id)

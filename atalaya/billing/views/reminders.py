"""Reminder pages: runs (propose, preview every message, approve, skip, send), pauses, disputes.

MSP staff only (anyone else 404, portal users too: a run spans clients); writes need the
billing role or an administrator (403). Everything goes through services.reminders.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing.access_invoices import get_invoice_or_404
from atalaya.billing.forms_reminders import DisputeForm, PauseForm, ProposeForm, SkipForm
from atalaya.billing.models import (
    BillingSettings,
    ItemStatus,
    ReminderItem,
    ReminderPause,
    ReminderRun,
    can_write_billing,
)
from atalaya.billing.services import reminders
from atalaya.billing.services.reminders.decision import Reason, reason_label
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors

PER_PAGE = 100


def _uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise Http404("Not found") from None


def get_run_or_404(user: Any, run_id: object) -> ReminderRun:
    """A run by its public id, for MSP staff only (a run spans clients)."""
    if not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")
    run = (
        ReminderRun.objects.select_related("created_by", "bank_data_override_by", "sent_by")
        .filter(public_id=_uuid(run_id))
        .first()
    )
    if run is None:
        raise Http404("No such reminder run")
    return run


def get_item_or_404(user: Any, run: ReminderRun, item_id: object) -> ReminderItem:
    try:
        pk = int(str(item_id))
    except ValueError:
        raise Http404("Not found") from None
    item = (
        ReminderItem.objects.visible_to(user)
        .select_related("run", "invoice", "client")
        .filter(run=run, pk=pk)
        .first()
    )
    if item is None:
        raise Http404("No such reminder")
    return item


def get_pause_or_404(user: Any, pause_id: object) -> ReminderPause:
    if not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")
    try:
        pk = int(str(pause_id))
    except ValueError:
        raise Http404("Not found") from None
    pause = ReminderPause.objects.select_related("client").filter(pk=pk).first()
    if pause is None:
        raise Http404("No such pause")
    return pause


def bank_state(now: datetime) -> dict[str, Any]:
    """How fresh the bank data is, for the propose form."""
    until = reminders.bank_data_until()
    hours = BillingSettings.load().bank_data_max_age_hours
    return {
        "bank_until": until,
        "bank_max_age_hours": hours,
        "bank_is_stale": reminders.is_stale(until, hours, now),
    }


def _error(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def reasons_of(item: ReminderItem) -> list[Reason]:
    return [Reason.from_json(r) for r in item.reasons if isinstance(r, dict)]


# --- runs -----------------------------------------------------------------------------------


@billing_view("GET", "HEAD")
def run_list(request: HttpRequest) -> HttpResponse:
    """The latest runs with their counts (two queries), and how fresh the bank data is."""
    runs = list(
        ReminderRun.objects.select_related("created_by", "sent_by")
        .annotate(
            n_items=Count("items"),
            n_sent=Count("items", filter=Q(items__status=ItemStatus.SENT)),
            n_dropped=Count("items", filter=Q(items__status=ItemStatus.DROPPED)),
        )
        .order_by("-created_at", "-id")[:PER_PAGE]
    )
    now = timezone.now()
    return render(
        request,
        "billing/reminders/run_list.html",
        {"runs": runs, "can_write": can_write_billing(user_of(request)), **bank_state(now)},
    )


@billing_view("GET", "HEAD", "POST", write=True)
def run_new(request: HttpRequest) -> HttpResponse:
    """Propose a run; on stale bank data the form asks for an override and its reason."""
    user = user_of(request)
    now = timezone.now()
    form = ProposeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = reminders.propose_run(
                actor=user,
                now=now,
                override_bank_data=data["override_reason"] if data["override"] else None,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Run proposed: %(n)d reminders to review. Nothing has been sent.")
                % {"n": run.summary.get("proposed", 0)},
            )
            return redirect("billing:reminder_run_detail", run.public_id)
    return render(
        request,
        "billing/reminders/run_new.html",
        {"form": form, **bank_state(now)},
        status=400 if form.errors else 200,
    )


@billing_view("GET", "HEAD")
def run_detail(request: HttpRequest, run_id: Any) -> HttpResponse:
    """A run: what it looked at, and every message previewed with why it is there."""
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    status = request.GET.get("status", "")
    items = ReminderItem.objects.filter(run=run).select_related("invoice", "client")
    if status in ItemStatus.values:
        items = items.filter(status=status)
    page = Paginator(items.order_by("client__name", "invoice_id"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    for item in page.object_list:
        item.why = reasons_of(item)  # type: ignore[attr-defined]
    counts = dict(
        ReminderItem.objects.filter(run=run)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    excluded = [
        (reason_label(code), n)
        for code, n in sorted((run.summary.get("excluded_by_reason") or {}).items())
    ]
    return render(
        request,
        "billing/reminders/run_detail.html",
        {
            "run": run,
            "page": page,
            "status": status,
            "status_links": [
                (value, label, counts.get(value, 0)) for value, label in ItemStatus.choices
            ],
            "excluded": excluded,
            "can_write": can_write_billing(user),
            "is_open": run.status == "proposed",
            "skip_form": SkipForm(),
        },
    )


@billing_view("POST", write=True)
def run_approve_all(request: HttpRequest, run_id: Any) -> HttpResponse:
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    try:
        count = reminders.approve_all(actor=user, run=run)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("%(n)d reminders approved.") % {"n": count})
    return redirect("billing:reminder_run_detail", run.public_id)


@billing_view("POST", write=True)
def run_send(request: HttpRequest, run_id: Any) -> HttpResponse:
    """Send the approved reminders; each is checked again now and dropped if it changed."""
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    try:
        result = reminders.send_approved(actor=user, run=run)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(
            request,
            _("%(sent)d reminders sent, %(dropped)d dropped because something changed.")
            % {"sent": len(result.sent), "dropped": len(result.dropped)},
        )
    return redirect("billing:reminder_run_detail", run.public_id)


@billing_view("POST", write=True)
def run_discard(request: HttpRequest, run_id: Any) -> HttpResponse:
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    try:
        reminders.discard_run(actor=user, run=run)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Run discarded; nothing was sent."))
    return redirect("billing:reminder_run_list")


@billing_view("POST", write=True)
def item_approve(request: HttpRequest, run_id: Any, item_id: Any) -> HttpResponse:
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    item = get_item_or_404(user, run, item_id)
    try:
        reminders.approve_item(actor=user, item=item)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Approved: %(code)s.") % {"code": item.invoice.code})
    return redirect("billing:reminder_run_detail", run.public_id)


@billing_view("POST", write=True)
def item_skip(request: HttpRequest, run_id: Any, item_id: Any) -> HttpResponse:
    user = user_of(request)
    run = get_run_or_404(user, run_id)
    item = get_item_or_404(user, run, item_id)
    form = SkipForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        reminders.skip_item(actor=user, item=item, reason=reason)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Skipped: %(code)s.") % {"code": item.invoice.code})
    return redirect("billing:reminder_run_detail", run.public_id)


# --- pauses ---------------------------------------------------------------------------------


@billing_view("GET", "HEAD", "POST", write=True)
def pause_list(request: HttpRequest) -> HttpResponse:
    """Pauses in force and past ones (one query), and the form to pause."""
    user = user_of(request)
    now = timezone.now()
    form = PauseForm(
        request.POST or None,
        initial={"expires_at": (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            reminders.pause_reminders(
                actor=user,
                client=data["client"],
                reason=data["reason"],
                expires_at=data["expires_at"],
                now=now,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Reminders paused."))
            return redirect("billing:reminder_pause_list")
    pauses = list(
        ReminderPause.objects.select_related("client", "created_by", "lifted_by").order_by(
            "-starts_at", "-id"
        )[:PER_PAGE]
    )
    for pause in pauses:
        pause.in_force = (  # type: ignore[attr-defined]
            pause.lifted_at is None and pause.starts_at <= now < pause.expires_at
        )
    return render(
        request,
        "billing/reminders/pause_list.html",
        {"pauses": pauses, "form": form, "can_write": can_write_billing(user), "now": now},
        status=400 if form.errors else 200,
    )


@billing_view("POST", write=True)
def pause_lift(request: HttpRequest, pause_id: Any) -> HttpResponse:
    user = user_of(request)
    pause = get_pause_or_404(user, pause_id)
    try:
        reminders.lift_pause(actor=user, pause=pause)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Pause lifted: reminders may go out again."))
    return redirect("billing:reminder_pause_list")


# --- disputes and the invoice page's "why" ------------------------------------------------


def why_context(invoice: Any) -> dict[str, Any]:
    """What the invoice page's reminder section shows: the decision's reasons now, the
    reminders sent so far, and the dispute form."""
    return {
        "reminder_reasons": reminders.explain(invoice) if invoice.status == "issued" else [],
        "sent_reminders": list(invoice.sent_reminders.order_by("step", "sent_at")),
        "dispute_form": DisputeForm(),
    }


@billing_view("POST", write=True)
def invoice_dispute(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    form = DisputeForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Say what the client disputes."))
        reminders.set_dispute(actor=user, invoice=invoice, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Marked as disputed: no reminders until it is cleared."))
    return redirect("billing:invoice_detail", invoice.public_id)


@billing_view("POST", write=True)
def invoice_undispute(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    try:
        reminders.clear_dispute(actor=user, invoice=invoice)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Dispute cleared: reminders may resume."))
    return redirect("billing:invoice_detail", invoice.public_id)

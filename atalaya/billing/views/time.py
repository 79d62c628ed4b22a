"""Billable time waiting for a decision, and prepaid hour blocks (MSP staff only).

The queue shows each pending entry with what approving would do: burn the client's
oldest usable block, or invoice at the rate found (agreement, else catalogue), or ask
for a rate. Decisions go one by one or for the selected entries.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from atalaya.billing.forms_agreements import DecideForm, HourBlockForm
from atalaya.billing.models import (
    AgreementRate,
    HourBlock,
    Product,
    Unit,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import time as services
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.tickets.models import TimeEntry

QUEUE_SIZE = 200


def _pending(user: User) -> Any:
    return services.pending_entries().filter(ticket__client__in=billing_clients_of(user))


def get_entry_or_404(user: User, entry_id: int) -> TimeEntry:
    found = _pending(user).filter(pk=entry_id).first()
    if found is None:
        raise Http404("Not found")
    return found


def _suggestions(entries: list[TimeEntry]) -> dict[int, dict[str, Any]]:
    """What approving each entry would do, in three queries for the whole page."""
    clients = {e.ticket.client_id for e in entries}
    blocks: dict[int, list[HourBlock]] = defaultdict(list)
    for block in HourBlock.objects.filter(
        client_id__in=clients, minutes_used__lt=F("minutes_total")
    ).order_by("purchased_on", "id"):
        blocks[block.client_id].append(block)
    rates: dict[tuple[int, int], tuple[Decimal, str]] = {}  # (client, work type)
    for rate in (
        AgreementRate.objects.filter(agreement__client_id__in=clients, agreement__is_active=True)
        .select_related("agreement")
        .order_by("-agreement_id")
    ):
        rates[(rate.agreement.client_id, rate.work_type_id)] = (
            rate.hourly_rate,
            rate.agreement.name,
        )
    catalogue: dict[int | None, tuple[Decimal, str]] = {
        p.work_type_id: (p.unit_price, p.code)
        for p in Product.objects.filter(is_active=True, unit=Unit.PER_HOUR, work_type__isnull=False)
    }
    out = {}
    for entry in entries:
        client_id = entry.ticket.client_id
        usable: HourBlock | None = next(
            (
                b
                for b in blocks.get(client_id, [])
                if b.purchased_on <= entry.worked_on
                and (b.expires_on is None or b.expires_on >= entry.worked_on)
            ),
            None,
        )
        work = entry.work_type_id
        found = (rates.get((client_id, work)) or catalogue.get(work)) if work else None
        out[entry.pk] = {
            "block": usable,
            "rate": found[0] if found else None,
            "rate_source": found[1] if found else "",
        }
    return out


@billing_view("GET", "HEAD", "POST", write=True)
def time_queue(request: HttpRequest) -> HttpResponse:
    """Pending billable entries; POST decides the selected ones at once."""
    user = user_of(request)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ("approve", "invoice", "write_off"):
            messages.error(request, _("Unknown action."))
            return redirect("billing:time_queue")
        ids = [int(v) for v in request.POST.getlist("entry") if v.isdigit()]
        chosen = list(_pending(user).filter(pk__in=ids))
        done, problems = services.decide_many(actor=user, entries=chosen, action=action)
        if done:
            messages.success(
                request,
                ngettext("%(n)d entry decided.", "%(n)d entries decided.", done) % {"n": done},
            )
        for problem in problems:
            messages.error(request, problem)
        if not chosen:
            messages.error(request, _("Select the entries first."))
        return redirect("billing:time_queue")
    entries = list(_pending(user)[:QUEUE_SIZE])
    suggestions = _suggestions(entries)
    return render(
        request,
        "billing/time/queue.html",
        {
            "rows": [(e, suggestions[e.pk]) for e in entries],
            "can_write": can_write_billing(user),
            "form": DecideForm(),
        },
    )


@billing_view("POST", write=True)
def time_decide(request: HttpRequest, entry_id: int) -> HttpResponse:
    """One entry: approve (block first), approve to invoice, or write off; a rate may be
    given where none is known."""
    user = user_of(request)
    entry = get_entry_or_404(user, entry_id)
    form = DecideForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["action"] == "write_off":
                services.write_off_time(actor=user, entry=entry, note=data["note"])
            else:
                services.approve_time(
                    actor=user,
                    entry=entry,
                    use_block=False if data["action"] == "invoice" else None,
                    hourly_rate=data["hourly_rate"],
                    note=data["note"],
                )
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        messages.error(
            request,
            f"#{entry.ticket.number}: "
            + " ".join(str(e) for errors in form.errors.values() for e in errors),
        )
    else:
        messages.success(request, _("Ticket #%(n)s: decided.") % {"n": entry.ticket.number})
    return redirect("billing:time_queue")


@billing_view("GET", "HEAD")
def hour_block_list(request: HttpRequest) -> HttpResponse:
    """Every client's blocks with their balance; low balances flagged."""
    user = user_of(request)
    blocks = (
        HourBlock.objects.visible_to(user)
        .select_related("client", "invoice")
        .order_by("client__name", "purchased_on", "id")
    )
    return render(
        request,
        "billing/time/blocks.html",
        {"blocks": blocks, "can_write": can_write_billing(user)},
    )


@billing_view("GET", "HEAD", "POST", write=True)
def hour_block_new(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    form = HourBlockForm(request.POST or None, clients=billing_clients_of(user).order_by("name"))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            block = services.create_hour_block(
                actor=user,
                client=data["client"],
                name=data["name"],
                minutes_total=int(data["hours"] * 60),
                low_balance_minutes=int(data["low_balance_hours"] * 60),
                purchased_on=data["purchased_on"],
                expires_on=data["expires_on"],
                price=data["price"],
                series=data["series"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Hour block %(name)s added.") % {"name": block.name})
            return redirect("billing:hour_block_list")
    return render(
        request,
        "billing/time/block_new.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )

"""The agreement pages and the recurring run (MSP staff; writes need the billing role).

An agreement's page shows its lines with the quantities counted today and what the
next period's invoice would hold. The run page lists the drafts the run made, with
their totals, for a person to issue or discard; "draft now" runs it on demand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from atalaya.billing.forms_agreements import AgreementForm, LineForm, RateForm
from atalaya.billing.models import (
    Agreement,
    AgreementLine,
    QuantityMode,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import agreements as services
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors
from atalaya.core.models import ContactMembership, User
from atalaya.monitoring.models import Device


def get_agreement_or_404(user: User, agreement_id: Any) -> Agreement:
    found = (
        Agreement.objects.visible_to(user)
        .select_related("client", "series", "mandate")
        .filter(public_id=agreement_id)
        .first()
    )
    if found is None:
        raise Http404("Not found")
    return found


@billing_view("GET", "HEAD")
def agreement_list(request: HttpRequest) -> HttpResponse:
    """Every agreement with its client, period, billed-until and number of lines."""
    user = user_of(request)
    rows = (
        Agreement.objects.visible_to(user)
        .select_related("client")
        .annotate(line_count=Count("lines"))
        .order_by("client__name", "name")
    )
    return render(
        request,
        "billing/agreements/list.html",
        {"agreements": rows, "can_write": can_write_billing(user)},
    )


@billing_view("GET", "HEAD", "POST", write=True)
def agreement_new(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    clients = billing_clients_of(user).order_by("name")
    form = AgreementForm(request.POST or None, clients=clients)
    if request.method == "POST" and form.is_valid():
        try:
            agreement = services.create_agreement(
                actor=user, client=form.cleaned_data["client"], **form.service_fields()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Agreement created: add its lines."))
            return redirect("billing:agreement_detail", agreement_id=agreement.public_id)
    return render(
        request,
        "billing/agreements/edit.html",
        {"form": form, "agreement": None},
        status=400 if request.method == "POST" else 200,
    )


def _counted(agreement: Agreement) -> dict[str, int]:
    return {
        QuantityMode.MONITORED_DEVICES: Device.objects.filter(
            client=agreement.client, retired_at__isnull=True
        ).count(),
        QuantityMode.USER_CONTACTS: ContactMembership.objects.filter(
            client=agreement.client, is_user=True
        ).count(),
    }


@billing_view("GET", "HEAD")
def agreement_detail(request: HttpRequest, agreement_id: Any) -> HttpResponse:
    user = user_of(request)
    agreement = get_agreement_or_404(user, agreement_id)
    counted = _counted(agreement)
    lines = []
    for line in agreement.lines.select_related("product"):
        quantity = counted.get(line.quantity_mode, line.quantity)
        lines.append({"line": line, "quantity": quantity})
    return render(
        request,
        "billing/agreements/detail.html",
        {
            "agreement": agreement,
            "lines": lines,
            "rates": agreement.rates.select_related("work_type"),
            "preview": services.preview_next_period(agreement),
            "invoices": agreement.invoices.order_by("-period_start", "-id")[:12],
            "line_form": LineForm(),
            "rate_form": RateForm(),
            "can_write": can_write_billing(user),
        },
    )


@billing_view("GET", "HEAD", "POST", write=True)
def agreement_edit(request: HttpRequest, agreement_id: Any) -> HttpResponse:
    user = user_of(request)
    agreement = get_agreement_or_404(user, agreement_id)
    initial = {
        "name": agreement.name,
        "billing_period": agreement.billing_period,
        "starts_on": agreement.starts_on,
        "ends_on": agreement.ends_on,
        "series": agreement.series_id,
        "payment_method": agreement.payment_method,
        "mandate": agreement.mandate.public_id if agreement.mandate else None,
        "payment_terms_days": agreement.payment_terms_days,
    }
    form = AgreementForm(
        request.POST or None, initial=initial, clients=None, client=agreement.client
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_agreement(actor=user, agreement=agreement, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Agreement saved."))
            return redirect("billing:agreement_detail", agreement_id=agreement.public_id)
    return render(
        request,
        "billing/agreements/edit.html",
        {"form": form, "agreement": agreement},
        status=400 if request.method == "POST" else 200,
    )


@billing_view("POST", write=True)
def agreement_line_add(request: HttpRequest, agreement_id: Any) -> HttpResponse:
    user = user_of(request)
    agreement = get_agreement_or_404(user, agreement_id)
    form = LineForm(request.POST)
    if form.is_valid():
        try:
            services.add_line(actor=user, agreement=agreement, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    else:
        messages.success(request, _("Line added."))
    return redirect("billing:agreement_detail", agreement_id=agreement.public_id)


@billing_view("POST", write=True)
def agreement_line_remove(
    request: HttpRequest, agreement_id: Any, agreement_line_id: int
) -> HttpResponse:
    user = user_of(request)
    agreement = get_agreement_or_404(user, agreement_id)
    line = AgreementLine.objects.filter(agreement=agreement, pk=agreement_line_id).first()
    if line is None:
        raise Http404("Not found")
    services.remove_line(actor=user, line=line)
    messages.success(request, _("Line removed."))
    return redirect("billing:agreement_detail", agreement_id=agreement.public_id)


@billing_view("POST", write=True)
def agreement_rate_set(request: HttpRequest, agreement_id: Any) -> HttpResponse:
    user = user_of(request)
    agreement = get_agreement_or_404(user, agreement_id)
    form = RateForm(request.POST)
    if form.is_valid():
        try:
            services.set_rate(actor=user, agreement=agreement, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    else:
        messages.success(request, _("Hourly rate saved."))
    return redirect("billing:agreement_detail", agreement_id=agreement.public_id)


@billing_view("GET", "HEAD", "POST", write=True)
def recurring_run(request: HttpRequest) -> HttpResponse:
    """The drafts of the recurring run for review: issue the selected, or discard them;
    or run the drafting now (the daily task does it too)."""
    user = user_of(request)
    drafts = services.run_drafts().filter(client__in=billing_clients_of(user))
    if request.method == "POST":
        action = request.POST.get("action", "")
        chosen = list(drafts.filter(public_id__in=_uuids(request.POST.getlist("invoice"))))
        try:
            if action == "draft":
                made = services.draft_due_invoices(actor=user, as_of=timezone.localdate())
                messages.success(
                    request,
                    ngettext("%(n)d invoice drafted.", "%(n)d invoices drafted.", len(made))
                    % {"n": len(made)},
                )
            elif action in ("issue", "discard"):
                if not chosen:
                    raise ValidationError(_("Select the drafts first."))
                if action == "issue":
                    done = len(services.issue_drafts(actor=user, invoices=chosen))
                    text = ngettext("%(n)d invoice issued.", "%(n)d invoices issued.", done)
                else:
                    done = services.discard_drafts(actor=user, invoices=chosen)
                    text = ngettext("%(n)d draft discarded.", "%(n)d drafts discarded.", done)
                messages.success(request, text % {"n": done})
            else:
                raise ValidationError(_("Unknown action."))
        except PermissionDenied:
            raise
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return _run_page(request, user, drafts, status=400)
        return redirect("billing:recurring_run")
    return _run_page(request, user, drafts)


def _run_page(request: HttpRequest, user: User, drafts: Any, status: int = 200) -> HttpResponse:
    rows = list(drafts[:500])
    return render(
        request,
        "billing/agreements/run.html",
        {
            "drafts": rows,
            "count": drafts.count(),
            "total": sum((d.total for d in rows), start=0),
            "can_write": can_write_billing(user),
            "today": timezone.localdate(),
        },
        status=status,
    )


def _uuids(values: list[str]) -> list[str]:
    import uuid

    good = []
    for value in values:
        try:
            good.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return good

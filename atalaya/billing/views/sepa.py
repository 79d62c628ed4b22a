"""Direct debit pages: a client's mandates, the collections and their life, the batches
and their pain.008 files.

MSP staff only (anyone else 404); writes need the billing role or an administrator
(403). A transition that is not allowed from where a collection is, or that lost a
race with another person, is shown as the service's message, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing import forms_payments, sepa
from atalaya.billing.access_payments import (
    get_batch_or_404,
    get_collection_or_404,
    get_mandate_or_404,
)
from atalaya.billing.models import (
    Collection,
    CollectionBatch,
    CollectionStatus,
    Mandate,
    can_write_billing,
)
from atalaya.billing.services import collections as services
from atalaya.billing.services import mandates as mandate_services
from atalaya.billing.views.common import PAGE_SIZE, billing_view, error_text, user_of
from atalaya.billing.views.payments import staff_client_or_404
from atalaya.core.forms import add_service_errors


@billing_view("GET", "HEAD", "POST", write=True)
def mandate_list(request: HttpRequest, client_id: Any) -> HttpResponse:
    """A client's mandates, and a form to record a new one."""
    user = user_of(request)
    client = staff_client_or_404(user, client_id)
    form = forms_payments.MandateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mandate_services.create_mandate(actor=user, client=client, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Mandate recorded; its first debit goes as FRST."))
            return redirect("billing:mandate_list", client_id=client.public_id)
    mandates = list(Mandate.objects.filter(client=client).order_by("-signed_on", "-id"))
    return render(
        request,
        "billing/sepa/mandates.html",
        {
            "client": client,
            "mandates": mandates,
            "form": form,
            "can_write": can_write_billing(user),
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


@billing_view("POST", write=True)
def mandate_revoke(request: HttpRequest, mandate_id: Any) -> HttpResponse:
    user = user_of(request)
    mandate = get_mandate_or_404(user, mandate_id)
    try:
        mandate_services.revoke_mandate(
            actor=user, mandate=mandate, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Mandate revoked; debits not yet sent were cancelled."))
    return redirect("billing:mandate_list", client_id=mandate.client.public_id)


@billing_view("GET", "HEAD")
def collection_list(request: HttpRequest) -> HttpResponse:
    """Direct debits by status, newest debit date first; one query per page."""
    user = user_of(request)
    form = forms_payments.CollectionFilterForm(request.GET or None)
    found = Collection.objects.visible_to(user).select_related(
        "client", "invoice", "mandate", "batch"
    )
    if form.is_valid() and form.cleaned_data["status"]:
        found = found.filter(status=form.cleaned_data["status"])
    page = Paginator(found.order_by("-due_on", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    due_dates = list(
        Collection.objects.filter(status=CollectionStatus.SCHEDULED, batch__isnull=True)
        .order_by("due_on")
        .values_list("due_on", flat=True)
        .distinct()[:20]
    )
    return render(
        request,
        "billing/sepa/collections.html",
        {
            "page": page,
            "form": form,
            "batch_form": forms_payments.BatchForm(),
            "due_dates": due_dates,
            "can_write": can_write_billing(user),
        },
    )


@billing_view("GET", "HEAD")
def collection_detail(request: HttpRequest, collection_id: Any) -> HttpResponse:
    user = user_of(request)
    collection = get_collection_or_404(user, collection_id)
    events = list(collection.events.select_related("actor", "bank_entry").order_by("at", "id"))
    allowed = services.TRANSITIONS.get(collection.status, frozenset())
    return render(
        request,
        "billing/sepa/collection.html",
        {
            "collection": collection,
            "events": events,
            "allowed": allowed,
            "return_form": forms_payments.ReturnForm(),
            "reason_form": forms_payments.ReasonForm(),
            "reason_text": sepa.describe_reason(collection.return_reason)
            if collection.return_reason
            else "",
            "can_write": can_write_billing(user),
        },
    )


def _transition(request: HttpRequest, collection_id: Any, action: str) -> HttpResponse:
    user = user_of(request)
    collection = get_collection_or_404(user, collection_id)
    try:
        if action == "submit":
            services.mark_submitted(actor=user, collection=collection)
            done = _("Marked as submitted to the bank.")
        elif action == "settle":
            services.mark_settled(actor=user, collection=collection)
            done = _("Settled: the payment is recorded (refundable for 8 weeks).")
        elif action == "final":
            services.mark_final(actor=user, collection=collection)
            done = _("Final: the refund window is over.")
        elif action == "return":
            form = forms_payments.ReturnForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose the bank's return reason."))
            services.mark_returned(
                actor=user, collection=collection, reason_code=form.cleaned_data["reason_code"]
            )
            done = _("Return recorded: the client was told and a ticket opened.")
        else:  # cancel
            services.cancel_collection(
                actor=user, collection=collection, reason=request.POST.get("reason", "")
            )
            done = _("Direct debit cancelled; the invoice is owed again.")
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect("billing:collection_detail", collection_id=collection.public_id)


@billing_view("POST", write=True)
def collection_submit(request: HttpRequest, collection_id: Any) -> HttpResponse:
    return _transition(request, collection_id, "submit")


@billing_view("POST", write=True)
def collection_settle(request: HttpRequest, collection_id: Any) -> HttpResponse:
    return _transition(request, collection_id, "settle")


@billing_view("POST", write=True)
def collection_final(request: HttpRequest, collection_id: Any) -> HttpResponse:
    return _transition(request, collection_id, "final")


@billing_view("POST", write=True)
def collection_return(request: HttpRequest, collection_id: Any) -> HttpResponse:
    return _transition(request, collection_id, "return")


@billing_view("POST", write=True)
def collection_cancel(request: HttpRequest, collection_id: Any) -> HttpResponse:
    return _transition(request, collection_id, "cancel")


@billing_view("GET", "HEAD")
def batch_list(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    page = Paginator(CollectionBatch.objects.order_by("-due_on", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "billing/sepa/batches.html",
        {
            "page": page,
            "batch_form": forms_payments.BatchForm(),
            "can_write": can_write_billing(user),
        },
    )


@billing_view("POST", write=True)
def batch_new(request: HttpRequest) -> HttpResponse:
    """One batch (and pain.008 file) per sequence type for a debit date."""
    user = user_of(request)
    form = forms_payments.BatchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the debit date of the batch."))
        return redirect("billing:batch_list")
    try:
        made = services.create_batches(actor=user, due_on=form.cleaned_data["due_on"])
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("billing:batch_list")
    messages.success(
        request,
        _("%(n)d batch file(s) created; download and send them to the bank.") % {"n": len(made)},
    )
    return redirect("billing:batch_detail", batch_id=made[0].public_id)


@billing_view("GET", "HEAD")
def batch_detail(request: HttpRequest, batch_id: Any) -> HttpResponse:
    user = user_of(request)
    batch = get_batch_or_404(user, batch_id)
    members = list(batch.collections.select_related("client", "invoice", "mandate").order_by("id"))
    return render(
        request,
        "billing/sepa/batch.html",
        {"batch": batch, "members": members, "can_write": can_write_billing(user)},
    )


@billing_view("GET", "HEAD")
def batch_download(request: HttpRequest, batch_id: Any) -> HttpResponse:
    batch = get_batch_or_404(user_of(request), batch_id)
    response = HttpResponse(batch.xml.encode("utf-8"), content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{batch.message_id}.xml"'
    return response


@billing_view("POST", write=True)
def batch_submit(request: HttpRequest, batch_id: Any) -> HttpResponse:
    user = user_of(request)
    batch = get_batch_or_404(user, batch_id)
    try:
        moved = services.submit_batch(actor=user, batch=batch)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("%(n)d direct debits marked as submitted.") % {"n": moved})
    return redirect("billing:batch_detail", batch_id=batch.public_id)

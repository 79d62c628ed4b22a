"""Webhook pages: the list, one webhook's delivery log, its form, and the admin buttons.

Every member of staff reads them (anyone else gets 404); changing anything — the
form, rotating the secret, a test event, a retry — is for administrators (403). The
signing secret is shown to administrators only. Objects are loaded through
comms.access and every change goes through webhooks.services.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.comms.access import get_delivery_or_404, get_webhook_or_404
from atalaya.comms.webhooks import services, signing
from atalaya.comms.webhooks.forms import WebhookForm
from atalaya.comms.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.tickets.views.tickets import staff_view

DELIVERIES_PER_PAGE = 50


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require_admin(request: HttpRequest) -> User:
    user = _user(request)
    if not user.is_admin:
        raise PermissionDenied(_("Only administrators may change webhooks."))
    return user


@staff_view("GET", "HEAD")
def webhook_list(request: HttpRequest) -> HttpResponse:
    """Every webhook with its deliveries per status: two queries whatever the count."""
    webhooks = list(Webhook.objects.order_by("name", "id"))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        WebhookDelivery.objects.filter(webhook_id__in=[w.pk for w in webhooks])
        .values_list("webhook_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for webhook_id, status, n in rows:
        counts[webhook_id][status] = n
    for webhook in webhooks:
        per_status = counts.get(webhook.pk, {})
        webhook.counts = [  # type: ignore[attr-defined]
            (label, per_status.get(value, 0)) for value, label in DeliveryStatus.choices
        ]
    return render(
        request,
        "comms/webhooks/list.html",
        {"webhooks": webhooks, "can_write": _user(request).is_admin},
    )


@staff_view("GET", "HEAD", "POST")
def webhook_new(request: HttpRequest) -> HttpResponse:
    """Add a webhook (administrators)."""
    user = _require_admin(request)
    form = WebhookForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            webhook = services.create_webhook(actor=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Webhook saved. Its secret is shown below."))
            return redirect("comms:webhook_detail", webhook_id=webhook.public_id)
    return render(
        request,
        "comms/webhooks/form.html",
        {"form": form, "title": _("New webhook")},
        status=400 if form.errors else 200,
    )


@staff_view("GET", "HEAD", "POST")
def webhook_edit(request: HttpRequest, webhook_id: Any) -> HttpResponse:
    """Change a webhook (administrators)."""
    webhook = get_webhook_or_404(_user(request), webhook_id)
    user = _require_admin(request)
    form = WebhookForm(request.POST or None, initial=WebhookForm.initial_for(webhook))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_webhook(actor=user, webhook=webhook, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("comms:webhook_detail", webhook_id=webhook.public_id)
    return render(
        request,
        "comms/webhooks/form.html",
        {"form": form, "title": _("Edit webhook"), "webhook": webhook},
        status=400 if form.errors else 200,
    )


@staff_view("GET", "HEAD")
def webhook_detail(request: HttpRequest, webhook_id: Any) -> HttpResponse:
    """One webhook: its settings, how to verify its requests, and its delivery log page by
    page (newest first; three queries whatever the page holds)."""
    user = _user(request)
    webhook = get_webhook_or_404(user, webhook_id)
    deliveries = Paginator(
        WebhookDelivery.objects.filter(webhook=webhook)
        .defer("body")
        .order_by("-created_at", "-id"),
        DELIVERIES_PER_PAGE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "comms/webhooks/detail.html",
        {
            "webhook": webhook,
            "deliveries": deliveries,
            "can_write": user.is_admin,
            "secret": signing.secret_for(webhook.public_id, webhook.secret_version)
            if user.is_admin
            else "",
            "verify_help": signing.VERIFY_HELP,
            "event_labels": dict(services.WebhookEvent.choices),
        },
    )


@staff_view("GET", "HEAD")
def delivery_detail(request: HttpRequest, delivery_id: Any) -> HttpResponse:
    """One delivery: the body sent and every attempt with its answer or error."""
    delivery = get_delivery_or_404(_user(request), delivery_id)
    return render(
        request,
        "comms/webhooks/delivery.html",
        {
            "delivery": delivery,
            "webhook": delivery.webhook,
            "tries": list(delivery.tries.order_by("number")),
            "can_write": _user(request).is_admin,
        },
    )


@staff_view("POST")
def webhook_rotate(request: HttpRequest, webhook_id: Any) -> HttpResponse:
    """A new signing secret; the old one stops working at once."""
    webhook = get_webhook_or_404(_user(request), webhook_id)
    services.rotate_secret(actor=_require_admin(request), webhook=webhook)
    messages.success(request, _("New secret made: give it to the receiver."))
    return redirect("comms:webhook_detail", webhook_id=webhook.public_id)


@staff_view("POST")
def webhook_test(request: HttpRequest, webhook_id: Any) -> HttpResponse:
    """Queue a test event for this webhook; it shows in the log like any delivery."""
    webhook = get_webhook_or_404(_user(request), webhook_id)
    services.send_test_event(actor=_require_admin(request), webhook=webhook)
    if webhook.is_active:
        messages.success(request, _("Test event queued."))
    else:
        messages.warning(request, _("Test event queued; it goes out once the webhook is on."))
    return redirect("comms:webhook_detail", webhook_id=webhook.public_id)


@staff_view("POST")
def delivery_retry(request: HttpRequest, delivery_id: Any) -> HttpResponse:
    """Try a delivery again now."""
    delivery = get_delivery_or_404(_user(request), delivery_id)
    try:
        services.retry_delivery(actor=_require_admin(request), delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Delivery queued again."))
    return redirect("comms:webhook_detail", webhook_id=delivery.webhook.public_id)

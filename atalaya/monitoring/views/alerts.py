"""Alert pages: the list (by client, severity, open or all), one alert with its history
and ticket, snooze and unsnooze.

MSP staff only (anyone else 404); snoozing needs a role that may write tickets (403).
Alerts are loaded by ``get_alert_or_404`` and changed only through monitoring.alerts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.models import AuditEvent, Client, User
from atalaya.monitoring import alerts as alert_services
from atalaya.monitoring.models import Alert, Severity
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
MAX_PAGE = 200
SNOOZE_CHOICES = [
    ("1", gettext_lazy("1 hour")),
    ("4", gettext_lazy("4 hours")),
    ("24", gettext_lazy("1 day")),
    ("72", gettext_lazy("3 days")),
    ("168", gettext_lazy("1 week")),
]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def visible_alerts(user: Any) -> QuerySet[Alert]:
    """Alerts the user may see: every one for active staff, none for anyone else."""
    return Alert.objects.visible_to(user)


def get_alert_or_404(user: Any, public_id: object) -> Alert:
    """One alert by its public id, or 404 (also for whoever may not see alerts)."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    alert = (
        visible_alerts(user)
        .select_related("client", "site", "device", "ticket", "snoozed_by")
        .filter(public_id=key)
        .first()
    )
    if alert is None:
        raise Http404("No such alert")
    return alert


class AlertFilterForm(forms.Form):
    client = forms.ModelChoiceField(
        label=gettext_lazy("Client"),
        queryset=Client.objects.none(),
        required=False,
        to_field_name="public_id",
    )
    severity = forms.ChoiceField(
        label=gettext_lazy("Severity"),
        choices=[("", gettext_lazy("Any"))] + list(Severity.choices),
        required=False,
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        choices=[("open", gettext_lazy("Open")), ("all", gettext_lazy("All"))],
        required=False,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.visible_to(user).order_by("name")  # type: ignore[attr-defined]


class SnoozeForm(forms.Form):
    hours = forms.TypedChoiceField(
        label=gettext_lazy("Snooze for"), choices=SNOOZE_CHOICES, coerce=int, initial="4"
    )


def filtered_alerts(user: User, data: Any) -> tuple[AlertFilterForm, QuerySet[Alert]]:
    """The filter form and the alerts it selects (open ones by default), newest first."""
    form = AlertFilterForm(data or None, user=user)
    rows = visible_alerts(user)
    state = "open"
    if form.is_valid():
        if form.cleaned_data["client"] is not None:
            rows = rows.filter(client=form.cleaned_data["client"])
        if form.cleaned_data["severity"]:
            rows = rows.filter(severity=form.cleaned_data["severity"])
        state = form.cleaned_data["state"] or "open"
    if state == "open":
        rows = rows.filter(resolved_at__isnull=True)
    return form, rows.order_by("-opened_at", "-id")


@staff_view("GET", "HEAD")
def alert_list(request: HttpRequest) -> HttpResponse:
    """Alerts, open ones by default, filterable by client and severity.

    Two queries whatever the page holds: the clients for the filter and the page.
    """
    user = _user(request)
    form, rows = filtered_alerts(user, request.GET)
    try:
        page = max(1, min(MAX_PAGE, int(request.GET.get("page", "1"))))
    except ValueError:
        page = 1
    found = list(
        rows.select_related("client", "site", "device", "ticket")[
            (page - 1) * PER_PAGE : page * PER_PAGE + 1
        ]
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "form": form,
            "alerts": found[:PER_PAGE],
            "page": page,
            "has_next": len(found) > PER_PAGE,
            "query": query.urlencode(),
            "now": timezone.now(),
        },
    )


@staff_view("GET", "HEAD")
def alert_detail(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """One alert: what, where, since when, its ticket, and its history (the audit trail)."""
    alert = get_alert_or_404(_user(request), alert_id)
    history = AuditEvent.objects.filter(object_type="alert", object_id=str(alert.public_id))
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            "alert": alert,
            "history": list(history.select_related("actor").order_by("at", "id")[:200]),
            "snooze_form": SnoozeForm(),
            "now": timezone.now(),
        },
    )


@staff_view("POST", write=True)
def alert_snooze(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """Snooze: no ticket and no notes until the time chosen."""
    user = _user(request)
    alert = get_alert_or_404(user, alert_id)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how long to snooze the alert."))
        return redirect("monitoring:alert_detail", alert_id=alert.public_id)
    until = timezone.now() + timedelta(hours=form.cleaned_data["hours"])
    try:
        alert_services.snooze(alert, actor=user, until=until)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Alert snoozed."))
    return redirect("monitoring:alert_detail", alert_id=alert.public_id)


@staff_view("POST", write=True)
def alert_unsnooze(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """End the snooze now."""
    user = _user(request)
    alert = get_alert_or_404(user, alert_id)
    alert_services.unsnooze(alert, actor=user)
    messages.success(request, _("Snooze ended."))
    return redirect("monitoring:alert_detail", alert_id=alert.public_id)

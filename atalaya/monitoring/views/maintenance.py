"""Maintenance window pages: the list (current and coming first), plan one, cancel one.

MSP staff only (anyone else 404); planning and cancelling need a role that may write
tickets (403). Windows change only through monitoring.maintenance.
"""

from __future__ import annotations

import uuid
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

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, Site, User
from atalaya.monitoring import maintenance
from atalaya.monitoring.models import Device, MaintenanceWindow, Recurrence
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 100


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def visible_windows(user: Any) -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.visible_to(user)


def get_window_or_404(user: Any, public_id: object) -> MaintenanceWindow:
    """One window by its public id, or 404 (also for whoever may not see windows)."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    window = (
        visible_windows(user)
        .select_related("client", "site", "device__site")
        .filter(public_id=key)
        .first()
    )
    if window is None:
        raise Http404("No such maintenance window")
    return window


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class WindowForm(forms.Form):
    """A window's fields; times are read in the signed-in user's zone."""

    client = forms.ModelChoiceField(
        label=gettext_lazy("Client"), queryset=Client.objects.none(), to_field_name="public_id"
    )
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site (empty: every site)"),
        queryset=Site.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    device = forms.ModelChoiceField(
        label=gettext_lazy("Device (empty: every device)"),
        queryset=Device.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"), widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"), widget=DateTimeInput())
    recurrence = forms.ChoiceField(label=gettext_lazy("Repeats"), choices=Recurrence.choices)
    repeat_until = forms.DateTimeField(
        label=gettext_lazy("Repeats until"), required=False, widget=DateTimeInput()
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.visible_to(user).order_by("name")  # type: ignore[attr-defined]
        self.fields["site"].queryset = Site.objects.visible_to(user).select_related("client")  # type: ignore[attr-defined]
        self.fields["device"].queryset = Device.objects.visible_to(user).active()  # type: ignore[attr-defined]


@staff_view("GET", "HEAD")
def window_list(request: HttpRequest) -> HttpResponse:
    """Windows not cancelled and not over, then the rest, newest first (one query)."""
    user = _user(request)
    now = timezone.now()
    rows = list(
        visible_windows(user)
        .select_related("client", "site", "device__site")
        .order_by("-starts_at", "-id")[:PER_PAGE]
    )
    for window in rows:
        window.next = maintenance.next_occurrence(window, now)  # type: ignore[attr-defined]
    return render(request, "monitoring/window_list.html", {"windows": rows, "now": now})


@staff_view("GET", "HEAD", "POST", write=True)
def window_new(request: HttpRequest) -> HttpResponse:
    """Plan a window for a client, a site or a device."""
    user = _user(request)
    form = WindowForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            maintenance.create_window(
                actor=user,
                client=data["client"],
                site=data["site"],
                device=data["device"],
                name=data["name"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                recurrence=data["recurrence"],
                repeat_until=data["repeat_until"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Maintenance window planned."))
            return redirect("monitoring:window_list")
    return render(
        request,
        "monitoring/window_form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@staff_view("POST", write=True)
def window_cancel(request: HttpRequest, window_id: Any) -> HttpResponse:
    """Cancel a window from now on."""
    user = _user(request)
    window = get_window_or_404(user, window_id)
    maintenance.cancel_window(actor=user, window=window)
    messages.success(request, _("Maintenance window cancelled."))
    return redirect("monitoring:window_list")

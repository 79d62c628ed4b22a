"""Remote-action pages: queue one on a device, the list of all actions, one action.

Queueing and cancelling need ``can_run_remote_actions`` (the service answers 403
otherwise); anyone who is not MSP staff gets 404.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.monitoring import actions, forms
from atalaya.monitoring.access import get_action_or_404, get_device_or_404, visible_actions
from atalaya.monitoring.views.devices import _approved_scripts, device_context
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
MAX_PAGE = 200


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@staff_view("POST", write=True)
def action_new(request: HttpRequest, device_id: Any) -> HttpResponse:
    """Queue a reboot or an approved script; kept for the device until it expires."""
    user = _user(request)
    device = get_device_or_404(user, device_id)
    if not user.can_run_remote_actions:
        raise PermissionDenied(_("You may not run remote actions on devices."))
    form = forms.ActionForm(request.POST, scripts=_approved_scripts())
    if form.is_valid():
        try:
            action = actions.queue_action(actor=user, device=device, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Action queued. The device receives it at its next check-in."),
            )
            return redirect("monitoring:action_detail", action_id=action.public_id)
    return render(
        request,
        "monitoring/device_detail.html",
        device_context(request, device, action_form=form),
        status=400,
    )


@staff_view("GET", "HEAD")
def action_list(request: HttpRequest) -> HttpResponse:
    """Every device's actions, newest first, filtered by status; two queries a page."""
    form = forms.ActionFilterForm(request.GET)
    qs = visible_actions(_user(request)).select_related(
        "device", "device__client", "script", "created_by"
    )
    if form.is_valid() and form.cleaned_data["status"]:
        qs = qs.filter(status=form.cleaned_data["status"])
    try:
        page = min(max(int(request.GET.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        page = 1
    start = (page - 1) * PER_PAGE
    rows = list(qs.order_by("-created_at", "-id")[start : start + PER_PAGE + 1])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/action_list.html",
        {
            "form": form,
            "actions": rows[:PER_PAGE],
            "page": page,
            "has_next": len(rows) > PER_PAGE and page < MAX_PAGE,
            "query": query.urlencode(),
        },
    )


@staff_view("GET", "HEAD")
def action_detail(request: HttpRequest, action_id: Any) -> HttpResponse:
    """One action: what was queued (the signed payload), its status and its result."""
    user = _user(request)
    action = get_action_or_404(user, action_id)
    return render(
        request,
        "monitoring/action_detail.html",
        {"action": action, "can_cancel": action.is_waiting and user.can_run_remote_actions},
    )


@staff_view("POST", write=True)
def action_cancel(request: HttpRequest, action_id: Any) -> HttpResponse:
    """Cancel a waiting action: the agent is not offered it again."""
    user = _user(request)
    action = get_action_or_404(user, action_id)
    try:
        actions.cancel_action(actor=user, action=action)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Action cancelled."))
    return redirect("monitoring:action_detail", action_id=action.public_id)

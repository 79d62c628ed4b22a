"""The script library: list, propose, look at, approve (administrators), retire.

A script runs nowhere until an administrator approves it; its body is frozen from
then on. Anyone who is not MSP staff gets 404; approving and retiring need an
administrator (403), proposing a role that may write (403).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.monitoring import actions, forms
from atalaya.monitoring.access import get_script_or_404
from atalaya.monitoring.models import Script
from atalaya.tickets.views.tickets import staff_view


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@staff_view("GET", "HEAD")
def script_list(request: HttpRequest) -> HttpResponse:
    """Approved scripts, those awaiting approval, and retired ones; one query."""
    scripts = list(
        Script.objects.visible_to(_user(request))
        .select_related("created_by", "approved_by")
        .order_by("name")
    )
    return render(
        request,
        "monitoring/script_list.html",
        {
            "approved": [s for s in scripts if s.is_approved],
            "pending": [s for s in scripts if s.approved_at is None and s.retired_at is None],
            "retired": [s for s in scripts if s.retired_at is not None],
        },
    )


@staff_view("GET", "HEAD", "POST", write=True)
def script_new(request: HttpRequest) -> HttpResponse:
    """Propose a script for the library."""
    user = _user(request)
    form = forms.ScriptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            script = actions.create_script(actor=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Script saved. An administrator must approve it."))
            return redirect("monitoring:script_detail", script_id=script.public_id)
    return render(
        request,
        "monitoring/script_form.html",
        {"form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@staff_view("GET", "HEAD")
def script_detail(request: HttpRequest, script_id: Any) -> HttpResponse:
    """A script's body, hash, approval and its latest actions."""
    script = get_script_or_404(_user(request), script_id)
    recent = list(
        script.actions.select_related("device", "device__client", "created_by").order_by(
            "-created_at", "-id"
        )[:20]
    )
    return render(
        request, "monitoring/script_detail.html", {"script": script, "recent_actions": recent}
    )


@staff_view("POST", write=True)
def script_approve(request: HttpRequest, script_id: Any) -> HttpResponse:
    user = _user(request)
    script = get_script_or_404(user, script_id)
    try:
        actions.approve_script(actor=user, script=script)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Script approved: it may now run on devices."))
    return redirect("monitoring:script_detail", script_id=script.public_id)


@staff_view("POST", write=True)
def script_retire(request: HttpRequest, script_id: Any) -> HttpResponse:
    user = _user(request)
    script = get_script_or_404(user, script_id)
    try:
        cancelled = actions.retire_script(actor=user, script=script)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Script retired; %(n)d waiting actions were cancelled.") % {"n": cancelled},
        )
    return redirect("monitoring:script_detail", script_id=script.public_id)

"""Enrollment tokens per site: list with uses and expiry, create (the raw token and the
enroll command shown once), revoke. MSP staff only; changes need a role that may write.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Site, User
from atalaya.monitoring import enrollment, forms
from atalaya.monitoring.access import get_enrollment_token_or_404
from atalaya.monitoring.api import enroll_command
from atalaya.monitoring.models import EnrollmentToken
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 100


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _sites(user: User) -> Any:
    return Site.objects.visible_to(user).select_related("client").order_by("client__name", "name")


@staff_view("GET", "HEAD")
def token_list(request: HttpRequest) -> HttpResponse:
    """Tokens newest first with site, uses and expiry; one query."""
    tokens = list(
        EnrollmentToken.objects.visible_to(_user(request))
        .select_related("site", "site__client", "created_by")
        .order_by("-created_at", "-id")[:PER_PAGE]
    )
    now = timezone.now()
    for token in tokens:
        token.usable = token.is_usable(now)  # type: ignore[attr-defined]
    return render(request, "monitoring/token_list.html", {"tokens": tokens, "now": now})


@staff_view("GET", "HEAD", "POST", write=True)
def token_new(request: HttpRequest) -> HttpResponse:
    """Issue a token for a site; the answer shows it once and is never cached."""
    user = _user(request)
    initial = {}
    if site_id := request.GET.get("site"):
        initial["site"] = site_id
    form = forms.EnrollmentTokenForm(request.POST or None, sites=_sites(user), initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, raw = enrollment.create_enrollment_token(
                actor=user,
                site=data["site"],
                name=data["name"],
                expires_at=form.expires_at(),
                max_uses=data["max_uses"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            response = render(
                request,
                "monitoring/token_created.html",
                {"token": token, "raw": raw, "command": enroll_command(raw)},
            )
            add_never_cache_headers(response)
            return response
    return render(
        request,
        "monitoring/token_form.html",
        {"form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@staff_view("POST", write=True)
def token_revoke(request: HttpRequest, enrollment_token_id: Any) -> HttpResponse:
    user = _user(request)
    token = get_enrollment_token_or_404(user, enrollment_token_id)
    enrollment.revoke_enrollment_token(actor=user, token=token)
    messages.success(request, _("Token revoked: no machine can enroll with it any more."))
    return redirect("monitoring:token_list")

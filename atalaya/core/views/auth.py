"""Sign-in (password, then TOTP when enrolled, with lock-out), sign-out and the home redirect."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from atalaya.core.models import User
from atalaya.core.services import (
    is_locked_out,
    record_login_failure,
    record_login_success,
    verify_totp,
)

PENDING_TOTP = "atalaya_pending_totp_user"
# Per-address limit on sign-in attempts, so one client cannot spray many accounts.
ADDRESS_LIMIT = 30
ADDRESS_WINDOW_S = 15 * 60


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.is_portal:
        return redirect("portal:ticket_list")
    return redirect("tickets:list")


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return "/"


def _address_key(request: HttpRequest) -> str:
    return f"login-failures:{request.META.get('REMOTE_ADDR', '')}"


def _address_blocked(request: HttpRequest) -> bool:
    return (cache.get(_address_key(request)) or 0) >= ADDRESS_LIMIT


def _count_address_failure(request: HttpRequest) -> None:
    key = _address_key(request)
    cache.add(key, 0, ADDRESS_WINDOW_S)
    try:
        cache.incr(key)
    except ValueError:
        # The key expired between add() and incr(): this failure starts a new window.
        cache.set(key, 1, ADDRESS_WINDOW_S)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    error = ""
    username = ""
    if request.method == "POST":
        username = request.POST.get("username", "")[:150]
        password = request.POST.get("password", "")[:1000]
        candidate = User.objects.filter(username=username).first()
        if _address_blocked(request) or (candidate is not None and is_locked_out(candidate)):
            error = _("Too many failed sign-ins. Wait a few minutes and try again.")
        else:
            user = authenticate(request, username=username, password=password)
            if user is None:
                _count_address_failure(request)
                if candidate is not None:
                    record_login_failure(candidate)
                error = _("Wrong user name or password.")
            elif user.has_totp:
                request.session[PENDING_TOTP] = user.pk
                return redirect(f"/login/totp/?{urlencode({'next': _safe_next(request)})}")
            else:
                record_login_success(user)
                login(request, user)
                return redirect(_safe_next(request))
    status = 200 if not error else 400
    return render(
        request,
        "core/login.html",
        {"error": error, "username": username, "next": _safe_next(request)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def login_totp(request: HttpRequest) -> HttpResponse:
    user_id = request.session.get(PENDING_TOTP)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return redirect("login")
    error = ""
    if request.method == "POST":
        if is_locked_out(user) or _address_blocked(request):
            error = _("Too many failed sign-ins. Wait a few minutes and try again.")
        elif verify_totp(user.totp_secret, request.POST.get("code", "")[:12]):
            del request.session[PENDING_TOTP]
            record_login_success(user)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_safe_next(request))
        else:
            record_login_failure(user)
            _count_address_failure(request)
            error = _("That code is not right.")
    return render(
        request,
        "core/login_totp.html",
        {"error": error, "next": _safe_next(request)},
        status=400 if error else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")

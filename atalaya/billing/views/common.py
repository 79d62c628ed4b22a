"""What every billing page shares: who may open it and who may change billing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from atalaya.billing.models import can_write_billing
from atalaya.core.models import User

PAGE_SIZE = 50
SAFE_METHODS = ("GET", "HEAD")
View = Callable[..., HttpResponseBase]


def billing_view(*methods: str, write: bool = False) -> Callable[[View], View]:
    """Allow ``methods`` (else 405) to signed-in MSP staff (else 404); the writes of a
    ``write`` view need the billing role or an administrator (else 403)."""

    def decorator(view: View) -> View:
        @require_http_methods(list(methods))
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = cast(User, request.user)
            if not user.is_msp_staff:
                raise Http404("Not found")
            if write and request.method not in SAFE_METHODS and not can_write_billing(user):
                raise PermissionDenied(_("Your role may not change billing."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def user_of(request: HttpRequest) -> User:
    return cast(User, request.user)


def error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)

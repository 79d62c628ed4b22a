"""The /api/v1 root: one NinjaAPI, bearer-token auth, JSON errors that name the field.

Each app contributes a router from its own ``api.py`` (which takes its helpers from
``atalaya.apiutil``, so importing a router never imports this module half-way).
Every error leaves as
``{"detail": "...", "errors": [{"field": "...", "message": "..."}]}``: schema errors,
service ValidationErrors, unknown or foreign ids (404), bodies that are not JSON
(400) or too large (413), and the rare unexpected failure (a JSON 500, still
reported to Django's error machinery).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import signals
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from atalaya.apiutil import FieldNotFound
from atalaya.core.services import user_for_token

logger = logging.getLogger("atalaya.api")

# Where ninja puts a parameter in an error's location; the client only needs the field.
_LOCATION_PARTS = frozenset({"body", "payload", "query", "path", "filters", "header", "form"})


class BearerToken(HttpBearer):
    """``Authorization: Bearer ata_…``: the token's active user becomes request.user."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Atalaya API",
    version="1",
    description=(
        "Clients, sites, contacts, tickets, their timelines and time entries. "
        "Authenticate with `Authorization: Bearer <token>` (create a token on the account "
        "page or with `atalaya token create USERNAME`). Errors are JSON: "
        '`{"detail": …, "errors": [{"field": …, "message": …}]}`.'
    ),
    urls_namespace="api",
    auth=BearerToken(),
    docs_url="/docs",
)


def _error(
    request: HttpRequest, status: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail, "errors": errors or []}
    return api.create_response(request, body, status=status)


def _field_of(loc: Any) -> str:
    parts = [str(part) for part in (loc or []) if part not in _LOCATION_PARTS]
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def on_schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "missing":
            message = _("This field is required.")
        errors.append({"field": _field_of(err.get("loc")), "message": message})
    return _error(request, 422, _("The request is not valid."), errors)


@api.exception_handler(ValidationError)
def on_service_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": "body" if f == "__all__" else f, "message": str(m)}
            for f, msgs in exc.message_dict.items()
            for m in msgs
        ]
    else:
        errors = [{"field": "body", "message": str(m)} for m in exc.messages]
    return _error(request, 422, _("The request is not valid."), errors)


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or _("Your role may not do this."))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    if isinstance(exc, FieldNotFound):
        return _error(request, 404, exc.message, [{"field": exc.field, "message": exc.message}])
    return _error(request, 404, str(exc) or _("Not found."))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(
        request, 401, _("A valid API token is required: Authorization: Bearer <token>.")
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja raises HttpError(400) when the body does not parse; the cause says where.
    if exc.status_code == 400 and exc.__cause__ is not None:
        if isinstance(exc.__cause__, RequestDataTooBig):
            return on_too_big(request, exc.__cause__)
        message = _("The request body is not valid JSON: %(error)s") % {"error": exc.__cause__}
        return _error(request, 400, message, [{"field": "body", "message": message}])
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    message = _("The request body is too large.")
    return _error(request, 413, message, [{"field": "body", "message": message}])


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Still a bug: log it and let Django's machinery (admins' mail, the test client's
    # re-raise) see it, but answer the API client in the API's own format.
    logger.exception("API request failed: %s %s", request.method, request.path)
    signals.got_request_exception.send(sender=None, request=request)
    return _error(request, 500, _("Something went wrong on our side; it has been logged."))


def _register_routers() -> None:
    from atalaya.billing.api import router as billing_router
    from atalaya.calls.api import router as calls_router
    from atalaya.comms.api import router as comms_router
    from atalaya.comms.api_webhooks import router as webhooks_router
    from atalaya.core.api import router as core_router
    from atalaya.kb.api import router as kb_router
    from atalaya.monitoring.api import router as monitoring_router
    from atalaya.monitoring.api_alerts import router as alerts_router
    from atalaya.reports.api import router as reports_router
    from atalaya.security.api import router as security_router
    from atalaya.tickets.api import router as tickets_router

    api.add_router("/", core_router)
    api.add_router("/tickets", tickets_router)
    api.add_router("/announcements", comms_router)
    api.add_router("/", monitoring_router)
    api.add_router("/", alerts_router)
    api.add_router("/billing", billing_router)
    api.add_router("/", security_router)
    api.add_router("/kb", kb_router)
    api.add_router("/calls", calls_router)
    api.add_router("/reports", reports_router)
    api.add_router("/webhooks", webhooks_router)


_register_routers()

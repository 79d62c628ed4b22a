"""``/agent/v1`` through Django: enrollment and the check-in, one request at a time.

These are the operations of the agent API's own ninja instance (``schema.api``), so
routes and OpenAPI document cannot drift apart. They read the body themselves with the
shared wire checks and store a check-in as a batch of one; no session, no template,
no CSRF (agents are not browsers; the device token is the credential). At scale the
ASGI app (``asgi.py``) serves the same routes with group commit.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from atalaya.monitoring.agent_api.handlers import (
    RETRY_AFTER_S,
    busy,
    dumps,
    error_outcome,
    handle_enroll,
    too_large,
)
from atalaya.monitoring.agent_api.ingest import Outcome, ingest_checkins
from atalaya.monitoring.agent_api.schema import (
    CheckinIn,
    CheckinOut,
    DeviceToken,
    EnrollIn,
    EnrollOut,
    ErrorOut,
    api,
    json_body,
)
from atalaya.monitoring.agent_api.wire import WireError, parse_checkin, token_hash_from_header

log = logging.getLogger("atalaya.agent_api")


def _response(outcome: Outcome) -> HttpResponse:
    response = HttpResponse(
        dumps(outcome.body), status=outcome.status, content_type="application/json"
    )
    if outcome.status in (429, 503):
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _body(request: HttpRequest) -> bytes | Outcome:
    limit = settings.AGENT_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return too_large(limit)
    try:
        body = request.body
    except RequestDataTooBig:
        return too_large(limit)
    if len(body) > limit:
        return too_large(limit)
    return body


ERRORS = {400: ErrorOut, 401: ErrorOut, 413: ErrorOut, 422: ErrorOut, 503: ErrorOut}


@api.post(
    "/enroll",
    response={201: EnrollOut, **ERRORS},
    openapi_extra=json_body(EnrollIn),
    summary="Enroll a device with a site's enrollment token",
)
def enroll(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    if isinstance(body, Outcome):
        return _response(body)
    return _response(handle_enroll(body))


@api.post(
    "/checkin",
    auth=DeviceToken(),
    response={200: CheckinOut, **ERRORS},
    openapi_extra=json_body(CheckinIn),
    summary="Report samples, state and results; receive actions and configuration",
)
def checkin(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    if isinstance(body, Outcome):
        return _response(body)
    try:
        token_hash = token_hash_from_header(request.META.get("HTTP_AUTHORIZATION"))
        parsed = parse_checkin(body, token_hash)
    except WireError as exc:
        return _response(error_outcome(exc))
    try:
        (outcome,) = ingest_checkins([parsed])
    except DatabaseError:
        log.exception("check-in failed in the database")
        outcome = busy()
    return _response(outcome)

"""The ring webhook: ``POST /hooks/calls/<phone system id>/ring/`` from a PBX.

No session and no CSRF token: the request proves itself with
``X-Atalaya-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` under the phone
system's secret, or, for PBXs that cannot sign, ``?token=<the secret>`` in the URL.
The body is JSON or a form: ``caller`` (the calling number, any usual form),
``extension`` (the one that rings) and ``call_id`` (the PBX's id of the call; the
same id again is the same call, so retries are harmless).

Every refusal is JSON shaped like the API's errors, in this order of checks, so an
unsigned request learns nothing about which phone systems exist:

* 405 for anything but POST; 413 for a body over 8 KB;
* 401 when neither a signature nor a token is given;
* 404 for an unknown phone system; 403 for a switched-off one or a wrong signature;
* 400 for a body that is not a JSON object or a form; 422 naming the bad field
  (a caller that is not a phone number, a missing call_id).

201 with the ring (and the matched contact) for a new call, 200 for a repeated one.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from atalaya.calls import services
from atalaya.calls.models import PhoneSystem, Ring

MAX_BODY = 8 * 1024
SIGNATURE_HEADER = "X-Atalaya-Signature"


def _error(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": errors or []}, status=status)


def _length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _fields(request: HttpRequest, body: bytes) -> dict[str, Any] | None:
    """The body's fields (JSON object or form), or None when it is neither."""
    content_type = (request.content_type or "").lower()
    text = body.decode("utf-8", "strict")
    if content_type == "application/json" or text.lstrip().startswith("{"):
        value = json.loads(text)
        return value if isinstance(value, dict) else None
    form = QueryDict(text, encoding="utf-8")
    return {key: form.get(key) for key in form}


def _ring_out(ring: Ring, created: bool) -> dict[str, Any]:
    contact = ring.contact
    call = ring.call
    return {
        "ring": ring.pk,
        "duplicate": not created,
        "caller": ring.caller,
        "extension": ring.extension,
        "technician": ring.technician.username if ring.technician else None,
        "contact": {"id": str(contact.public_id), "name": contact.name} if contact else None,
        "client": ({"id": str(call.client.public_id), "name": call.client.name} if call else None),
        "call": str(call.public_id) if call else None,
    }


@csrf_exempt
@require_POST
def ring(request: HttpRequest, phone_system_id: str) -> HttpResponse:
    """A PBX reports a ringing call: log it and show it to the extension's technician."""
    if _length(request) > MAX_BODY:
        return _error(413, _("The body is larger than 8 KB."))
    body = request.body
    if len(body) > MAX_BODY:
        return _error(413, _("The body is larger than 8 KB."))
    signature = request.headers.get(SIGNATURE_HEADER, "")
    token = request.GET.get("token", "")
    if not signature and not token:
        return _error(
            401,
            _("Sign the body (X-Atalaya-Signature: sha256=…) or pass ?token=."),
            [{"field": SIGNATURE_HEADER, "message": _("Missing.")}],
        )
    try:
        system_uuid = uuid.UUID(phone_system_id)
    except ValueError:
        system_uuid = None
    system = PhoneSystem.objects.filter(public_id=system_uuid).first() if system_uuid else None
    if system is None:
        return _error(404, _("No such phone system."))
    if not system.is_active:
        return _error(403, _("This phone system is switched off in Atalaya."))
    if signature:
        good = hmac.compare_digest(signature.strip().lower(), system.signature_of(body))
        field = SIGNATURE_HEADER
    else:
        good = hmac.compare_digest(token.encode(), system.secret.encode())
        field = "token"
    if not good:
        return _error(
            403,
            _("The signature does not match this phone system's secret."),
            [{"field": field, "message": _("Does not match.")}],
        )
    try:
        fields = _fields(request, body)
    except (UnicodeDecodeError, ValueError):
        fields = None
    if fields is None:
        return _error(400, _("The body must be a JSON object or a form."))
    try:
        found, created = services.record_ring(
            phone_system=system,
            caller=fields.get("caller"),
            extension=fields.get("extension", ""),
            call_id=fields.get("call_id"),
        )
    except ValidationError as exc:
        errors = [
            {"field": name, "message": message}
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
        return _error(422, _("The ring is not valid."), errors)
    found = Ring.objects.select_related("contact", "technician", "call__client").get(pk=found.pk)
    return JsonResponse(_ring_out(found, created), status=201 if created else 200)

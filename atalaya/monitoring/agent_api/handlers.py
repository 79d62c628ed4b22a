"""What both front doors do with a request body, apart from how the bytes arrive.

The Django views and the ASGI app call these, so an agent gets the same answer from
either: enrollment here in full, the check-in split into parsing (in the request's own
thread or event loop) and storing (``ingest.ingest_checkins``, batched by the caller).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError

from atalaya.monitoring import signing
from atalaya.monitoring.agent_api.ingest import Outcome
from atalaya.monitoring.agent_api.wire import WireError, parse_enroll
from atalaya.monitoring.agent_config import agent_config
from atalaya.monitoring.enrollment import EnrollmentRefused, enroll_device

log = logging.getLogger("atalaya.agent_api")

# A busy or unreachable database: the agent spools and tries again after this long.
RETRY_AFTER_S = 15


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def busy(detail: str = "The server is busy; try again later.") -> Outcome:
    return Outcome(503, {"detail": detail, "errors": []})


def error_outcome(exc: WireError) -> Outcome:
    return Outcome(exc.status, exc.body())


def too_large(limit: int) -> Outcome:
    return Outcome(413, {"detail": f"The body is larger than {limit} bytes.", "errors": []})


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": name, "message": str(message)}
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


def handle_enroll(body: bytes) -> Outcome:
    """``POST /agent/v1/enroll``: a device and its token for a usable enrollment token."""
    try:
        data = parse_enroll(body)
    except WireError as exc:
        return error_outcome(exc)
    try:
        device, raw_token = enroll_device(
            raw_token=data["token"],
            hostname=data["hostname"],
            machine_id=data["machine_id"],
            platform=data["platform"],
            os_name=data["os_name"],
            os_version=data["os_version"],
            agent_version=data["agent_version"],
        )
    except EnrollmentRefused as exc:
        return Outcome(401, {"detail": exc.message, "reason": exc.reason, "errors": []})
    except ValidationError as exc:
        return Outcome(422, {"detail": "Invalid enrollment request.", "errors": field_errors(exc)})
    except DatabaseError:
        log.exception("enrollment failed in the database")
        return busy()
    return Outcome(
        201,
        {
            "device_id": str(device.public_id),
            "device_token": raw_token,
            "signing_public_key": signing.public_key_b64(),
            "checkin_interval_s": device.checkin_interval_s,
            "server_time": int(time.time()),
            "config": agent_config(device),
        },
    )

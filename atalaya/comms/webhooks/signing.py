"""Webhook secrets and signatures.

The secret is derived, never stored: HMAC-SHA256 of ``webhook:<public id>:<version>``
under the install's SECRET_KEY, as hex. A leaked database therefore leaks no secret;
rotating bumps the version; changing SECRET_KEY changes every webhook's secret.

Each request is signed over ``<timestamp>.<body>`` so a captured request cannot be
replayed later with a new timestamp. A receiver verifies like this (Python)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()
    ok = hmac.compare_digest("sha256=" + expected, request.headers["X-Atalaya-Signature"])

and refuses timestamps more than a few minutes away from its own clock.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

SIGNATURE_HEADER = "X-Atalaya-Signature"
TIMESTAMP_HEADER = "X-Atalaya-Timestamp"
EVENT_HEADER = "X-Atalaya-Event"
DELIVERY_HEADER = "X-Atalaya-Delivery"

VERIFY_HELP = (
    "Each request carries X-Atalaya-Event, X-Atalaya-Delivery (the delivery id: the same "
    "on every retry, so a receiver can drop repeats), X-Atalaya-Timestamp (Unix seconds) "
    "and X-Atalaya-Signature: sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' keyed with "
    "the webhook's secret>. Compute it over the raw body bytes, compare in constant time "
    "and refuse timestamps more than 5 minutes old."
)


def secret_for(public_id: object, version: int) -> str:
    """The signing secret of a webhook at a secret version (hex, 64 characters)."""
    message = f"webhook:{public_id}:{version}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Atalaya-Signature value of a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: int | str, body: bytes, header: str) -> bool:
    """True when ``header`` is the signature of ``body`` at ``timestamp`` (for receivers
    and tests; constant-time)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")

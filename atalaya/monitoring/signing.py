"""The Ed25519 key that signs remote actions, and the canonical form agents verify.

An action reaches the agent as ``{"payload": <canonical JSON text>, "signature":
<base64>}``. The agent verifies the signature over the payload's exact UTF-8 bytes
before it parses anything, so no JSON re-encoding on either side can change what was
signed. The private key lives in a file (``settings.AGENT_SIGNING_KEY_FILE``, mode
0600), created on first use, never in the database: a database dump must not let
anyone make the fleet run code.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

_lock = threading.Lock()
_cache: dict[Path, Ed25519PrivateKey] = {}


def canonical_json(data: dict[str, Any]) -> str:
    """Sorted keys, no spaces, ASCII only: one text for one action, on every platform."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pem = path.read_bytes()
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            return key
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def private_key() -> Ed25519PrivateKey:
    path = Path(settings.AGENT_SIGNING_KEY_FILE)
    with _lock:
        key = _cache.get(path)
        if key is None:
            key = _cache[path] = _load_or_create(path)
        return key


def public_key_b64() -> str:
    """The raw 32-byte public key, base64: what enrollment hands to the agent."""
    raw = (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def sign(payload: dict[str, Any]) -> tuple[str, str]:
    """The canonical text of ``payload`` and its base64 Ed25519 signature."""
    text = canonical_json(payload)
    signature = private_key().sign(text.encode())
    return text, base64.b64encode(signature).decode()

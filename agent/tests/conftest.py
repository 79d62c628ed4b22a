"""Helpers of the agent's own tests: a signing key like the server's, a fresh state dir."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from atalaya_agent.config import LocalConfig, State
from atalaya_agent.spool import Spool
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEVICE_ID = "6f1c2a8e-0000-4000-8000-000000000001"


class Signer:
    """Signs action payloads the way the server does (canonical JSON, Ed25519)."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    @property
    def public_b64(self) -> str:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def payload(self, kind: str = "reboot", **fields: Any) -> dict[str, Any]:
        now = int(time.time())
        payload: dict[str, Any] = {
            "v": 1,
            "id": str(uuid.uuid4()),
            "device_id": DEVICE_ID,
            "kind": kind,
            "script": None,
            "args": [],
            "nonce": uuid.uuid4().hex,
            "issued_at": now,
            "expires_at": now + 3600,
        }
        payload.update(fields)
        return payload

    def script_payload(
        self,
        body: str,
        *,
        interpreter: str = "sh",
        args: list[str] | None = None,
        timeout_s: int = 30,
    ) -> dict[str, Any]:
        script = {
            "name": "test",
            "interpreter": interpreter,
            "body": body,
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
            "timeout_s": timeout_s,
        }
        return self.payload("run_script", script=script, args=args or [])

    def envelope(self, payload: dict[str, Any]) -> dict[str, str]:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        signature = base64.b64encode(self.key.sign(text.encode())).decode()
        return {"payload": text, "signature": signature}


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


@pytest.fixture
def enrolled_dir(tmp_path: Path, signer: Signer) -> Path:
    """A state directory as `enroll` leaves it, for a server at ``http://127.0.0.1:9``."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    State(
        state_dir=state_dir,
        server="http://127.0.0.1:9",
        device_id=DEVICE_ID,
        signing_public_key=signer.public_b64,
        token="atd_test",
        server_config={"version": 1, "checkin_interval_s": 60, "services": [], "processes": []},
    ).save(token=True)
    return state_dir


def config(**overrides: Any) -> LocalConfig:
    return LocalConfig(**overrides)

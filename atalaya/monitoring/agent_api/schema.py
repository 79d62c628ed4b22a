"""The agent API as django-ninja sees it: routes, the device-token auth, the OpenAPI document.

The models here document the wire format of agent/PROTOCOL.md; they do not validate it.
Validation is ``wire.py``'s, shared with the ASGI app, so both front doors answer a bad
request the same way. The operations read the body themselves (no body parameter), so
ninja parses nothing twice; their request bodies reach the schema by ``openapi_extra``.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from pydantic import Field
from pydantic.json_schema import models_json_schema

from atalaya.monitoring.agent_api.wire import MAX_SAMPLES, TOKEN_PREFIX

REF = "#/components/schemas/{model}"


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] = []


class AgentConfig(Schema):
    version: int
    checkin_interval_s: int
    services: list[str]
    processes: list[str]


class EnrollIn(Schema):
    token: str = Field(description="The site's enrollment token, ate_…")
    hostname: str = Field(max_length=255)
    machine_id: str = Field("", max_length=128)
    platform: str = Field("", max_length=20)
    os_name: str = Field("", max_length=120)
    os_version: str = Field("", max_length=120)
    agent_version: str = Field("", max_length=40)


class EnrollOut(Schema):
    device_id: str
    device_token: str = Field(description="atd_…, shown once: send as Authorization: Bearer")
    signing_public_key: str = Field(description="Ed25519 raw public key, base64")
    checkin_interval_s: int
    server_time: int
    config: AgentConfig


class SampleVolume(Schema):
    mount: str = Field(max_length=500)
    free: int = Field(ge=0)
    used_pct: float = Field(ge=0, le=100)


class SampleIn(Schema):
    t: int = Field(description="epoch seconds collected")
    n: int = Field(1, ge=1, description="how many samples the spool averaged into this one")
    cpu_pct: float | None = Field(None, ge=0, le=100)
    mem_pct: float | None = Field(None, ge=0, le=100)
    swap_pct: float | None = Field(None, ge=0, le=100)
    load1: float | None = Field(None, ge=0)
    volumes: list[SampleVolume] = []


class StateVolume(Schema):
    mount: str = Field(max_length=500)
    device: str = Field("", max_length=255)
    fstype: str = Field("", max_length=40)
    total: int = Field(ge=0)
    used: int = Field(ge=0)
    free: int = Field(ge=0)
    read_only: bool = False


class Smart(Schema):
    device: str
    healthy: bool | None
    model: str = ""
    temperature_c: float | None = None


class StateIn(Schema):
    t: int
    uptime_s: int | None = None
    boot_time: int | None = None
    reboot_pending: bool | None = None
    users: list[str] = []
    volumes: list[StateVolume] = []
    services: dict[str, str] = {}
    processes: dict[str, int] = {}
    smart: list[Smart] | None = None
    missing: list[str] = []


class InventoryIn(Schema):
    hash: str = Field(max_length=64)
    data: dict[str, Any]


class JobIn(Schema):
    name: str = Field(max_length=100)
    t: int
    ok: bool
    message: str = Field("", max_length=500)


class ResultIn(Schema):
    action_id: str
    nonce: str = ""
    status: Literal["succeeded", "failed", "refused"]
    exit_code: int | None = None
    output: str = Field("", description="the last 64 KiB of the combined output")
    duration_ms: int | None = Field(None, ge=0)
    finished_at: int | None = None
    reason: str = Field("", max_length=300)


class CheckinIn(Schema):
    agent_version: str = Field("", max_length=40)
    sent_at: int = Field(description="the agent's clock when it sent this, epoch seconds")
    config_version: int = 0
    scripts_enabled: bool = False
    samples: list[SampleIn] = Field([], max_length=MAX_SAMPLES)
    state: StateIn | None = None
    inventory: InventoryIn | None = None
    jobs: list[JobIn] = []
    results: list[ResultIn] = []


class SignedAction(Schema):
    payload: str = Field(description="canonical JSON of the action; verify before parsing")
    signature: str = Field(description="Ed25519 signature of the payload's bytes, base64")


class CheckinOut(Schema):
    server_time: int
    accepted: int
    duplicates: int
    rejected: int = Field(description="samples too old for the raw history or from the future")
    inventory_hash: str
    next_checkin_s: int
    config: AgentConfig | None
    actions: list[SignedAction]


class DeviceToken(HttpBearer):
    """A device's own token (``atd_…``): the check-in decides the device by it alone.

    Only the shape is checked here; the check-in's batched store looks the token up
    with the rest of its batch, so a request costs no query of its own for it.
    """

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
            return token
        return None


class AgentAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        _refs, defs = models_json_schema(
            [(CheckinIn, "validation"), (EnrollIn, "validation")], ref_template=REF
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        return schema


def json_body(model: type[Schema]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
    }


api = AgentAPI(
    title="Atalaya agent API",
    version="1",
    description="What atalaya-agent speaks (agent/PROTOCOL.md). Device tokens only.",
    urls_namespace="agent_api",
    docs_url=None,
    openapi_url="/openapi.json",
)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> Any:
    return api.create_response(
        request, {"detail": "Missing or invalid device token.", "errors": []}, status=401
    )

"""Bad input to the agent API: a clear error naming the field, or an idempotent accept.

Never a 500, never something stored twice. Through the Django front door (the ASGI
app shares the same parsing, see test_agent_asgi.py) and by property: any JSON a
broken agent could send gets one of the protocol's answers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client as HttpClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from atalaya.monitoring.agent_api.ingest import ingest_checkins
from atalaya.monitoring.agent_api.wire import WireError, parse_checkin
from atalaya.monitoring.models import JobHeartbeat, MetricSample, VolumeSample
from atalaya.monitoring.tests.agent_helpers import checkin_body, enrolled, sample


@pytest.fixture(autouse=True)
def _signing_key(tmp_path: Any, settings: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def post(path: str, token: str | None, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return HttpClient().post(path, data=data, content_type="application/json", headers=headers)


def fields_of(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def _with(path: str, value: Any) -> dict[str, Any]:
    """A good check-in with one value replaced; ``path`` like ``samples.0.cpu_pct``."""
    body = checkin_body()
    target: Any = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return body


CASES = [
    ("sent_at", "yesterday", "sent_at"),
    ("sent_at", None, "sent_at"),
    ("sent_at", 1764650000000, "sent_at"),  # milliseconds
    ("sent_at", True, "sent_at"),
    ("config_version", -1, "config_version"),
    ("scripts_enabled", "yes", "scripts_enabled"),
    ("agent_version", "v" * 41, "agent_version"),
    ("samples", {"t": 1}, "samples"),
    ("samples.0.t", "now", "samples[0].t"),
    ("samples.0.t", -5, "samples[0].t"),
    ("samples.0.n", 0, "samples[0].n"),
    ("samples.0.cpu_pct", 101, "samples[0].cpu_pct"),
    ("samples.0.cpu_pct", -0.5, "samples[0].cpu_pct"),
    ("samples.0.mem_pct", [1], "samples[0].mem_pct"),
    ("samples.0.load1", 1e300, "samples[0].load1"),
    ("samples.0.volumes", "all", "samples[0].volumes"),
    ("samples.0.volumes.0.free", -1, "samples[0].volumes[0].free"),
    ("samples.0.volumes.0.free", 2**70, "samples[0].volumes[0].free"),
    ("samples.0.volumes.0.mount", "", "samples[0].volumes[0].mount"),
    ("samples.0.volumes.0.mount", "/" * 501, "samples[0].volumes[0].mount"),
    ("samples.0.volumes.0.used_pct", "half", "samples[0].volumes[0].used_pct"),
    ("state", [], "state"),
    ("state.t", None, "state.t"),
    ("state.users", "ana", "state.users"),
    ("state.users.0", 7, "state.users[0]"),
    ("state.volumes.0.total", "big", "state.volumes[0].total"),
    ("state.volumes.0.read_only", "no", "state.volumes[0].read_only"),
    ("state.services", ["cups"], "state.services"),
    ("state.services.cups", 1, "state.services.cups"),
    ("state.processes.backupd", -1, "state.processes.backupd"),
    ("state.smart", {"device": "/dev/sda"}, "state.smart"),
    ("state.missing", [None], "state.missing[0]"),
    ("inventory", "x", "inventory"),
    ("jobs", [{"name": "", "t": 1764650000, "ok": True}], "jobs[0].name"),
    ("jobs", [{"name": "b", "t": 1764650000, "ok": "fine"}], "jobs[0].ok"),
    ("results", [{"action_id": "nope", "status": "succeeded"}], "results[0].action_id"),
    (
        "results",
        [{"action_id": "6f1c1b8e-5b44-4f4e-9d3c-2e1a7b6c5d4e", "status": "done"}],
        "results[0].status",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "value", "field"), CASES, ids=[c[0] for c in CASES])
def test_wrong_values_are_422_naming_the_field(
    world: Any, path: str, value: Any, field: str
) -> None:
    _device, token = enrolled(world)
    response = post("/agent/v1/checkin", token, _with(path, value))
    assert response.status_code == 422, response.content
    assert field in fields_of(response), response.json()
    assert not MetricSample.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(world: Any, literal: str) -> None:
    _device, token = enrolled(world)
    text = json.dumps(checkin_body()).replace('"cpu_pct": 12.5', f'"cpu_pct": {literal}')
    response = post("/agent/v1/checkin", token, text)
    assert response.status_code == 422
    assert fields_of(response) == {"samples[0].cpu_pct"}
    assert "finite" in response.json()["errors"][0]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff\xfe", b"[" * 100_000, b'{"sent_at": 1' + b"0" * 5000 + b"}"],
    ids=["empty", "truncated", "not-utf8", "deep", "huge-int"],
)
def test_not_json_is_400(world: Any, body: bytes) -> None:
    _device, token = enrolled(world)
    response = post("/agent/v1/checkin", token, body)
    assert response.status_code == 400, response.content
    assert "JSON" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["[]", "null", "7", '"x"'])
def test_json_that_is_not_an_object_is_422(world: Any, body: str) -> None:
    _device, token = enrolled(world)
    assert post("/agent/v1/checkin", token, body).status_code == 422


@pytest.mark.django_db
def test_too_many_samples(world: Any) -> None:
    _device, token = enrolled(world)
    now = int(time.time())
    body = checkin_body(now, samples=[sample(now - i) for i in range(501)])
    response = post("/agent/v1/checkin", token, body)
    assert response.status_code == 422 and fields_of(response) == {"samples"}
    body["samples"] = body["samples"][:500]
    assert post("/agent/v1/checkin", token, body).json()["accepted"] == 500


@pytest.mark.django_db
def test_huge_body_is_413(world: Any, settings: Any) -> None:
    _device, token = enrolled(world)
    body = json.dumps(checkin_body(inventory={"hash": "a", "data": {"x": "y" * 2_000_000}}))
    response = post("/agent/v1/checkin", token, body)
    assert response.status_code == 413 and "larger" in response.json()["detail"]
    settings.AGENT_MAX_BODY_BYTES = 100
    response = post("/agent/v1/enroll", None, {"token": "ate_x", "hostname": "h" * 200})
    assert response.status_code == 413


@pytest.mark.django_db
def test_long_free_text_is_cut_not_refused(world: Any) -> None:
    device, token = enrolled(world)
    body = checkin_body(
        jobs=[{"name": "b", "t": int(time.time()), "ok": True, "message": "m" * 900}]
    )
    assert post("/agent/v1/checkin", token, body).status_code == 200
    assert len(JobHeartbeat.objects.get(device=device).message) == 500


@pytest.mark.django_db
def test_duplicate_mountpoints_in_a_sample(world: Any) -> None:
    _device, token = enrolled(world)
    body = checkin_body()
    body["samples"][0]["volumes"].append(dict(body["samples"][0]["volumes"][0]))
    response = post("/agent/v1/checkin", token, body)
    assert response.status_code == 422 and fields_of(response) == {"samples[0].volumes[3].mount"}


@pytest.mark.django_db
def test_enrollment_bad_input(world: Any) -> None:
    for body, status, field in [
        ("{", 400, None),
        ([], 422, ""),
        ({"hostname": "h"}, 422, "token"),
        ({"token": "ate_x"}, 422, "hostname"),
        ({"token": "ate_x", "hostname": 5}, 422, "hostname"),
        ({"token": "ate_x", "hostname": "h", "platform": ["linux"]}, 422, "platform"),
    ]:
        response = post("/agent/v1/enroll", None, body)
        assert response.status_code == status, (body, response.content)
        if field is not None:
            assert field in fields_of(response)
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.monitoring.enrollment import create_enrollment_token

    _t, raw = create_enrollment_token(
        actor=None, site=world.site_a, name="x", expires_at=timezone.now() + timedelta(1)
    )
    long_name = post("/agent/v1/enroll", None, {"token": raw, "hostname": "h" * 300})
    assert long_name.status_code == 422 and fields_of(long_name) == {"hostname"}
    # The refused request did not use the token up.
    assert post("/agent/v1/enroll", None, {"token": raw, "hostname": "h"}).status_code == 201


# --- any JSON at all ---------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
GOOD = checkin_body(1_764_650_000)
mutations = st.fixed_dictionaries(
    {},
    optional={key: json_values for key in GOOD},
)


@pytest.mark.django_db
@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=mutations,
    sample_change=st.dictionaries(
        st.sampled_from(list(GOOD["samples"][0])), json_values, max_size=3
    ),
)
def test_any_json_gets_an_answer_of_the_protocol(
    world: Any, changes: dict[str, Any], sample_change: dict[str, Any]
) -> None:
    body = json.loads(json.dumps(GOOD))
    body["sent_at"] = int(time.time())
    body["samples"][0]["t"] = body["sent_at"] - 1
    body["samples"][0].update(sample_change)
    body.update(changes)
    raw = json.dumps(body).encode()
    token_hash = "0" * 64
    try:
        parsed = parse_checkin(raw, token_hash)
    except WireError as exc:
        assert exc.status in (400, 422)
        assert exc.status == 400 or exc.errors
        return
    # Whatever passed the checks can be stored (here for an unknown token: a 401).
    (outcome,) = ingest_checkins([parsed])
    assert outcome.status == 401


@pytest.mark.django_db
def test_anything_that_parses_is_stored_once(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    odd = checkin_body(
        now,
        samples=[
            {"t": now - 3, "cpu_pct": None, "mem_pct": None, "swap_pct": None, "load1": None},
            {"t": now - 2, "cpu_pct": 100, "volumes": []},
            {"t": float(now - 1), "cpu_pct": 0},
        ],
    )
    odd["state"]["smart"] = [{"device": "/dev/sda", "healthy": None, "temperature_c": None}]
    for _ in range(3):
        response = post("/agent/v1/checkin", token, odd)
        assert response.status_code == 200, response.content
    assert MetricSample.objects.filter(device=device).count() == 3
    assert VolumeSample.objects.filter(volume__device=device).count() == 0

"""Enrollment tokens and enrolling a device: the service and ``POST /agent/v1/enroll``."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.test import Client as HttpClient
from django.utils import timezone

from atalaya.core.models import AuditEvent, hash_token
from atalaya.monitoring import signing
from atalaya.monitoring.enrollment import (
    EnrollmentRefused,
    create_enrollment_token,
    enroll_device,
    revoke_enrollment_token,
)
from atalaya.monitoring.models import Device, EnrollmentToken
from atalaya.monitoring.tests.agent_helpers import threads_use_a_file_database

MACHINE = {
    "hostname": "pc-ana",
    "machine_id": "4f1c0000aaaa",
    "platform": "linux",
    "os_name": "Debian GNU/Linux",
    "os_version": "12",
    "agent_version": "0.1.0",
}


@pytest.fixture(autouse=True)
def _signing_key(tmp_path: Any, settings: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def _token(world: Any, **kw: Any) -> tuple[EnrollmentToken, str]:
    kw.setdefault("expires_at", timezone.now() + timedelta(days=1))
    return create_enrollment_token(actor=world.tech, site=world.site_a, name="Roll-out", **kw)


def _enroll(raw: str, **kw: Any) -> tuple[Device, str]:
    return enroll_device(raw_token=raw, **{**MACHINE, **kw})


@pytest.mark.django_db
def test_create_token_stores_hash_and_audits(world: Any) -> None:
    token, raw = _token(world, max_uses=3)
    assert raw.startswith("ate_") and token.token_hash == hash_token(raw)
    assert raw not in token.token_hash and token.hint == raw[-4:]
    assert token.client == world.client_a and token.max_uses == 3
    assert AuditEvent.objects.filter(object_id=str(token.public_id), action="created").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
        ({"expires_at": timezone.now() + timedelta(days=400)}, "expires_at"),
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": 10**9}, "max_uses"),
        ({"name": ""}, "name"),
    ],
)
def test_create_token_errors_name_the_field(world: Any, kw: dict[str, Any], field: str) -> None:
    kw = {"name": "x", "expires_at": timezone.now() + timedelta(days=1), **kw}
    with pytest.raises(ValidationError) as err:
        create_enrollment_token(actor=world.tech, site=world.site_a, **kw)
    assert set(err.value.message_dict) == {field}
    assert not EnrollmentToken.objects.exists()


@pytest.mark.django_db
def test_only_ticket_writers_create_or_revoke(world: Any) -> None:
    with pytest.raises(PermissionDenied):
        create_enrollment_token(
            actor=world.readonly,
            site=world.site_a,
            name="x",
            expires_at=timezone.now() + timedelta(days=1),
        )
    token, _raw = _token(world)
    with pytest.raises(PermissionDenied):
        revoke_enrollment_token(actor=world.readonly, token=token)
    with pytest.raises(PermissionDenied):
        revoke_enrollment_token(actor=world.portal_a, token=token)
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
def test_enroll_good_token(world: Any) -> None:
    token, raw = _token(world)
    device, device_token = _enroll(raw)
    assert device_token.startswith("atd_") and device.token_hash == hash_token(device_token)
    assert device.client == world.client_a and device.site == world.site_a
    assert device.hostname == "pc-ana" and device.enrolled_with == token
    token.refresh_from_db()
    assert token.uses == 1
    assert AuditEvent.objects.filter(object_id=str(device.public_id), action="enrolled").exists()


@pytest.mark.django_db
def test_refusals_say_why(world: Any) -> None:
    _token_row, raw = _token(world, max_uses=1)
    _enroll(raw)
    with pytest.raises(EnrollmentRefused) as err:
        _enroll(raw, machine_id="other")
    assert err.value.reason == "used_up" and "used up" in str(err.value)

    expired, raw_expired = _token(world)
    EnrollmentToken.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(EnrollmentRefused) as err:
        _enroll(raw_expired)
    assert err.value.reason == "expired" and "expired" in str(err.value)

    revoked, raw_revoked = _token(world)
    revoke_enrollment_token(actor=world.tech, token=revoked)
    assert AuditEvent.objects.filter(object_id=str(revoked.public_id), action="revoked").exists()
    with pytest.raises(EnrollmentRefused) as err:
        _enroll(raw_revoked)
    assert err.value.reason == "revoked" and "revoked" in str(err.value)

    for wrong in ("ate_nope", "atd_" + raw[4:], "", "x" * 5000):
        with pytest.raises(EnrollmentRefused) as err:
            _enroll(wrong)
        assert err.value.reason == "unknown"
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_same_machine_same_site_rekeys(world: Any) -> None:
    _t, raw = _token(world, max_uses=5)
    first, old_token = _enroll(raw)
    again, new_token = _enroll(raw, hostname="pc-ana-renamed")
    assert again.pk == first.pk and again.public_id == first.public_id
    assert new_token != old_token
    again.refresh_from_db()
    assert again.token_hash == hash_token(new_token) and again.hostname == "pc-ana-renamed"
    assert not Device.objects.filter(token_hash=hash_token(old_token)).exists()
    other, _ = _enroll(raw, machine_id="another-machine")
    assert other.pk != first.pk
    # Another site's token makes a device of its own even for the same machine.
    _tb, raw_b = create_enrollment_token(
        actor=world.tech, site=world.site_b, name="B", expires_at=timezone.now() + timedelta(1)
    )
    at_b, _ = _enroll(raw_b)
    assert at_b.pk != first.pk and at_b.client == world.client_b


@pytest.mark.django_db
def test_bad_machine_fields_name_the_field(world: Any) -> None:
    token, raw = _token(world)
    with pytest.raises(ValidationError) as err:
        _enroll(raw, hostname="h" * 300)
    assert set(err.value.message_dict) == {"hostname"}
    with pytest.raises(ValidationError) as err:
        _enroll(raw, platform=["linux"])
    assert set(err.value.message_dict) == {"platform"}
    token.refresh_from_db()
    assert token.uses == 0


def _post(http: HttpClient, body: Any) -> Any:
    return http.post(
        "/agent/v1/enroll",
        data=body if isinstance(body, (str, bytes)) else json.dumps(body),
        content_type="application/json",
    )


@pytest.mark.django_db
def test_enroll_endpoint(world: Any) -> None:
    _t, raw = _token(world)
    http = HttpClient(enforce_csrf_checks=True)
    response = _post(http, {"token": raw, **MACHINE})
    assert response.status_code == 201, response.content
    data = response.json()
    device = Device.objects.get()
    assert data["device_id"] == str(device.public_id)
    assert data["device_token"].startswith("atd_")
    assert data["signing_public_key"] == signing.public_key_b64()
    assert (
        data["checkin_interval_s"] == 60
        and abs(data["server_time"] - timezone.now().timestamp()) < 5
    )
    assert data["config"] == {
        "version": 1,
        "checkin_interval_s": 60,
        "services": [],
        "processes": [],
    }
    assert "sessionid" not in response.cookies

    again = _post(http, {"token": raw, **MACHINE})
    assert again.status_code == 401 and "used up" in again.json()["detail"]
    wrong = _post(http, {"token": "ate_wrong", **MACHINE})
    assert wrong.status_code == 401 and "Unknown" in wrong.json()["detail"]
    bad = _post(http, "{not json")
    assert bad.status_code == 400 and bad.json()["detail"]
    missing = _post(http, {"token": raw})
    assert missing.status_code == 422
    assert "hostname" in {e["field"] for e in missing.json()["errors"]}
    assert http.get("/agent/v1/enroll").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrollments_respect_max_uses(world: Any, tmp_path: Any) -> None:
    _t, raw = _token(world, max_uses=3)
    with threads_use_a_file_database(tmp_path):
        _race(raw)


def _race(raw: str) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def attempt(i: int) -> None:
        try:
            start.wait()
            try:
                _enroll(raw, machine_id=f"m{i}")
                result = "ok"
            except EnrollmentRefused as exc:
                result = exc.reason
            with lock:
                outcomes.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["used_up"] * 5
    assert Device.objects.count() == 3
    assert EnrollmentToken.objects.get().uses == 3

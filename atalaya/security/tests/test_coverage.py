"""Protection coverage: agent evidence, heartbeats, attestations (newer supersedes,
expiry), score and gaps, bad input, pages and API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.core.services import create_api_token
from atalaya.monitoring.models import Device, JobHeartbeat
from atalaya.security import coverage

pytestmark = pytest.mark.django_db


def _device(world, name, client=None, site=None, inventory=None):
    return Device.objects.create(
        client=client or world.client_a,
        site=site or world.site_a,
        hostname=name,
        token_hash=name.ljust(64, "0"),
        token_hint="x",
        inventory=inventory or {},
    )


AV_OK = {
    "protection": {
        "checked": True,
        "products": [{"name": "Microsoft Defender", "enabled": True, "up_to_date": True}],
    }
}
AV_STALE = {
    "protection": {
        "checked": True,
        "products": [
            {"name": "ClamAV", "enabled": True, "up_to_date": None, "signature_age_days": 30}
        ],
    }
}
AV_NONE = {"protection": {"checked": True, "products": []}}


def _item(result, name, kind):
    return next(i for i in result.items if i.subject_name == name and i.kind == kind)


def test_score_and_gaps_from_agent_heartbeat_and_attestations(world):
    today = timezone.localdate()
    pc = _device(world, "pc-ok", inventory=AV_OK)
    stale = _device(world, "pc-stale", inventory=AV_STALE)
    bare = _device(world, "pc-bare", inventory=AV_NONE)
    _device(world, "pc-b", client=world.client_b, site=world.site_b, inventory=AV_OK)
    JobHeartbeat.objects.create(device=pc, name="backup", t=int(time.time()) - 60, is_ok=True)
    JobHeartbeat.objects.create(device=stale, name="backup", t=int(time.time()) - 60, is_ok=False)
    result = coverage.coverage_of(world.client_a)
    # 3 devices × (antivirus, backup) + 1 user contact × MFA.
    assert result.required == 7
    assert _item(result, "pc-ok", "antivirus").source == "agent"
    assert _item(result, "pc-ok", "backup").is_covered
    assert not _item(result, "pc-stale", "antivirus").is_covered
    assert "ClamAV" in _item(result, "pc-stale", "antivirus").detail
    assert "failed" in _item(result, "pc-stale", "backup").detail
    assert not _item(result, "pc-bare", "antivirus").is_covered
    assert result.covered == 2 and result.percent == round(2 / 7 * 100)
    assert all(gap.todo for gap in result.gaps)
    # Attestations fill the gaps the agent cannot see.
    coverage.attest(
        actor=world.tech,
        client=world.client_a,
        kind="mfa",
        contact=world.contact_a,
        valid_until=today + timedelta(days=90),
    )
    coverage.attest(
        actor=world.tech,
        client=world.client_a,
        kind="backup",
        device=bare,
        product="NAS rsync",
        valid_until=today + timedelta(days=30),
    )
    coverage.attest(
        actor=world.tech,
        client=world.client_a,
        kind="antivirus",
        device=bare,
        product="ESET",
        valid_until=today + timedelta(days=30),
    )
    result = coverage.coverage_of(world.client_a)
    assert _item(result, world.contact_a.name, "mfa").is_covered
    assert _item(result, "pc-bare", "antivirus").source == "attestation"
    assert result.covered == 5
    # A newer attestation supersedes: MFA turned off again.
    coverage.attest(
        actor=world.tech,
        client=world.client_a,
        kind="mfa",
        is_protected=False,
        contact=world.contact_a,
        valid_until=today + timedelta(days=90),
    )
    assert not _item(coverage.coverage_of(world.client_a), world.contact_a.name, "mfa").is_covered
    # Expired: counts no more.
    later = timezone.now() + timedelta(days=40)
    assert not _item(
        coverage.coverage_of(world.client_a, now=later), "pc-bare", "backup"
    ).is_covered


def test_attestation_bad_input(world):
    today = timezone.localdate()
    device_b = _device(world, "pc-b", client=world.client_b, site=world.site_b)
    cases = [
        ({"kind": "mfa", "contact": world.contact_a, "valid_until": None}, "valid_until"),
        (
            {"kind": "mfa", "contact": world.contact_a, "valid_until": today - timedelta(days=1)},
            "valid_until",
        ),
        ({"kind": "nope", "contact": world.contact_a, "valid_until": today}, "kind"),
        ({"kind": "mfa", "valid_until": today}, "subject"),
        ({"kind": "backup", "device": device_b, "valid_until": today}, "device"),
        ({"kind": "mfa", "contact": world.contact_b, "valid_until": today}, "contact"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as e:
            coverage.attest(actor=world.tech, client=world.client_a, **kwargs)
        assert field in e.value.error_dict, kwargs
    with pytest.raises(PermissionDenied):
        coverage.attest(
            actor=world.readonly,
            client=world.client_a,
            kind="mfa",
            contact=world.contact_a,
            valid_until=today,
        )


def test_pages(world, django_assert_max_num_queries):
    for n in range(4):
        _device(world, f"pc-{n}", inventory=AV_OK)
    url = f"/security/coverage/{world.client_a.public_id}/"
    with django_assert_max_num_queries(26):
        page = world.http(world.tech).get(url)
    assert page.status_code == 200 and b"pc-3" in page.content
    with django_assert_max_num_queries(30):
        assert world.http(world.tech).get("/security/coverage/").status_code == 200
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(url).status_code == 404
        assert world.http(user).get("/security/coverage/").status_code == 404
    form = {
        "subject": f"contact:{world.contact_a.public_id}",
        "kind": "mfa",
        "is_protected": "on",
        "valid_until": (timezone.localdate() + timedelta(days=5)).isoformat(),
    }
    assert world.http(world.readonly).post(url, form).status_code == 403
    assert world.http(world.tech).post(url, form).status_code == 302
    assert world.http(world.tech).delete(url).status_code == 405
    assert world.http(world.tech).get("/security/coverage/not-a-uuid/").status_code == 404


def test_api(world):
    _t, staff = create_api_token(actor=None, user=world.tech, name="t")
    _p, portal = create_api_token(actor=None, user=world.portal_a, name="p")
    http = world.http(None)
    auth = {"Authorization": f"Bearer {staff}"}
    url = f"/api/v1/coverage/{world.client_a.public_id}"
    body = {
        "kind": "mfa",
        "contact": str(world.contact_a.public_id),
        "valid_until": (timezone.localdate() + timedelta(days=5)).isoformat(),
    }
    made = http.post(url + "/attestations", body, content_type="application/json", headers=auth)
    assert made.status_code == 201, made.content
    got = http.get(url, headers=auth).json()
    assert got["score"] == 1.0 and got["required"] == 1
    foreign = {**body, "contact": str(world.contact_b.public_id)}
    answer = http.post(
        url + "/attestations", foreign, content_type="application/json", headers=auth
    )
    assert answer.status_code == 404 and "contact" in answer.content.decode()
    past = {**body, "valid_until": "2020-01-01"}
    answer = http.post(url + "/attestations", past, content_type="application/json", headers=auth)
    assert answer.status_code in (400, 422) and "valid_until" in answer.content.decode()
    assert http.get(url, headers={"Authorization": f"Bearer {portal}"}).status_code == 404

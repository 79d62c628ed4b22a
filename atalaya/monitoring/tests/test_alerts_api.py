"""/api/v1/alerts and /api/v1/maintenance-windows: staff 200, others 404, read-only 403,
fields named in errors, list query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from atalaya.core import services as core_services
from atalaya.monitoring import alerts
from atalaya.monitoring.models import MaintenanceWindow
from atalaya.monitoring.tests.engine_helpers import make_device


def _api(user) -> HttpClient:
    _token, raw = core_services.create_api_token(actor=None, user=user, name="t")
    return HttpClient(headers={"authorization": f"Bearer {raw}"})


def _alert(site, name):
    return alerts.raise_or_update(
        device=make_device(site, name),
        kind="disk",
        target="/",
        severity="warning",
        message=f"{name} disk full",
        value=92.5,
        suppressed_reason="",
    )


@pytest.mark.django_db
def test_list_get_and_snooze(world):
    alert = _alert(world.site_a, "srv")
    _alert(world.site_b, "srv-b")
    api = _api(world.tech)
    data = api.get("/api/v1/alerts").json()
    assert {a["message"] for a in data["items"]} == {"srv disk full", "srv-b disk full"}
    only_a = api.get("/api/v1/alerts", {"client": str(world.client_a.public_id)}).json()
    assert [a["public_id"] for a in only_a["items"]] == [str(alert.public_id)]
    assert only_a["items"][0]["ticket"] == alert.ticket.number
    assert only_a["items"][0]["value"] == 92.5
    missing = api.get("/api/v1/alerts", {"client": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "client"
    assert api.get("/api/v1/alerts", {"severity": "bogus"}).status_code == 422
    one = api.get(f"/api/v1/alerts/{alert.public_id}")
    assert one.status_code == 200 and one.json()["kind"] == "disk"
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    snoozed = api.post(
        f"/api/v1/alerts/{alert.public_id}/snooze",
        {"until": until},
        content_type="application/json",
    )
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] is not None
    too_far = api.post(
        f"/api/v1/alerts/{alert.public_id}/snooze",
        {"until": (timezone.now() + timedelta(days=90)).isoformat()},
        content_type="application/json",
    )
    assert too_far.status_code == 422 and too_far.json()["errors"][0]["field"] == "until"
    assert (
        _api(world.readonly)
        .post(
            f"/api/v1/alerts/{alert.public_id}/snooze",
            {"until": until},
            content_type="application/json",
        )
        .status_code
        == 403
    )
    assert _api(world.portal_a).get(f"/api/v1/alerts/{alert.public_id}").status_code == 404
    assert _api(world.portal_b).get("/api/v1/alerts").status_code == 404
    back = api.post(f"/api/v1/alerts/{alert.public_id}/unsnooze")
    assert back.status_code == 200 and back.json()["snoozed_until"] is None


@pytest.mark.django_db
def test_alert_list_query_count(world):
    api = _api(world.tech)
    _alert(world.site_a, "a0")
    api.get("/api/v1/alerts")  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/alerts")
    for i in range(1, 8):
        _alert(world.site_a, f"a{i}")
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/alerts").json()["items"]) == 8
    assert len(many) == len(few)


@pytest.mark.django_db
def test_maintenance_windows(world):
    api = _api(world.tech)
    start = timezone.now() + timedelta(hours=1)
    body = {
        "client": str(world.client_a.public_id),
        "site": str(world.site_a.public_id),
        "name": "Patch night",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "recurrence": "daily",
    }
    made = api.post("/api/v1/maintenance-windows", body, content_type="application/json")
    assert made.status_code == 201, made.content
    assert made.json()["next_starts_at"] is not None
    window_id = made.json()["public_id"]
    foreign = api.post(
        "/api/v1/maintenance-windows",
        {**body, "site": str(world.site_b.public_id)},
        content_type="application/json",
    )
    assert foreign.status_code == 404 and foreign.json()["errors"][0]["field"] == "site"
    backwards = api.post(
        "/api/v1/maintenance-windows",
        {**body, "ends_at": (start - timedelta(hours=1)).isoformat()},
        content_type="application/json",
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "ends_at"
    assert (
        _api(world.readonly)
        .post("/api/v1/maintenance-windows", body, content_type="application/json")
        .status_code
        == 403
    )
    listing = api.get("/api/v1/maintenance-windows").json()
    assert [w["name"] for w in listing["items"]] == ["Patch night"]
    assert _api(world.portal_a).get("/api/v1/maintenance-windows").status_code == 404
    cancelled = api.post(f"/api/v1/maintenance-windows/{window_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"] is not None
    assert MaintenanceWindow.objects.get(public_id=window_id).cancelled_at is not None
    assert (
        _api(world.portal_b).post(f"/api/v1/maintenance-windows/{window_id}/cancel").status_code
        == 404
    )

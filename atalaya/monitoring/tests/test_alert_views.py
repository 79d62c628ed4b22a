"""Alert, check and maintenance pages: the right user 200, another client's user 404, a
read-only write 403, a wrong method 405; list pages keep their query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from atalaya.monitoring import alerts, checks, maintenance
from atalaya.monitoring.models import Alert, Check, MaintenanceWindow
from atalaya.monitoring.tests.engine_helpers import make_device


def _alert(world, name="srv", target="/"):
    device = make_device(world.site_a, name)
    return alerts.raise_or_update(
        device=device,
        kind="disk",
        target=target,
        severity="warning",
        message=f"{name} disk nearly full",
        value=91.0,
        suppressed_reason="",
    )


@pytest.mark.django_db
def test_alert_list_filters_and_query_count(world):
    alert = _alert(world)
    device_b = make_device(world.site_b, "srv-b")
    alerts.raise_or_update(
        device=device_b,
        kind="smart",
        severity="critical",
        message="srv-b SMART failing",
        suppressed_reason="",
    )
    http = world.http(world.tech)
    url = reverse("monitoring:alert_list")
    page = http.get(url)
    assert page.status_code == 200
    assert b"srv disk nearly full" in page.content and b"srv-b SMART" in page.content
    page = http.get(url, {"client": str(world.client_a.public_id)})
    assert b"srv disk nearly full" in page.content and b"srv-b SMART" not in page.content
    page = http.get(url, {"severity": "critical"})
    assert b"srv disk nearly full" not in page.content and b"srv-b SMART" in page.content
    alerts.resolve(alert)
    assert b"srv disk nearly full" not in http.get(url).content
    assert b"srv disk nearly full" in http.get(url, {"state": "all"}).content
    with CaptureQueriesContext(connection) as few:
        http.get(url, {"state": "all"})
    for i in range(8):
        _alert(world, name=f"more{i}")
    with CaptureQueriesContext(connection) as many:
        assert http.get(url, {"state": "all"}).status_code == 200
    assert len(many) == len(few)
    assert world.http(world.portal_a).get(url).status_code == 404
    assert world.http(world.tech).post(url).status_code == 405


@pytest.mark.django_db
def test_alert_detail_and_snooze(world):
    alert = _alert(world)
    url = reverse("monitoring:alert_detail", args=[alert.public_id])
    page = world.http(world.tech).get(url)
    assert page.status_code == 200
    assert f"#{alert.ticket.number}".encode() in page.content
    assert b"alert.opened" in page.content
    assert world.http(world.portal_a).get(url).status_code == 404
    assert world.http(world.portal_b).get(url).status_code == 404
    snooze = reverse("monitoring:alert_snooze", args=[alert.public_id])
    assert world.http(world.readonly).post(snooze, {"hours": "4"}).status_code == 403
    assert world.http(world.tech).get(snooze).status_code == 405
    response = world.http(world.tech).post(snooze, {"hours": "4"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.snoozed_until > timezone.now() + timedelta(hours=3)
    response = world.http(world.tech).post(
        reverse("monitoring:alert_unsnooze", args=[alert.public_id])
    )
    alert.refresh_from_db()
    assert response.status_code == 302 and alert.snoozed_until is None


@pytest.mark.django_db
def test_checks_page_saves_override_and_bumps_config(world):
    device = make_device(world.site_a, "pc")
    url = reverse("monitoring:check_list", args=[world.client_a.public_id])
    http = world.http(world.tech)
    assert http.get(url).status_code == 200
    response = http.post(
        url,
        {
            "kind": "service",
            "target": "cups",
            "device": str(device.public_id),
            "severity": "critical",
            "fail_after": 2,
            "clear_after": 1,
            "params": "",
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:500]
    check = Check.objects.get(kind="service", target="cups")
    assert check.device == device and check.severity == "critical"
    device.refresh_from_db()
    assert device.config_version == 2
    bad = http.post(
        url,
        {
            "kind": "disk",
            "severity": "warning",
            "fail_after": 1,
            "clear_after": 1,
            "params": '{"bogus": 1}',
        },
    )
    assert bad.status_code == 400 and b"bogus" in bad.content
    with CaptureQueriesContext(connection) as few:
        http.get(url)
    for i in range(5):
        checks.save_check(
            actor=None, client=world.client_a, kind="disk", target=f"/d{i}", device=device
        )
    with CaptureQueriesContext(connection) as many:
        http.get(url)
    assert len(many) == len(few)
    assert world.http(world.readonly).post(url, {"kind": "disk"}).status_code == 403
    assert world.http(world.portal_a).get(url).status_code == 404
    delete = reverse("monitoring:check_delete", args=[world.client_a.public_id, check.pk])
    assert world.http(world.tech).get(delete).status_code == 405
    assert world.http(world.tech).post(delete).status_code == 302
    assert not Check.objects.filter(pk=check.pk).exists()


@pytest.mark.django_db
def test_maintenance_pages(world):
    http = world.http(world.tech)
    new = reverse("monitoring:window_new")
    assert http.get(new).status_code == 200
    response = http.post(
        new,
        {
            "client": str(world.client_a.public_id),
            "site": str(world.site_a.public_id),
            "name": "Patch night",
            "starts_at": "2030-03-01T22:00",
            "ends_at": "2030-03-02T01:00",
            "recurrence": "weekly",
        },
    )
    assert response.status_code == 302, response.content[:800]
    window = MaintenanceWindow.objects.get(name="Patch night")
    assert window.site == world.site_a and window.recurrence == "weekly"
    bad = http.post(
        new,
        {
            "client": str(world.client_a.public_id),
            "name": "Backwards",
            "starts_at": "2030-03-01T22:00",
            "ends_at": "2030-03-01T21:00",
            "recurrence": "none",
        },
    )
    assert bad.status_code == 400
    listing = reverse("monitoring:window_list")
    with CaptureQueriesContext(connection) as few:
        assert http.get(listing).status_code == 200
    now = timezone.now()
    for i in range(5):
        maintenance.create_window(
            actor=None,
            client=world.client_b,
            name=f"w{i}",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
        )
    with CaptureQueriesContext(connection) as many:
        assert b"Patch night" in http.get(listing).content
    assert len(many) == len(few)
    cancel = reverse("monitoring:window_cancel", args=[window.public_id])
    assert world.http(world.readonly).post(cancel).status_code == 403
    assert world.http(world.portal_b).post(cancel).status_code == 404
    assert http.get(cancel).status_code == 405
    assert http.post(cancel).status_code == 302
    window.refresh_from_db()
    assert window.cancelled_at is not None
    assert Alert.objects.count() == 0

"""Alert, check and maintenance pages: the right user 200, another client's user 404, a
read-only write 403, a wrong method 405; list pages keep their query count. The alert's
history reads as sentences and the checks' thresholds as text, in the viewer's language
(English and Spanish) and time zone."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent
from atalaya.core.services import record_audit
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
    assert b"Opened as Warning" in page.content and b"alert.opened" not in page.content
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


# --- the alert's history as sentences, the thresholds as text -----------------------------

MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "es": ["Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic"],
}


def _speaks(user, language):
    core_services.update_preferences(
        actor=user, user=user, language=language, time_zone="America/New_York"
    )
    user.refresh_from_db()
    return user


def _lived_alert(world):
    """An alert that opened, got its ticket, escalated, was snoozed and woken by the
    technician, held back by maintenance and resolved; plus an action no one mapped and
    a snapshot that is not what the code writes."""
    alert = _alert(world)
    device = alert.device
    alerts.raise_or_update(
        device=device,
        kind="disk",
        target="/",
        severity="critical",
        message="srv disk full",
        value=97.0,
        suppressed_reason="",
    )
    alert.refresh_from_db()
    until = (timezone.now() + timedelta(days=2)).replace(minute=30, second=0, microsecond=0)
    alerts.snooze(alert, actor=world.tech, until=until)
    alerts.unsnooze(alert, actor=world.tech)
    alerts.raise_or_update(
        device=device,
        kind="disk",
        target="/",
        severity="critical",
        message="srv disk full",
        value=97.0,
        suppressed_reason="maintenance",
    )
    alert.refresh_from_db()
    alerts.resolve(alert, reason="checked in again")
    record_audit(None, alert, "alert.escalated_to_owner", client=alert.client, after={"x": [1]})
    AuditEvent.objects.create(
        object_type="alert",
        object_id=str(alert.public_id),
        action="alert.snoozed",
        before=["not", "a", "snapshot"],
        after={"snoozed_until": "yesterday-ish"},
    )
    alert.refresh_from_db()
    return alert, until


def _local(until, language):
    local = until.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    return f"{local.day} {MONTHS[language][local.month - 1]} {local:%H:%M}"


@pytest.mark.django_db
def test_alert_history_reads_as_sentences_in_the_viewers_zone(world):
    alert, until = _lived_alert(world)
    _speaks(world.tech, "en")
    url = reverse("monitoring:alert_detail", args=[alert.public_id])
    page = world.http(world.tech).get(url).content.decode()
    expected = [
        "Opened as Warning",
        f"Ticket #{alert.ticket.number} opened",
        "Severity changed from Warning to Critical",
        f"Snoozed until {_local(until, 'en')} by Tech",
        "Snooze ended by Tech",
        "Held back: in a maintenance window",
        "Resolved: checked in again",
        "Escalated to owner",
        "Snoozed by Atalaya",
    ]
    positions = [page.find(f"<td>{text}</td>") for text in expected]
    assert all(p > 0 for p in positions), list(zip(expected, positions, strict=True))
    assert positions == sorted(positions), "the history is not in order"
    for raw in ("alert.opened", "alert.changed", "· warning", "maintenance</td>"):
        assert raw not in page, raw
    # The alert's own suppression reads as words too.
    assert "<dd>in a maintenance window</dd>" in page
    assert world.http(world.portal_a).get(url).status_code == 404
    assert world.http(world.tech).post(url).status_code == 405


@pytest.mark.django_db
def test_alert_history_in_spanish(world):
    alert, until = _lived_alert(world)
    _speaks(world.tech, "es")
    url = reverse("monitoring:alert_detail", args=[alert.public_id])
    page = world.http(world.tech).get(url).content.decode()
    for text in (
        "Abierta con gravedad Advertencia",
        f"Ticket #{alert.ticket.number} abierto",
        "Gravedad cambiada de Advertencia a Crítica",
        f"Pospuesta hasta el {_local(until, 'es')} por Tech",
        "Tech ha dejado de posponerla",
        "Silenciada: en una ventana de mantenimiento",
        "Resuelta: ha vuelto a conectarse",
    ):
        assert f"<td>{text}</td>" in page, text
    assert "Opened as" not in page and "Severity changed" not in page


@pytest.mark.django_db
def test_alert_history_costs_no_query_per_event(world):
    alert = _alert(world)
    url = reverse("monitoring:alert_detail", args=[alert.public_id])
    http = world.http(world.tech)
    with CaptureQueriesContext(connection) as few:
        assert http.get(url).status_code == 200
    for actor in (world.tech, world.admin, world.tech, world.admin, world.tech):
        alert.refresh_from_db()
        alerts.snooze(alert, actor=actor, until=timezone.now() + timedelta(hours=2))
        alerts.unsnooze(alert, actor=actor)
    assert AuditEvent.objects.filter(object_id=str(alert.public_id)).count() == 12
    with CaptureQueriesContext(connection) as many:
        page = http.get(url)
    assert page.content.decode().count("Snooze ended by") == 5
    assert len(many) == len(few)


@pytest.mark.django_db
def test_alert_list_state_filter_agrees_in_spanish(world):
    alert = _alert(world)
    _alert(world, name="still-open")
    alerts.resolve(alert)
    http = world.http(world.tech)
    url = reverse("monitoring:alert_list")
    resolved = http.get(url, {"state": "resolved"}).content.decode()
    assert "srv disk nearly full" in resolved and "still-open disk" not in resolved
    assert '<option value="resolved" selected>Resolved</option>' in resolved
    _speaks(world.tech, "es")
    page = http.get(url).content.decode()
    for option in ("Abiertas", "Resueltas", "Todas"):
        assert f">{option}</option>" in page, option
    # One alert's own state stays singular.
    assert "<td>Abierta</td>" in page and "<td>Abiertas</td>" not in page


@pytest.mark.django_db
def test_checks_page_shows_labels_and_thresholds_as_text(world):
    device = make_device(world.site_a, "pc")
    Check.objects.create(
        client=world.client_a, kind="cpu", severity="critical", params={"pct": 80, "legacy": 3}
    )
    checks.save_check(
        actor=None,
        client=world.client_a,
        kind="disk",
        target="/data",
        params={"warning_used_pct": 85.5},
    )
    checks.save_check(
        actor=None,
        client=world.client_a,
        kind="process",
        target="nginx",
        device=device,
        params={"min_count": 2},
    )
    _speaks(world.tech, "en")
    url = reverse("monitoring:check_list", args=[world.client_a.public_id])
    page = world.http(world.tech).get(url).content.decode()
    for text in (
        # Built in.
        "<td>Critical</td>",
        "after 2 missed check-ins",
        "Warning: ≥ 90 % used or &lt; 5 GB free; Critical: ≥ 95 % used or &lt; 1 GB free "
        "(GB limits on volumes of 20 GB or more)",
        "Warning: full within 72 hours and &lt; 15 % free; "
        "Critical: full within 24 hours and &lt; 10 % free",
        "above 95 % for 15 minutes",
        "last run failed or no heartbeat for 26 hours",
        "pending for 7 days",
        # The client's rows: only what they change, the rest built in, unknown as pairs.
        "above 80 % for 15 minutes; legacy: 3",
        "Warning: ≥ 85.5 % used or &lt; 5 GB free",
        "fewer than 2 running",
    ):
        assert text in page, text
    for raw in ("<td>critical</td>", "<td>warning</td>", "window_min", "&#x27;pct&#x27;"):
        assert raw not in page, raw
    _speaks(world.tech, "es")
    page = world.http(world.tech).get(url).content.decode()
    for text in (
        "<td>Crítica</td>",
        "tras 2 conexiones perdidas",
        "por encima del 95 % durante 15 minutos",
        "Advertencia: ≥ 85,5 % usado o &lt; 5 GB libres",
        "menos de 2 en ejecución",
    ):
        assert text in page, text

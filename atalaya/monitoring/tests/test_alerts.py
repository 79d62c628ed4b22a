"""Alert lifecycle: one alert and one ticket however often it fails, notes on change and
recovery, auto-resolve only when untouched, snooze, maintenance, the unique-race path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.core.models import AuditEvent
from atalaya.monitoring import alerts, maintenance
from atalaya.monitoring.models import Alert, CheckKind
from atalaya.monitoring.tests.engine_helpers import make_device
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Category

T0 = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def _raise(device, *, value=92.0, severity="warning", at=T0, **kw):
    return alerts.raise_or_update(
        device=device,
        kind=CheckKind.DISK,
        target="/",
        severity=severity,
        message=f"/ is {value:.0f}% full",
        value=value,
        now=at,
        **kw,
    )


@pytest.mark.django_db
def test_repeated_failures_keep_one_alert_and_one_ticket(world):
    device = make_device(world.site_a, "srv")
    first = _raise(device)
    for minute in range(1, 20):
        again = _raise(device, value=92.0 + minute * 0.1, at=T0 + timedelta(minutes=minute))
        assert again.pk == first.pk
    assert Alert.objects.count() == 1
    ticket = Alert.objects.get().ticket
    assert ticket is not None
    assert ticket.client == world.client_a and ticket.site == world.site_a
    assert ticket.category.slug == "monitoring"
    assert Category.objects.get(slug="monitoring").name_es == "Monitorización"
    assert ticket.priority == "normal" and ticket.first_response_due_at is not None
    # Small drifts made no notes.
    assert not ticket.events.filter(kind="note").exists()
    assert AuditEvent.objects.filter(object_type="alert", action="alert.opened").count() == 1


@pytest.mark.django_db
def test_material_change_notes_the_ticket(world):
    device = make_device(world.site_a, "srv")
    alert = _raise(device, value=90.0)
    _raise(device, value=91.0, at=T0 + timedelta(minutes=1))
    _raise(device, value=96.0, severity="critical", at=T0 + timedelta(minutes=2))
    notes = alert.ticket.events.filter(kind="note")
    assert notes.count() == 1 and "critical" in notes.get().body.lower()
    assert AuditEvent.objects.filter(action="alert.changed").count() == 1


@pytest.mark.django_db
def test_recovery_resolves_untouched_ticket(world):
    device = make_device(world.site_a, "srv")
    alert = _raise(device)
    assert alerts.resolve(alert, now=T0 + timedelta(minutes=5))
    alert.ticket.refresh_from_db()
    assert alert.ticket.status == "resolved"
    assert alert.ticket.events.filter(kind="note", body__startswith="Recovered").exists()
    assert not alerts.resolve(alert)  # already resolved: nothing twice
    # Failing again later opens a new alert and a new ticket.
    again = _raise(device, at=T0 + timedelta(hours=1))
    assert again.pk != alert.pk and again.ticket_id != alert.ticket_id


@pytest.mark.django_db
def test_recovery_leaves_touched_ticket_open(world):
    device = make_device(world.site_a, "srv")
    noted = _raise(device)
    ticket_services.add_note(noted.ticket, actor=world.tech, body="Looking into it")
    other = make_device(world.site_a, "srv2")
    assigned = _raise(other)
    ticket_services.assign_ticket(assigned.ticket, actor=world.tech, assignee=world.tech)
    for alert in (noted, assigned):
        assert alerts.resolve(alert, now=T0 + timedelta(minutes=5))
        alert.ticket.refresh_from_db()
        assert alert.ticket.status in ("new", "open")
        assert alert.ticket.events.filter(kind="note", body__startswith="Recovered").exists()


@pytest.mark.django_db
def test_maintenance_suppresses_and_opens_no_ticket(world):
    device = make_device(world.site_a, "srv")
    maintenance.create_window(
        actor=world.tech,
        client=world.client_a,
        device=device,
        name="Disk swap",
        starts_at=T0 - timedelta(minutes=5),
        ends_at=T0 + timedelta(hours=1),
    )
    alert = _raise(device)
    assert alert.suppressed_reason == "maintenance" and alert.ticket is None
    # After the window the still-failing check gets its ticket.
    later = _raise(device, at=T0 + timedelta(hours=1, minutes=1))
    assert later.pk == alert.pk
    assert later.suppressed_reason == "" and later.ticket is not None


@pytest.mark.django_db
def test_snooze_holds_ticket_and_notes(world):
    device = make_device(world.site_a, "srv")
    alert = _raise(device)
    alerts.snooze(alert, actor=world.tech, until=T0 + timedelta(hours=2), now=T0)
    _raise(device, value=99.0, severity="critical", at=T0 + timedelta(minutes=10))
    assert not alert.ticket.events.filter(kind="note").exists()
    assert AuditEvent.objects.filter(action="alert.snoozed").exists()


@pytest.mark.django_db
def test_snoozed_alert_gets_its_ticket_when_snooze_ends(world):
    device = make_device(world.site_a, "srv")
    # Raised inside a window (no ticket), snoozed, then the window ends.
    window = maintenance.create_window(
        actor=world.tech,
        client=world.client_a,
        device=device,
        name="w",
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(minutes=30),
    )
    alert = _raise(device)
    alerts.snooze(alert, actor=world.tech, until=T0 + timedelta(hours=2), now=T0)
    maintenance.cancel_window(actor=world.tech, window=window, now=T0 + timedelta(minutes=1))
    _raise(device, at=T0 + timedelta(minutes=40))
    alert.refresh_from_db()
    assert alert.ticket is None  # still snoozed
    assert alerts.open_due_tickets(now=T0 + timedelta(hours=2, minutes=1)) == 1
    alert.refresh_from_db()
    assert alert.ticket is not None


@pytest.mark.django_db
def test_snooze_rules(world):
    device = make_device(world.site_a, "srv")
    alert = _raise(device)
    with pytest.raises(PermissionDenied):
        alerts.snooze(alert, actor=world.readonly, until=T0 + timedelta(hours=1), now=T0)
    with pytest.raises(ValidationError):
        alerts.snooze(alert, actor=world.tech, until=T0 - timedelta(hours=1), now=T0)
    with pytest.raises(ValidationError):
        alerts.snooze(alert, actor=world.tech, until=T0 + timedelta(days=40), now=T0)
    alerts.snooze(alert, actor=world.tech, until=T0 + timedelta(hours=1), now=T0)
    alerts.unsnooze(alert, actor=world.tech, now=T0)
    alert.refresh_from_db()
    assert alert.snoozed_until is None
    assert AuditEvent.objects.filter(action="alert.unsnoozed").exists()


@pytest.mark.django_db
def test_insert_race_updates_the_winner(world, monkeypatch):
    """The second raiser's INSERT hits the unique constraint: it updates the open alert."""
    device = make_device(world.site_a, "srv")
    winner = _raise(device)
    calls = {"n": 0}
    real = alerts._open_alert

    def blind_once(*args, **kwargs):
        calls["n"] += 1
        # The first look finds nothing, as for a sweeper that read before the other's commit.
        return None if calls["n"] == 1 else real(*args, **kwargs)

    monkeypatch.setattr(alerts, "_open_alert", blind_once)
    loser = _raise(device, value=97.0, severity="critical", at=T0 + timedelta(minutes=1))
    assert loser.pk == winner.pk
    assert Alert.objects.count() == 1
    assert Alert.objects.get().severity == "critical"

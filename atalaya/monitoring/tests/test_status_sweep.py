"""The status sweep: online → overdue → offline from last_seen_at, offline alerts in time,
parent/child and site-dark suppression, recovery, and two sweepers at once."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection

from atalaya.monitoring import checks, maintenance, status
from atalaya.monitoring.models import Alert, CheckKind, Device, DeviceStatus
from atalaya.monitoring.tests.engine_helpers import make_device

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _status(device: Device) -> str:
    device.refresh_from_db()
    return device.status


@pytest.mark.django_db
def test_statuses_follow_last_check_in(world):
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    never = make_device(world.site_a, "pc-new")
    status.sweep(T0 + timedelta(seconds=30))
    assert _status(device) == DeviceStatus.ONLINE
    assert _status(never) == DeviceStatus.PENDING
    status.sweep(T0 + timedelta(seconds=100))
    assert _status(device) == DeviceStatus.OVERDUE
    report = status.sweep(T0 + timedelta(seconds=121))
    assert _status(device) == DeviceStatus.OFFLINE and report.to_offline == 1
    # Back: the next check-in and sweep make it online again.
    Device.objects.filter(pk=device.pk).update(last_seen_at=T0 + timedelta(seconds=200))
    status.sweep(T0 + timedelta(seconds=205))
    assert _status(device) == DeviceStatus.ONLINE


@pytest.mark.django_db
def test_offline_alert_within_150_s_of_last_check_in(world):
    """A stopped agent (60 s interval) gets its offline alert by sweeps every 10 s in time."""
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    make_device(world.site_a, "pc2", last_seen_at=T0 + timedelta(minutes=10))
    raised_at = None
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(20):
            clock.shift(timedelta(seconds=status.SWEEP_EVERY_S))
            status.sweep()
            alert = Alert.objects.filter(device=device, kind=CheckKind.OFFLINE).first()
            if alert is not None:
                raised_at = alert.opened_at
                break
    assert raised_at is not None
    assert (raised_at - T0).total_seconds() <= 150
    assert (raised_at - T0).total_seconds() > 120  # not before two intervals were missed
    assert alert.ticket is None  # the ticket waits for the site-dark rule to settle
    status.sweep(raised_at + alerts_settle())
    alert.refresh_from_db()
    assert alert.ticket is not None and alert.ticket.category.slug == "monitoring"


def alerts_settle() -> timedelta:
    from atalaya.monitoring.alerts import OFFLINE_TICKET_SETTLE

    return OFFLINE_TICKET_SETTLE + timedelta(seconds=1)


@pytest.mark.django_db
def test_repeated_sweeps_never_open_a_second_alert_or_ticket(world):
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    make_device(world.site_a, "pc2", last_seen_at=T0 + timedelta(hours=1))
    for minutes in range(3, 30):
        status.sweep(T0 + timedelta(minutes=minutes))
    alerts = Alert.objects.filter(device=device, kind=CheckKind.OFFLINE)
    assert alerts.count() == 1
    assert alerts.get().ticket is not None


@pytest.mark.django_db
def test_recovery_resolves_alert_and_untouched_ticket(world):
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    make_device(world.site_a, "pc2", last_seen_at=T0 + timedelta(hours=1))
    status.sweep(T0 + timedelta(minutes=3))
    status.sweep(T0 + timedelta(minutes=5))
    alert = Alert.objects.get(device=device, kind=CheckKind.OFFLINE)
    ticket = alert.ticket
    assert ticket is not None
    Device.objects.filter(pk=device.pk).update(last_seen_at=T0 + timedelta(minutes=10))
    status.sweep(T0 + timedelta(minutes=10, seconds=5))
    alert.refresh_from_db()
    ticket.refresh_from_db()
    assert alert.resolved_at is not None
    assert ticket.status == "resolved"
    assert ticket.events.filter(kind="note", body__startswith="Recovered").exists()


@pytest.mark.django_db
def test_child_of_offline_parent_is_suppressed(world):
    router = make_device(world.site_a, "router", last_seen_at=T0)
    pc = make_device(world.site_a, "pc", last_seen_at=T0, parent=router)
    make_device(world.site_a, "server", last_seen_at=T0 + timedelta(hours=1))
    status.sweep(T0 + timedelta(minutes=3))
    status.sweep(T0 + timedelta(minutes=6))
    router_alert = Alert.objects.get(device=router, kind=CheckKind.OFFLINE)
    pc_alert = Alert.objects.get(device=pc, kind=CheckKind.OFFLINE)
    assert router_alert.suppressed_reason == "" and router_alert.ticket is not None
    assert pc_alert.suppressed_reason == "parent_offline" and pc_alert.ticket is None
    # The router comes back, the PC does not: the PC's alert stands on its own now.
    Device.objects.filter(pk=router.pk).update(last_seen_at=T0 + timedelta(minutes=7))
    status.sweep(T0 + timedelta(minutes=7, seconds=5))
    status.sweep(T0 + timedelta(minutes=9))
    pc_alert.refresh_from_db()
    assert pc_alert.suppressed_reason == "" and pc_alert.ticket is not None


@pytest.mark.django_db
def test_dark_site_raises_one_site_alert(world):
    devices = [
        make_device(world.site_a, f"pc{i}", last_seen_at=T0 + timedelta(seconds=i * 5))
        for i in range(5)
    ]
    # Devices go offline one sweep after another, as their last check-ins were spread.
    now = T0 + timedelta(seconds=121)
    while now < T0 + timedelta(minutes=6):
        status.sweep(now)
        now += timedelta(seconds=10)
    site_alerts = Alert.objects.filter(kind=CheckKind.SITE_OFFLINE, site=world.site_a)
    assert site_alerts.count() == 1
    site_alert = site_alerts.get()
    assert site_alert.device is None and site_alert.ticket is not None
    assert site_alert.ticket.priority == "urgent"
    per_device = Alert.objects.filter(kind=CheckKind.OFFLINE, device__in=devices)
    assert per_device.count() == 5
    assert set(per_device.values_list("suppressed_reason", flat=True)) == {"site_offline"}
    assert not per_device.filter(ticket__isnull=False).exists()
    # One device comes back: the site alert resolves, the others get their own tickets.
    Device.objects.filter(pk=devices[0].pk).update(last_seen_at=now)
    status.sweep(now + timedelta(seconds=5))
    site_alert.refresh_from_db()
    assert site_alert.resolved_at is not None
    still = Alert.objects.open().filter(kind=CheckKind.OFFLINE)
    assert still.count() == 4 and set(still.values_list("suppressed_reason", flat=True)) == {""}


@pytest.mark.django_db
def test_offline_check_switched_off_raises_nothing(world):
    checks.save_check(actor=None, client=world.client_a, kind=CheckKind.OFFLINE, is_enabled=False)
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    status.sweep(T0 + timedelta(minutes=5))
    assert _status(device) == DeviceStatus.OFFLINE
    assert not Alert.objects.filter(device=device).exists()


@pytest.mark.django_db
def test_client_missed_intervals_override(world):
    checks.save_check(
        actor=None, client=world.client_a, kind=CheckKind.OFFLINE, params={"missed_intervals": 5}
    )
    device_a = make_device(world.site_a, "pc-a", last_seen_at=T0)
    device_b = make_device(world.site_b, "pc-b", last_seen_at=T0)
    status.sweep(T0 + timedelta(seconds=200))
    assert _status(device_a) == DeviceStatus.OVERDUE
    assert _status(device_b) == DeviceStatus.OFFLINE
    status.sweep(T0 + timedelta(seconds=301))
    assert _status(device_a) == DeviceStatus.OFFLINE


@pytest.mark.django_db
def test_maintenance_window_status_and_no_alert(world):
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    maintenance.create_window(
        actor=world.tech,
        client=world.client_a,
        site=world.site_a,
        name="Patch night",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
    )
    status.sweep(T0 + timedelta(minutes=10))
    assert _status(device) == DeviceStatus.MAINTENANCE
    assert not Alert.objects.filter(device=device).exists()
    status.sweep(T0 + timedelta(hours=1, seconds=1))
    assert _status(device) == DeviceStatus.OFFLINE
    assert Alert.objects.filter(device=device, kind=CheckKind.OFFLINE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_open_one_alert(world):
    """Two threads (two connections) sweep the same moment: one alert, one ticket.

    On PostgreSQL they really run at once. SQLite's in-memory test database refuses
    concurrent writers from its shared cache ("table is locked") where a file database
    would queue them on its busy timeout, so there the two sweeps take turns.
    """
    devices = [make_device(world.site_a, f"pc{i}", last_seen_at=T0) for i in range(6)]
    make_device(world.site_a, "alive", last_seen_at=T0 + timedelta(hours=2))
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    turns = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()

    def run(now: datetime) -> None:
        try:
            barrier.wait(timeout=10)
            with turns:
                status.sweep(now)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    for moment in (T0 + timedelta(minutes=3), T0 + timedelta(minutes=5)):
        threads = [threading.Thread(target=run, args=(moment,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    for device in devices:
        alerts = Alert.objects.filter(device=device, kind=CheckKind.OFFLINE)
        assert alerts.count() == 1
        assert alerts.get().ticket is not None
    tickets = {a.ticket_id for a in Alert.objects.filter(kind=CheckKind.OFFLINE)}
    assert len(tickets) == 6


@pytest.mark.django_db
def test_periodic_tasks_sweep_now_and_schedule_five_more(world):
    from huey.contrib.djhuey import HUEY

    from atalaya.monitoring import tasks

    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    before = len(HUEY.scheduled())
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        result = tasks.sweep_statuses_every_minute.call_local()
        assert result["to_offline"] == 1
        assert len(HUEY.scheduled()) - before == 5
        # While a sweep runs in this worker, another one skips instead of piling up.
        with tasks._alone(tasks._SWEEPING):
            assert "busy" in tasks.sweep_statuses.call_local()
        evaluated = tasks.evaluate_checks.call_local()
        assert evaluated["devices"] == 0 and "busy" not in evaluated
    assert _status(device) == DeviceStatus.OFFLINE


@pytest.mark.django_db
def test_retired_device_alerts_are_resolved(world):
    device = make_device(world.site_a, "pc1", last_seen_at=T0)
    make_device(world.site_a, "pc2", last_seen_at=T0 + timedelta(hours=1))
    status.sweep(T0 + timedelta(minutes=3))
    alert = Alert.objects.get(device=device)
    Device.objects.filter(pk=device.pk).update(retired_at=T0 + timedelta(minutes=4))
    status.sweep(T0 + timedelta(minutes=5))
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    status.sweep(T0 + timedelta(minutes=6))
    assert Alert.objects.filter(device=device).count() == 1

"""Checks in force (built-in, client default, device override) and the evaluator's verdicts:
hysteresis, N consecutive failures, sustained CPU from raw samples, services, backups,
SMART, reboot pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaya.core.models import AuditEvent
from atalaya.monitoring import checks, evaluate
from atalaya.monitoring.models import (
    Alert,
    CheckKind,
    CheckState,
    Device,
    JobHeartbeat,
    MetricSample,
    Volume,
)
from atalaya.monitoring.tests.engine_helpers import GB, make_device, make_volume

T0 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)


def _checkin(device: Device, at: datetime, **latest) -> None:
    """What the ingest does: last seen now, the state block as latest."""
    Device.objects.filter(pk=device.pk).update(last_seen_at=at, latest=latest)
    device.refresh_from_db()


def _eval(at: datetime) -> evaluate.EvaluationReport:
    return evaluate.evaluate_since(None, now=at + timedelta(seconds=1))


@pytest.mark.django_db
def test_resolution_built_in_client_and_override(world):
    device = make_device(world.site_a, "pc")
    other = make_device(world.site_a, "pc2")
    in_force = checks.checks_for(device)
    assert in_force[(CheckKind.DISK, "")].param("warning_used_pct") == 90
    assert (CheckKind.SERVICE, "") not in in_force
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.DISK,
        params={"warning_used_pct": 80},
    )
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.DISK,
        device=device,
        params={"warning_used_pct": 70},
        severity="critical",
    )
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.CPU,
        device=other,
        is_enabled=False,
    )
    both = checks.checks_for_devices([device, other])
    assert both[device.pk][(CheckKind.DISK, "")].param("warning_used_pct") == 70
    assert both[device.pk][(CheckKind.DISK, "")].severity == "critical"
    # Unnamed parameters come from the built-in defaults.
    assert both[device.pk][(CheckKind.DISK, "")].param("critical_used_pct") == 95
    assert both[other.pk][(CheckKind.DISK, "")].param("warning_used_pct") == 80
    assert (CheckKind.CPU, "") not in both[other.pk]
    assert (CheckKind.CPU, "") in both[device.pk]
    # Client B still has the built-ins.
    device_b = make_device(world.site_b, "pc-b")
    assert checks.checks_for(device_b)[(CheckKind.DISK, "")].param("warning_used_pct") == 90
    assert AuditEvent.objects.filter(action="check.created").count() == 3


@pytest.mark.django_db
def test_saving_service_check_bumps_agent_config(world):
    device = make_device(world.site_a, "pc")
    before = device.config_version
    checks.save_check(
        actor=world.tech, client=world.client_a, kind=CheckKind.SERVICE, target="cups"
    )
    device.refresh_from_db()
    assert device.config_version == before + 1


@pytest.mark.django_db
def test_bad_check_input_names_the_field(world):
    with pytest.raises(ValidationError) as exc:
        checks.save_check(actor=world.tech, client=world.client_a, kind=CheckKind.SERVICE)
    assert "target" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        checks.save_check(
            actor=world.tech, client=world.client_a, kind=CheckKind.DISK, params={"bogus": 1}
        )
    assert "params" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        checks.save_check(actor=world.tech, client=world.client_a, kind="nope")
    assert "kind" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        checks.save_check(actor=world.readonly, client=world.client_a, kind=CheckKind.DISK)
    device_b = make_device(world.site_b, "pc-b")
    with pytest.raises(ValidationError):
        checks.save_check(
            actor=world.tech, client=world.client_a, kind=CheckKind.DISK, device=device_b
        )


@pytest.mark.django_db
def test_disk_hysteresis_needs_n_in_a_row(world):
    """Disk: fail_after 2, clear_after 2 (built-in). One bad sample raises nothing."""
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    volume = make_volume(device, "/", total_gb=100, free_gb=50)

    def at(minute: int, free_gb: float) -> None:
        Volume.objects.filter(pk=volume.pk).update(
            free_bytes=int(free_gb * GB), used_bytes=int((100 - free_gb) * GB)
        )
        moment = T0 + timedelta(minutes=minute)
        _checkin(device, moment)
        _eval(moment)

    at(1, 8)  # 92 % used: one failure
    assert not Alert.objects.exists()
    at(2, 50)  # a pass resets the count
    at(3, 8)
    assert not Alert.objects.exists()
    at(4, 8)  # second in a row: warning
    alert = Alert.objects.get(kind=CheckKind.DISK, target="/")
    assert alert.severity == "warning" and alert.ticket is not None
    at(5, 3)  # 97 %: critical, same alert, a note on the ticket
    alert.refresh_from_db()
    assert alert.severity == "critical"
    assert Alert.objects.count() == 1
    assert alert.ticket.events.filter(kind="note", body__startswith="Alert changed").count() == 1
    at(6, 50)  # one pass is not enough to clear
    alert.refresh_from_db()
    assert alert.resolved_at is None
    at(7, 50)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    state = CheckState.objects.get(device=device, key="disk:/")
    assert not state.is_failing and state.consecutive_passes == 2
    # The same check-in evaluated twice counts once.
    report = _eval(T0 + timedelta(minutes=7))
    assert report.skipped == 1


@pytest.mark.django_db
def test_small_volume_ignores_gb_floor_but_large_one_does_not(world):
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    make_volume(device, "/boot", total_gb=0.5, free_gb=0.2)  # 60 % used, 0.2 GB free
    make_volume(device, "/srv", total_gb=2000, free_gb=4)  # 99.8 % used … and < 5 GB
    make_volume(device, "/big", total_gb=2000, free_gb=300)  # 85 % used, plenty free
    for minute in (1, 2):
        _checkin(device, T0 + timedelta(minutes=minute))
        _eval(T0 + timedelta(minutes=minute))
    assert set(Alert.objects.values_list("target", "severity")) == {("/srv", "critical")}


@pytest.mark.django_db
def test_cpu_sustained_over_window_from_raw_samples(world):
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    now = T0 + timedelta(minutes=30)
    now_t = int(now.timestamp())

    def samples(values: list[float]) -> None:
        MetricSample.objects.filter(device=device).delete()
        MetricSample.objects.bulk_create(
            MetricSample(device=device, t=now_t - 60 * (len(values) - 1 - i), cpu_pct=v, mem_pct=40)
            for i, v in enumerate(values)
        )

    samples([99.0] * 16)
    _checkin(device, now)
    _eval(now)
    alert = Alert.objects.get(kind=CheckKind.CPU)
    assert alert.details["value"] == pytest.approx(99.0)
    # One quiet minute inside the window: not sustained any more (clear_after 2).
    samples([99.0] * 8 + [20.0] + [99.0] * 7)
    for minute in (1, 2):
        _checkin(device, now + timedelta(seconds=10 * minute))
        _eval(now + timedelta(seconds=10 * minute))
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert not Alert.objects.filter(kind=CheckKind.MEMORY).exists()


@pytest.mark.django_db
def test_cpu_without_enough_history_is_not_judged(world):
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    now_t = int(T0.timestamp())
    MetricSample.objects.bulk_create(
        MetricSample(device=device, t=now_t - 60 * i, cpu_pct=100) for i in range(3)
    )
    _eval(T0)
    assert not Alert.objects.exists()
    assert not CheckState.objects.filter(key="cpu").exists()


@pytest.mark.django_db
def test_service_process_smart_reboot_and_backup(world):
    checks.save_check(
        actor=world.tech, client=world.client_a, kind=CheckKind.SERVICE, target="cups"
    )
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.PROCESS,
        target="backupd",
        fail_after=1,
    )
    checks.save_check(
        actor=world.tech, client=world.client_a, kind=CheckKind.BACKUP, target="nightly"
    )
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    Device.objects.filter(pk=device.pk).update(enrolled_at=T0 - timedelta(days=3))
    now_t = int(T0.timestamp())
    JobHeartbeat.objects.create(
        device=device, name="weekly", t=now_t - 3600, is_ok=False, message="disk full"
    )
    state = {
        "services": {"cups": "stopped"},
        "processes": {"backupd": 0},
        "smart": [{"device": "/dev/sda", "healthy": False}],
        "reboot_pending": True,
    }
    for minute in (1, 2):
        moment = T0 + timedelta(minutes=minute)
        _checkin(device, moment, **state)
        _eval(moment)
    kinds = dict(Alert.objects.open().values_list("kind", "target").order_by())
    found = set(Alert.objects.open().values_list("kind", "target"))
    assert found == {
        ("service", "cups"),
        ("process", "backupd"),
        ("smart", ""),
        ("backup", "nightly"),  # never reported in three days
        ("backup", "weekly"),  # last run failed
    }, kinds
    assert Alert.objects.get(kind="smart").severity == "critical"
    # A reboot pending for 7 days and more is a warning.
    later = T0 + timedelta(days=7, minutes=5)
    JobHeartbeat.objects.create(
        device=device, name="nightly", t=int(later.timestamp()) - 60, is_ok=True
    )
    _checkin(device, later, **{**state, "services": {"cups": "running"}})
    _eval(later)
    open_now = set(Alert.objects.open().values_list("kind", "target"))
    assert ("reboot_pending", "") in open_now
    assert ("service", "cups") not in open_now
    assert ("backup", "nightly") not in open_now


@pytest.mark.django_db
def test_evaluator_queries_per_chunk_are_bounded(world):
    def fleet(n: int, prefix: str) -> None:
        for i in range(n):
            d = make_device(world.site_a, f"{prefix}{i}", last_seen_at=T0)
            make_volume(d, "/", total_gb=100, free_gb=50)
            MetricSample.objects.create(device=d, t=int(T0.timestamp()), cpu_pct=5)

    fleet(3, "a")
    with CaptureQueriesContext(connection) as small:
        evaluate.evaluate_since(None, now=T0 + timedelta(seconds=1))
    fleet(30, "b")
    with CaptureQueriesContext(connection) as large:
        evaluate.evaluate_since(T0 - timedelta(seconds=1), now=T0 + timedelta(seconds=2))
    # 33 devices in one chunk cost what 3 did (the 3 are skipped, already evaluated).
    assert len(large) <= len(small) + 2, [q["sql"][:80] for q in large.captured_queries]

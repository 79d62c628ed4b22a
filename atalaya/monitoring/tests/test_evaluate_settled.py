"""The evaluator's economy: settled states are neither read nor written, a check that
stays failing with the same verdict costs no write and no alert update, a settled row
left from earlier is replaced when its check fails, one observation per backup job, and
the facts are narrowed in SQL without losing a failing volume, CPU or service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    Device.objects.filter(pk=device.pk).update(last_seen_at=at, latest=latest)


def _eval(at: datetime) -> evaluate.EvaluationReport:
    return evaluate.evaluate_since(None, now=at + timedelta(seconds=1))


@pytest.mark.django_db
def test_healthy_devices_leave_no_states(world):
    for i in range(5):
        device = make_device(world.site_a, f"ok{i}", last_seen_at=T0)
        make_volume(device, "/", total_gb=100, free_gb=60)
        MetricSample.objects.create(device=device, t=int(T0.timestamp()), cpu_pct=5, mem_pct=30)
    _checkin(
        device,
        T0,
        services={"cups": "running"},
        smart=[{"device": "/dev/sda", "healthy": True}],
        reboot_pending=False,
    )
    report = _eval(T0)
    assert report.devices == 5
    assert report.states_written == 0
    assert not CheckState.objects.exists()
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_steady_failure_is_counted_to_fail_after_and_then_costs_nothing(world):
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.SERVICE,
        target="cups",
        fail_after=3,
    )
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    minutes = [T0 + timedelta(minutes=m) for m in range(1, 7)]
    for moment in minutes[:3]:
        _checkin(device, moment, services={"cups": "stopped"})
        _eval(moment)
    alert = Alert.objects.get(kind=CheckKind.SERVICE, target="cups")
    state = CheckState.objects.get(device=device, key="service:cups")
    assert state.is_failing and state.consecutive_failures == 3
    written_at, changed_at = state.evaluated_at, alert.changed_at
    for moment in minutes[3:]:
        _checkin(device, moment, services={"cups": "stopped"})
        with CaptureQueriesContext(connection) as queries:
            report = _eval(moment)
        assert report.states_written == 0
        assert not any("monitoring_alert" in q["sql"] and "UPDATE" in q["sql"] for q in queries)
    state.refresh_from_db()
    alert.refresh_from_db()
    # Capped at fail_after (as passes are at clear_after): nothing moved, nothing written.
    assert state.consecutive_failures == 3
    assert state.evaluated_at == written_at
    assert alert.changed_at == changed_at and alert.resolved_at is None
    # Still one failure short of clearing, then recovery as before.
    _checkin(device, minutes[-1] + timedelta(minutes=1), services={"cups": "running"})
    _eval(minutes[-1] + timedelta(minutes=1))
    alert.refresh_from_db()
    assert alert.resolved_at is not None


@pytest.mark.django_db
def test_settled_row_from_before_is_replaced_when_the_check_fails(world):
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    volume = make_volume(device, "/", total_gb=100, free_gb=50)
    # A settled state as an earlier evaluator left it: not failing, passes counted.
    CheckState.objects.create(
        device=device, key="disk:/", consecutive_passes=2, value=50.0, evaluated_at=T0
    )
    Volume.objects.filter(pk=volume.pk).update(free_bytes=3 * GB, used_bytes=97 * GB)
    for minute in (1, 2):  # disk: fail_after 2
        moment = T0 + timedelta(minutes=minute)
        _checkin(device, moment)
        report = _eval(moment)
        assert report.skipped == 0
    state = CheckState.objects.get(device=device, key="disk:/")
    assert state.is_failing and state.consecutive_failures == 2 and state.consecutive_passes == 0
    assert Alert.objects.get(kind=CheckKind.DISK, target="/").severity == "critical"


@pytest.mark.django_db
def test_named_backup_job_is_observed_once_per_evaluation(world):
    """The catch-all backup check and the job's own check both cover "nightly": one
    evaluation is one failure, so fail_after 2 needs two evaluations."""
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.BACKUP,
        target="nightly",
        fail_after=2,
    )
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    JobHeartbeat.objects.create(
        device=device, name="nightly", t=int(T0.timestamp()) - 600, is_ok=False
    )
    _checkin(device, T0 + timedelta(minutes=1))
    _eval(T0 + timedelta(minutes=1))
    assert not Alert.objects.exists()
    assert CheckState.objects.get(device=device, key="backup:nightly").consecutive_failures == 1
    _checkin(device, T0 + timedelta(minutes=2))
    _eval(T0 + timedelta(minutes=2))
    assert Alert.objects.filter(kind=CheckKind.BACKUP, target="nightly").count() == 1


@pytest.mark.django_db
def test_narrowed_facts_still_find_every_failure(world):
    """Among many healthy devices, each kind of failure is found by the SQL narrowing:
    a full volume, a refined mountpoint threshold, sustained memory with a device's own
    window, an unhealthy SMART disk, a process below its count."""
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.DISK,
        target="/data",
        params={"warning_used_pct": 50},
        fail_after=1,
    )
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.PROCESS,
        target="nginx",
        params={"min_count": 2},
        fail_after=1,
    )
    now_t = int(T0.timestamp())
    devices = []
    for i in range(6):
        device = make_device(world.site_a, f"pc{i}", last_seen_at=T0)
        make_volume(device, "/", total_gb=100, free_gb=60)
        make_volume(device, "/data", total_gb=100, free_gb=60)
        MetricSample.objects.bulk_create(
            MetricSample(device=device, t=now_t - 60 * k, cpu_pct=10, mem_pct=40) for k in range(16)
        )
        devices.append(device)
    full, refined, memory, smart, process, healthy = devices
    Volume.objects.filter(device=full, mountpoint="/").update(free_bytes=2 * GB, used_bytes=98 * GB)
    Volume.objects.filter(device=refined, mountpoint="/data").update(
        free_bytes=40 * GB, used_bytes=60 * GB
    )
    checks.save_check(
        actor=world.tech,
        client=world.client_a,
        kind=CheckKind.MEMORY,
        device=memory,
        params={"pct": 80, "window_min": 10},
    )
    MetricSample.objects.filter(device=memory).update(mem_pct=85)
    state = {"processes": {"nginx": 2}, "services": {}}
    for device in devices:
        _checkin(device, T0, **state)
    _checkin(smart, T0, smart=[{"device": "/dev/sdb", "healthy": False}], processes={"nginx": 2})
    _checkin(process, T0, processes={"nginx": 1})
    for minute in (0, 1):
        moment = T0 + timedelta(seconds=30 * minute)
        for device in devices:
            Device.objects.filter(pk=device.pk).update(last_seen_at=moment)
        _eval(moment)
    found = set(Alert.objects.open().values_list("device__hostname", "kind", "target"))
    assert found == {
        ("pc0", "disk", "/"),
        ("pc1", "disk", "/data"),
        ("pc2", "memory", ""),
        ("pc3", "smart", ""),
        ("pc4", "process", "nginx"),
    }
    assert "/dev/sdb" in Alert.objects.get(kind="smart").message
    assert not CheckState.objects.filter(device=healthy).exists()


@pytest.mark.django_db
def test_open_alert_follows_material_changes_only(world):
    """A failed backup's age grows every minute: the alert's value follows it in
    material steps, not every evaluation; a new verdict (message) updates it at once."""
    device = make_device(world.site_a, "pc", last_seen_at=T0)
    beat_t = int(T0.timestamp()) - 3600
    JobHeartbeat.objects.create(device=device, name="nightly", t=beat_t, is_ok=False)
    _checkin(device, T0)
    _eval(T0)
    alert = Alert.objects.get(kind=CheckKind.BACKUP, target="nightly")
    assert alert.details["value"] == pytest.approx(1.0)
    changed_at = alert.changed_at
    for minutes in (6, 12, 30):
        moment = T0 + timedelta(minutes=minutes)
        _checkin(device, moment)
        _eval(moment)
    alert.refresh_from_db()
    assert alert.changed_at == changed_at and alert.details["value"] == pytest.approx(1.0)
    # The state keeps the exact age all the same.
    assert CheckState.objects.get(key="backup:nightly").value == pytest.approx(1.5)
    later = T0 + timedelta(hours=5)
    _checkin(device, later)
    _eval(later)
    alert.refresh_from_db()
    assert alert.details["value"] == pytest.approx(6.0)
    JobHeartbeat.objects.create(
        device=device, name="nightly", t=int(later.timestamp()), is_ok=False, message="tape"
    )
    _checkin(device, later + timedelta(minutes=1))
    _eval(later + timedelta(minutes=1))
    alert.refresh_from_db()
    assert alert.message.endswith(": tape")


@pytest.mark.django_db
def test_sustained_cpu_uses_the_newest_sample_kept_in_latest(world):
    """The check-in keeps the newest sample in ``latest``: a device whose newest CPU is
    below the threshold is not aggregated, one above it is, and a failing one is always
    looked at again (so it can clear)."""
    now_t = int(T0.timestamp())

    def fleet(name: str, values: list[float]) -> Device:
        device = make_device(world.site_a, name, last_seen_at=T0)
        MetricSample.objects.bulk_create(
            MetricSample(device=device, t=now_t - 60 * (len(values) - 1 - i), cpu_pct=v)
            for i, v in enumerate(values)
        )
        newest = {"t": now_t, "cpu_pct": values[-1], "mem_pct": 30.0}
        Device.objects.filter(pk=device.pk).update(latest={"metrics": newest})
        return device

    hot = fleet("hot", [99.0] * 16)
    fleet("cooled", [99.0] * 15 + [10.0])
    _eval(T0)
    assert set(Alert.objects.open().values_list("device__hostname", "kind")) == {("hot", "cpu")}
    # The hot one cools down: its unsettled state gets its passes counted (clear_after 2).
    MetricSample.objects.filter(device=hot, t=now_t).update(cpu_pct=10.0)
    for k in (1, 2):
        moment = T0 + timedelta(seconds=10 * k)
        Device.objects.filter(pk=hot.pk).update(
            last_seen_at=moment, latest={"metrics": {"t": now_t, "cpu_pct": 10.0}}
        )
        _eval(moment)
    assert not Alert.objects.open().exists()

"""The demo fleet: the demo's devices keep checking in, through the agent API's own path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings
from huey.contrib.djhuey import HUEY

from atalaya.core.demo import load_demo
from atalaya.core.demo.fleet import demo_devices, simulate_checkins
from atalaya.core.demo.monitoring import DEMO_KEY, GIB
from atalaya.core.models import User
from atalaya.core.tasks import simulate_demo_fleet
from atalaya.monitoring import actions, enrollment, forecast, retention, status
from atalaya.monitoring.display import volume_forecast
from atalaya.monitoring.models import (
    ActionStatus,
    Alert,
    Device,
    DeviceStatus,
    MetricSample,
    Volume,
    VolumeSample,
)

# In the working hours of the demo's history, in the past of the real clock.
NOW = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
NOW_S = int(NOW.timestamp())


@pytest.fixture
def demo(db: None) -> Iterator[time_machine.Coordinates]:
    """The demo loaded for the present (as ``make run`` loads it), the clock held at NOW."""
    with time_machine.travel(NOW, tick=False) as clock:
        load_demo(tickets=60, now=NOW)
        yield clock


def silent_device() -> Device:
    (device,) = [d for d in Device.objects.all() if d.inventory[DEMO_KEY]["offline"]]
    return device


def filling_volume() -> Volume:
    (volume,) = [
        v
        for v in Volume.objects.select_related("device")
        if v.device.inventory[DEMO_KEY]["volumes"][v.mountpoint]["rate"] < 0
    ]
    return volume


def test_one_sample_per_live_demo_device_and_none_for_the_offline_one_or_a_real_agent(
    demo: time_machine.Coordinates,
) -> None:
    every = list(Device.objects.all())
    assert len(every) == 41 and all(DEMO_KEY in d.inventory for d in every)
    silent = silent_device()
    assert silent.status == DeviceStatus.OFFLINE and "-lt" in silent.hostname
    # A real agent enrolled alongside the demo, with a token of its own.
    _token, raw = enrollment.create_enrollment_token(
        actor=None, site=silent.site, name="Real laptops", expires_at=NOW + timedelta(days=1)
    )
    real, _device_token = enrollment.enroll_device(
        raw_token=raw,
        hostname="real-laptop",
        machine_id="f" * 32,
        platform="linux",
        os_name="Debian GNU/Linux",
        os_version="12",
        agent_version="0.1.0",
    )
    live = demo_devices()
    assert {d.pk for d in live} == {d.pk for d in every} - {silent.pk}
    before = {d.pk: d.latest for d in live}

    demo.shift(timedelta(seconds=60))
    assert simulate_checkins() == 40

    t = NOW_S + 60
    stored = list(MetricSample.objects.filter(t__gt=NOW_S).values_list("device_id", "t"))
    assert sorted(stored) == sorted((d.pk, t) for d in live)
    assert not MetricSample.objects.filter(device__in=[silent, real]).filter(t__gt=NOW_S).exists()
    volumes = Volume.objects.filter(device__in=live).count()
    assert VolumeSample.objects.filter(t=t).count() == volumes == 52
    silent.refresh_from_db()
    real.refresh_from_db()
    assert silent.last_seen_at < NOW - timedelta(hours=2)
    assert real.last_seen_at is None and real.status == DeviceStatus.PENDING
    for device in Device.objects.filter(pk__in=before):
        assert device.last_seen_at == NOW + timedelta(seconds=60)
        latest, earlier = device.latest, before[device.pk]
        # The state continues the loader's: uptime went on, users and SMART as they were.
        assert latest["t"] == t and latest["uptime_s"] == earlier["uptime_s"] + 60
        assert latest["users"] == earlier["users"] and latest["smart"] == earlier["smart"]
        metrics = latest["metrics"]
        assert 0.5 <= metrics["cpu_pct"] <= 100 and 1 <= metrics["mem_pct"] <= 99
        assert (metrics["load1"] is None) == (device.platform == "windows")
        assert latest["missing"] == (["load1"] if device.platform == "windows" else [])


def test_the_filling_disk_keeps_its_rate_and_its_forecast(
    demo: time_machine.Coordinates,
) -> None:
    filling = filling_volume()
    assert volume_forecast(filling, NOW).text == "Full in about 3 days"
    full_at = filling.forecast_full_at
    assert full_at is not None
    flat = {
        v.pk: v.free_bytes
        for v in Volume.objects.filter(device__in=demo_devices()).exclude(pk=filling.pk)
    }
    # Six hours of the fleet, a check-in every 15 minutes.
    for _ in range(24):
        demo.shift(timedelta(minutes=15))
        assert simulate_checkins() == 40
    frees = dict(
        VolumeSample.objects.filter(volume=filling, t__gt=NOW_S).values_list("t", "free_bytes")
    )
    assert len(frees) == 24
    two_hourly = [frees[t] for t in sorted(frees)][7::8]
    assert two_hourly == sorted(two_hourly, reverse=True) and len(set(two_hourly)) == 3
    rate = filling.free_bytes / timedelta(days=3, hours=4).total_seconds()
    assert abs(filling.free_bytes - frees[max(frees)] - rate * 6 * 3600) < 0.25 * GIB
    for volume_id, free in VolumeSample.objects.filter(volume_id__in=flat, t__gt=NOW_S).values_list(
        "volume_id", "free_bytes"
    ):
        assert abs(free - flat[volume_id]) < 0.1 * GIB
    # The engine's own rollups and fit over the new samples still say the same.
    later = NOW + timedelta(hours=6)
    retention.rollup(now=later)
    forecast.recompute_forecasts(now=later)
    filling.refresh_from_db()
    assert filling.forecast_full_at is not None
    assert abs((filling.forecast_full_at - full_at).total_seconds()) < 3 * 3600
    assert volume_forecast(filling, later).text == "Full in about 3 days"


def test_the_sweep_keeps_the_demo_online(demo: time_machine.Coordinates) -> None:
    live = {d.pk for d in demo_devices()}
    silent = silent_device()
    # `make run`: the sweep may come before the fleet's first check-in.
    demo.shift(timedelta(seconds=110))
    assert status.sweep().to_offline == 0
    for _ in range(5):
        assert simulate_checkins() == 40
        demo.shift(timedelta(seconds=60))
        report = status.sweep()
        assert report.to_offline == 0 and report.alerts_opened == 0
        assert (
            set(Device.objects.filter(status=DeviceStatus.ONLINE).values_list("pk", flat=True))
            == live
        )
    offline_alerts = Alert.objects.open().filter(kind__in=["offline", "site_offline"])
    assert list(offline_alerts.values_list("device_id", flat=True)) == [silent.pk]
    # Without the fleet they would go dark: the sweep is not blind.
    demo.shift(timedelta(seconds=70))
    assert status.sweep().to_offline == 40


def test_actions_queued_on_a_demo_device_are_reported_done(
    demo: time_machine.Coordinates,
) -> None:
    admin = User.objects.get(username="admin")
    device = next(d for d in demo_devices() if d.platform == "linux")
    uptime = device.latest["uptime_s"]
    reboot = actions.queue_action(actor=admin, device=device, kind="reboot")
    demo.shift(timedelta(seconds=60))
    simulate_checkins()
    reboot.refresh_from_db()
    assert reboot.status == ActionStatus.SENT
    demo.shift(timedelta(seconds=60))
    simulate_checkins()
    reboot.refresh_from_db()
    device.refresh_from_db()
    assert reboot.status == ActionStatus.SUCCEEDED and reboot.exit_code == 0
    assert device.latest["uptime_s"] < 60 < uptime
    assert not device.has_pending_actions


def test_the_periodic_task_runs_only_with_the_setting(demo: time_machine.Coordinates) -> None:
    assert simulate_demo_fleet.task_class.__name__ in {t.name for t in HUEY.read_periodic(NOW)}
    demo.shift(timedelta(seconds=60))
    with override_settings(DEMO_FLEET=False):
        assert simulate_demo_fleet.call_local() == 0
    assert not MetricSample.objects.filter(t__gt=NOW_S).exists()
    with override_settings(DEMO_FLEET=True):
        assert simulate_demo_fleet.call_local() == 40
    assert MetricSample.objects.filter(t=NOW_S + 60).count() == 40


@pytest.mark.django_db
def test_without_the_demo_the_fleet_does_nothing() -> None:
    with override_settings(DEMO_FLEET=True):
        assert simulate_demo_fleet.call_local() == 0
    assert not MetricSample.objects.exists()

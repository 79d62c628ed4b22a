"""Disk-full forecasts on synthetic series: linear fill, noise, growth, short history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from atalaya.monitoring import evaluate, forecast
from atalaya.monitoring.models import Alert, CheckKind, VolumeRollup
from atalaya.monitoring.tests.engine_helpers import GB, make_device, make_volume

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
NOW_T = int(NOW.timestamp()) // 900 * 900


def _series(volume, values_gb: list[float]) -> None:
    """Rollups ending at NOW, one per 15 minutes, oldest first."""
    start = NOW_T - (len(values_gb) - 1) * 900
    VolumeRollup.objects.bulk_create(
        VolumeRollup(
            volume=volume,
            bucket=(start + i * 900) // 900,
            samples=15,
            free_avg_mib=round(v * 1024),
            free_min_mib=int(v * 1024),
            used_pct_max_x100=5000,
        )
        for i, v in enumerate(values_gb)
    )


@pytest.mark.django_db
def test_linear_fill_forecasts_full_time(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    volume = make_volume(device, "/data", total_gb=100, free_gb=10)
    # 24 h losing 0.5 GB an hour, ending at 10 GB free: full 20 h after NOW.
    _series(volume, [22.0 - 0.125 * i + random.uniform(-0.01, 0.01) for i in range(97)])
    report = forecast.recompute_forecasts(now=NOW)
    assert report.volumes == 1 and report.forecasts == 1
    volume.refresh_from_db()
    expected = datetime.fromtimestamp(NOW_T, tz=UTC) + timedelta(hours=20)
    assert volume.forecast_full_at is not None
    assert abs((volume.forecast_full_at - expected).total_seconds()) < 15 * 60
    assert volume.forecast_r2 > 0.99
    assert volume.forecast_slope == pytest.approx(-0.5 * GB, rel=0.02)
    assert forecast.days_until_full(volume, NOW) == pytest.approx(20 / 24, abs=0.02)


@pytest.mark.django_db
def test_noisy_series_is_suppressed(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    volume = make_volume(device, "/tmp", total_gb=100, free_gb=30)
    rng = random.Random(4)
    _series(volume, [30 - 0.01 * i + rng.uniform(-8, 8) for i in range(97)])
    forecast.recompute_forecasts(now=NOW)
    volume.refresh_from_db()
    assert volume.forecast_r2 is not None and volume.forecast_r2 < forecast.MIN_R2
    assert volume.forecast_full_at is None


@pytest.mark.django_db
def test_growing_free_space_has_no_forecast(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    volume = make_volume(device, "/", total_gb=100, free_gb=40)
    _series(volume, [20 + 0.2 * i for i in range(97)])
    forecast.recompute_forecasts(now=NOW)
    volume.refresh_from_db()
    assert volume.forecast_slope > 0 and volume.forecast_full_at is None


@pytest.mark.django_db
def test_less_than_six_hours_gives_nothing(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    volume = make_volume(device, "/", total_gb=100, free_gb=5)
    _series(volume, [10 - 0.2 * i for i in range(20)])  # 5 h
    forecast.recompute_forecasts(now=NOW)
    volume.refresh_from_db()
    assert volume.forecast_full_at is None and volume.forecast_slope is None


@pytest.mark.django_db
def test_stale_forecast_is_cleared(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    volume = make_volume(device, "/", total_gb=100, free_gb=5)
    _series(volume, [29 - 0.2 * i for i in range(97)])
    forecast.recompute_forecasts(now=NOW)
    volume.refresh_from_db()
    assert volume.forecast_full_at is not None
    # Two days later the history left the window: no forecast any more.
    report = forecast.recompute_forecasts(now=NOW + timedelta(days=2))
    volume.refresh_from_db()
    assert report.cleared == 1 and volume.forecast_full_at is None


@pytest.mark.django_db
def test_forecast_alert_needs_both_horizon_and_low_free_space(world):
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    low = make_volume(device, "/data", total_gb=100, free_gb=8)  # 8 % free
    roomy = make_volume(device, "/big", total_gb=1000, free_gb=400)  # 40 % free
    _series(low, [8 + 0.1 * (96 - i) for i in range(97)])  # full in ~20 h
    _series(roomy, [400 + 10 * (96 - i) for i in range(97)])  # full in ~10 h but 40 % free
    forecast.recompute_forecasts(now=NOW)
    evaluate.evaluate_since(None, now=NOW + timedelta(seconds=1))
    alerts = Alert.objects.filter(kind=CheckKind.DISK_FORECAST)
    assert list(alerts.values_list("target", "severity")) == [("/data", "critical")]
    assert alerts.get().ticket is not None


@pytest.mark.django_db
def test_series_with_gaps_fits_the_same_line(world):
    """An agent offline for hours leaves a gap: the fit uses the buckets that exist."""
    device = make_device(world.site_a, "srv", last_seen_at=NOW)
    whole = make_volume(device, "/a", total_gb=100, free_gb=10)
    gapped = make_volume(device, "/b", total_gb=100, free_gb=10)
    values = [22.0 - 0.125 * i for i in range(97)]
    _series(whole, values)
    _series(gapped, values)
    VolumeRollup.objects.filter(volume=gapped, bucket__lt=(NOW_T - 12 * 3600) // 900).filter(
        bucket__gte=(NOW_T - 16 * 3600) // 900
    ).delete()
    forecast.recompute_forecasts(now=NOW)
    whole.refresh_from_db()
    gapped.refresh_from_db()
    assert VolumeRollup.objects.filter(volume=gapped).count() < 97
    assert whole.forecast_full_at is not None and gapped.forecast_full_at is not None
    assert abs((whole.forecast_full_at - gapped.forecast_full_at).total_seconds()) <= 60
    assert gapped.forecast_slope == pytest.approx(whole.forecast_slope, rel=0.001)

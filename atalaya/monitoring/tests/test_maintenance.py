"""Maintenance windows: once, daily, weekly, monthly, in the site's zone across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.core.models import AuditEvent
from atalaya.monitoring import maintenance
from atalaya.monitoring.models import Recurrence
from atalaya.monitoring.tests.engine_helpers import make_device

MADRID = ZoneInfo("Europe/Madrid")


def _local(y, m, d, h, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=MADRID)


def _window(world, **kw):
    fields = {"actor": world.tech, "client": world.client_a, "name": "Patch night"}
    fields.update(kw)
    return maintenance.create_window(**fields)


@pytest.mark.django_db
def test_one_off_window(world):
    device = make_device(world.site_a, "pc")
    _window(world, starts_at=_local(2025, 3, 1, 22), ends_at=_local(2025, 3, 2, 1))
    assert maintenance.is_in_maintenance(device, _local(2025, 3, 1, 23, 30))
    assert not maintenance.is_in_maintenance(device, _local(2025, 3, 2, 1, 0))
    assert not maintenance.is_in_maintenance(device, _local(2025, 3, 1, 21, 59))
    other = make_device(world.site_b, "pc-b")
    assert not maintenance.is_in_maintenance(other, _local(2025, 3, 1, 23, 30))


@pytest.mark.django_db
def test_daily_window_keeps_local_time_across_dst(world):
    """02:00–04:00 Madrid every day: 01:00 UTC in winter, 00:00 UTC in summer."""
    world.site_a.time_zone = "Europe/Madrid"
    world.site_a.save()
    device = make_device(world.site_a, "pc")
    _window(
        world,
        site=world.site_a,
        starts_at=_local(2025, 3, 20, 2),
        ends_at=_local(2025, 3, 20, 4),
        recurrence=Recurrence.DAILY,
    )
    # Winter (CET, UTC+1).
    assert maintenance.is_in_maintenance(device, datetime(2025, 3, 25, 1, 30, tzinfo=UTC))
    # After the change on 30 March (CEST, UTC+2): 02:30 local is 00:30 UTC.
    assert maintenance.is_in_maintenance(device, datetime(2025, 4, 2, 0, 30, tzinfo=UTC))
    assert not maintenance.is_in_maintenance(device, datetime(2025, 4, 2, 2, 30, tzinfo=UTC))
    # The night of the change: 02:00 does not exist, the window runs 03:00–04:00 CEST.
    assert maintenance.is_in_maintenance(device, datetime(2025, 3, 30, 1, 30, tzinfo=UTC))
    assert not maintenance.is_in_maintenance(device, datetime(2025, 3, 30, 2, 0, tzinfo=UTC))
    # Back in autumn: 02:00 CET is 01:00 UTC again.
    assert maintenance.is_in_maintenance(device, datetime(2025, 11, 3, 1, 30, tzinfo=UTC))
    assert not maintenance.is_in_maintenance(device, datetime(2025, 11, 3, 0, 30, tzinfo=UTC))


@pytest.mark.django_db
def test_weekly_and_monthly_with_repeat_until(world):
    device = make_device(world.site_a, "pc")
    # Saturdays 20:00–23:00 until the end of April.
    _window(
        world,
        starts_at=_local(2025, 3, 1, 20),
        ends_at=_local(2025, 3, 1, 23),
        recurrence=Recurrence.WEEKLY,
        repeat_until=_local(2025, 4, 30, 0),
    )
    assert maintenance.is_in_maintenance(device, _local(2025, 3, 8, 21))
    assert maintenance.is_in_maintenance(device, _local(2025, 4, 5, 22))  # CEST by then
    assert not maintenance.is_in_maintenance(device, _local(2025, 3, 9, 21))  # a Sunday
    assert not maintenance.is_in_maintenance(device, _local(2025, 5, 3, 21))  # after the end
    # The 31st of every month falls on the last day of shorter months.
    other = make_device(world.site_a, "pc2")
    maintenance.create_window(
        actor=world.tech,
        client=world.client_a,
        device=other,
        name="Month end",
        starts_at=_local(2025, 1, 31, 23),
        ends_at=_local(2025, 2, 1, 1),
        recurrence=Recurrence.MONTHLY,
    )
    assert maintenance.is_in_maintenance(other, _local(2025, 2, 28, 23, 30))
    assert maintenance.is_in_maintenance(other, _local(2025, 4, 30, 23, 30))
    assert not maintenance.is_in_maintenance(other, _local(2025, 4, 15, 23, 30))
    nxt = maintenance.next_occurrence(
        maintenance.MaintenanceWindow.objects.get(name="Month end"), _local(2025, 3, 5, 0)
    )
    assert nxt is not None and nxt[0] == _local(2025, 3, 31, 23)


@pytest.mark.django_db
def test_scopes_for_the_sweep(world):
    pc = make_device(world.site_a, "pc")
    _window(
        world, site=world.site_a, starts_at=_local(2025, 3, 1, 22), ends_at=_local(2025, 3, 2, 1)
    )
    scopes = maintenance.scopes_at(_local(2025, 3, 1, 23))
    assert scopes.site_ids == {world.site_a.pk} and scopes.covers(pc)
    assert not maintenance.scopes_at(_local(2025, 3, 2, 2))


@pytest.mark.django_db
def test_cancel_and_validation(world):
    device = make_device(world.site_a, "pc")
    window = _window(world, starts_at=_local(2025, 3, 1, 22), ends_at=_local(2025, 3, 2, 1))
    maintenance.cancel_window(actor=world.tech, window=window, now=_local(2025, 3, 1, 23))
    assert not maintenance.is_in_maintenance(device, _local(2025, 3, 1, 23, 30))
    assert maintenance.is_in_maintenance(device, _local(2025, 3, 1, 22, 30))  # history stays
    assert AuditEvent.objects.filter(action="maintenance.cancelled").count() == 1
    with pytest.raises(ValidationError) as exc:
        _window(world, starts_at=_local(2025, 3, 1, 22), ends_at=_local(2025, 3, 1, 21))
    assert "ends_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        _window(
            world,
            starts_at=_local(2025, 3, 1, 22),
            ends_at=_local(2025, 3, 3, 1),
            recurrence=Recurrence.DAILY,
        )
    assert "ends_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        _window(
            world,
            site=world.site_b,
            starts_at=_local(2025, 3, 1, 22),
            ends_at=_local(2025, 3, 1, 23),
        )
    assert "site" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        _window(world, starts_at=datetime(2025, 3, 1, 22), ends_at=datetime(2025, 3, 1, 23))
    assert "starts_at" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        _window(
            world,
            actor=world.readonly,
            starts_at=_local(2025, 3, 1, 22),
            ends_at=_local(2025, 3, 1, 23),
        )
    assert timedelta(0) < window.duration

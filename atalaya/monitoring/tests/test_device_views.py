"""The device pages: list (filters, search, keyset pages, fixed query count) and the
device page (inventory, volumes and forecasts, charts, alerts, actions), edit, retire."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from atalaya.conftest import World
from atalaya.monitoring import actions
from atalaya.monitoring.models import (
    Alert,
    Device,
    MetricRollup,
    MetricSample,
    Volume,
    VolumeRollup,
    VolumeSample,
)
from atalaya.monitoring.tests.helpers_ui import (  # noqa: F401 - the fixture
    approved_script,
    make_device,
    signing_key,
)

LIST = reverse("monitoring:device_list")


def detail(device: Device, **query: str) -> str:
    url = reverse("monitoring:device_detail", args=[device.public_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_list_three_users_and_methods(world: World) -> None:
    make_device(world.client_a, world.site_a, "pc-ana")
    page = world.http(world.readonly).get(LIST)
    assert page.status_code == 200 and "pc-ana" in page.content.decode()
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(LIST).status_code == 404
    assert world.http(None).get(LIST).status_code == 302
    assert world.http(world.tech).post(LIST).status_code == 405


def test_list_filters_search_and_pages(world: World, django_assert_max_num_queries: Any) -> None:
    for n in range(3):
        make_device(world.client_a, world.site_a, f"pc-{n}")
    make_device(world.client_a, world.site_a, "srv-files", status="offline")
    make_device(world.client_b, world.site_b, "pos-01", status="overdue", os_name="Windows 11")
    http = world.http(world.tech)
    with django_assert_max_num_queries(100) as baseline:
        page = http.get(LIST)
    ceiling = len(baseline)
    assert [d.hostname for d in page.context["devices"]] == [
        "pc-0",
        "pc-1",
        "pc-2",
        "pos-01",
        "srv-files",
    ]
    assert "Windows 11" in page.content.decode()
    only_b = http.get(LIST, {"client": world.client_b.public_id})
    assert [d.hostname for d in only_b.context["devices"]] == ["pos-01"]
    offline = http.get(LIST, {"status": "offline"})
    assert [d.hostname for d in offline.context["devices"]] == ["srv-files"]
    # The status totals ignore the status filter, so the other states stay visible.
    assert ("offline", "Offline", 1) in offline.context["status_counts"]
    found = http.get(LIST, {"q": "SRV"})
    assert [d.hostname for d in found.context["devices"]] == ["srv-files"]
    bad = http.get(LIST, {"status": "asleep"})
    assert bad.status_code == 200 and bad.context["devices"] == []
    fragment = http.get(
        LIST, {"q": "pc"}, headers={"HX-Request": "true", "HX-Target": "device-results"}
    )
    assert fragment.content.decode().lstrip().startswith('<div id="device-results">')
    # Sixty more devices with alerts: two pages, each within the same query ceiling.
    for n in range(60):
        device = make_device(world.client_b, world.site_b, f"zz-{n:02d}")
        Alert.objects.create(
            client=world.client_b,
            site=world.site_b,
            device=device,
            kind="offline",
            severity="critical",
            message="Offline",
        )
    with django_assert_max_num_queries(ceiling):
        first = http.get(LIST)
    assert len(first.context["devices"]) == 50 and first.context["next_query"]
    assert first.context["devices"][-1].open_alerts == 1
    with django_assert_max_num_queries(ceiling):
        second = http.get(LIST + "?" + first.context["next_query"])
    assert len(second.context["devices"]) == 15 and not second.context["next_query"]
    assert second.context["devices"][-1].hostname == "zz-59"
    assert http.get(LIST, {"after": "garbage"}).context["devices"] == []


def _history(device: Device, volume: Volume, now: int) -> None:
    MetricSample.objects.bulk_create(
        MetricSample(device=device, t=now - i * 60, cpu_pct=10 + i % 7, mem_pct=40, load1=0.3)
        for i in range(0, 600, 5)
    )
    VolumeSample.objects.bulk_create(
        VolumeSample(volume=volume, t=now - i * 60, free_bytes=(20 + i / 100) * 2**30, used_pct=80)
        for i in range(0, 600, 5)
    )
    bucket = now // 900  # rollups are keyed by the bucket's number
    MetricRollup.objects.bulk_create(
        MetricRollup(
            device=device,
            bucket=bucket - i,
            samples=15,
            cpu_avg_x100=2000,
            cpu_max_x100=6000,
            mem_avg_x100=4500,
            mem_max_x100=5000,
            swap_max_x100=0,
            load1_avg=0.5,
        )
        for i in range(1, 2000, 4)
    )
    VolumeRollup.objects.bulk_create(
        VolumeRollup(
            volume=volume,
            bucket=bucket - i,
            samples=15,
            free_avg_mib=round((20 + i / 50) * 2**10),
            free_min_mib=20 * 2**10,
            used_pct_max_x100=8000,
        )
        for i in range(1, 2000, 4)
    )


def test_device_page(world: World, django_assert_max_num_queries: Any) -> None:
    now = timezone.now()
    device = make_device(
        world.client_a,
        world.site_a,
        "srv-files",
        os_name="Debian GNU/Linux",
        os_version="12",
        inventory={
            "cpu_model": "Intel Xeon E-2224",
            "cpu_count": 4,
            "memory_total": 16 * 2**30,
            "network": [
                {"name": "eth0", "mac": "52:54:00:12:34:56", "addresses": [{"address": "10.0.0.5"}]}
            ],
            "software": [
                {"name": "nginx", "version": "1.22"},
                {"name": "samba", "version": "4.17"},
            ],
        },
        latest={"users": ["ana"]},
    )
    root = Volume.objects.create(
        device=device,
        mountpoint="/srv",
        total_bytes=100 * 2**30,
        used_bytes=80 * 2**30,
        free_bytes=20 * 2**30,
        forecast_full_at=now + timedelta(days=3, hours=2),
        forecast_slope=-20 * 2**30 / 74,
        forecast_r2=0.98,
        forecast_computed_at=now,
    )
    Volume.objects.create(
        device=device,
        mountpoint="/",
        total_bytes=50 * 2**30,
        used_bytes=10 * 2**30,
        free_bytes=40 * 2**30,
        forecast_slope=0.0,
        forecast_computed_at=now,
    )
    _history(device, root, int(now.timestamp()))
    Alert.objects.create(
        client=world.client_a,
        site=world.site_a,
        device=device,
        kind="disk_forecast",
        target="/srv",
        severity="warning",
        message="/srv will be full in about 3 days",
        ticket=world.ticket_a,
    )
    action = actions.queue_action(actor=world.admin, device=device, kind="reboot")
    type(action).objects.filter(pk=action.pk).update(
        status="succeeded", exit_code=0, output="rebooting <now>", duration_ms=1200
    )
    http = world.http(world.readonly)
    with django_assert_max_num_queries(15):
        page = http.get(detail(device))
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Full in about 3 days",
        "Not filling up",
        "Intel Xeon E-2224",
        "10.0.0.5",
        "2 packages",
        "nginx",
        "/srv will be full in about 3 days",
        f"#{world.ticket_a.number}",
        "rebooting &lt;now&gt;",
        "1.2 s",
        "ana",
    ):
        assert text in html, text
    assert html.count("<svg") >= 3 and "Forecast" in html
    # The forecast is a dashed line (not a dot broken off by the gap rule) to the full date.
    assert re.search(r'<polyline[^>]*stroke="#b42318"[^>]*stroke-dasharray', html)
    assert root.forecast_full_at is not None
    full_day = root.forecast_full_at.astimezone(zoneinfo.ZoneInfo(world.readonly.time_zone))
    assert full_day.strftime("%Y-%m-%d") in html
    # The forecast line runs to the forecast day: the volume chart's axis goes past today.
    assert page.context["volume"] == root
    assert "Queue an action" not in html
    for key in ("7d", "30d"):
        ranged = http.get(detail(device, range=key, volume="/"))
        assert ranged.status_code == 200 and ranged.context["volume"].mountpoint == "/"
        assert "15-minute averages" in ranged.content.decode()
    fragment = http.get(
        detail(device, range="7d"), headers={"HX-Request": "true", "HX-Target": "device-charts"}
    )
    assert fragment.content.decode().lstrip().startswith('<div id="device-charts">')
    admin_page = world.http(world.admin).get(detail(device)).content.decode()
    assert "Queue an action" in admin_page
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(detail(device)).status_code == 404
    assert (
        http.get(reverse("monitoring:device_detail", args=[world.client_a.public_id])).status_code
        == 404
    )
    assert http.post(detail(device)).status_code == 405


def test_empty_device_page(world: World) -> None:
    device = make_device(
        world.client_a, world.site_a, "new-pc", status="pending", last_seen_at=None
    )
    Device.objects.filter(pk=device.pk).update(last_seen_at=None)
    page = world.http(world.tech).get(detail(device)).content.decode()
    assert "No volumes reported yet." in page and "No samples in this period" in page
    assert "never" in page


def test_edit_and_retire(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    router = make_device(world.client_a, world.site_a, "router")
    edit = reverse("monitoring:device_edit", args=[device.public_id])
    retire = reverse("monitoring:device_retire", args=[device.public_id])
    http = world.http(world.tech)
    assert http.get(edit).status_code == 200
    body = {
        "display_name": "Ana's PC",
        "site": str(world.site_a.public_id),
        "parent": str(router.public_id),
        "checkin_interval_s": "120",
    }
    assert world.http(world.readonly).post(edit, body).status_code == 403
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).post(edit, body).status_code == 404
        assert world.http(user).post(retire).status_code == 404
    assert http.post(edit, body).status_code == 302
    device.refresh_from_db()
    assert device.display_name == "Ana's PC" and device.parent == router
    assert device.checkin_interval_s == 120 and device.config_version == 2
    bad = http.post(edit, {**body, "checkin_interval_s": "5"})
    assert bad.status_code == 400 and "greater than or equal to 30" in bad.content.decode()
    foreign = http.post(edit, {**body, "site": str(world.site_b.public_id)})
    assert foreign.status_code == 400
    assert world.http(world.readonly).post(retire).status_code == 403
    assert http.get(retire).status_code == 405
    assert http.post(retire).status_code == 302
    device.refresh_from_db()
    assert device.retired_at is not None
    assert "pc-ana" not in http.get(LIST).content.decode()

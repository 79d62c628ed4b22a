"""The devices API: list with filters and keyset pages, get with volumes and forecasts,
change, retire; enrollment tokens; staff only (404), read-only writes 403."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.monitoring.api import STATUS_CHOICES
from atalaya.monitoring.models import Alert, Device, EnrollmentToken, Volume
from atalaya.monitoring.tests.helpers_ui import make_device


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def test_status_literals_follow_the_models() -> None:
    import typing

    for literal, choices in STATUS_CHOICES.values():
        assert set(typing.get_args(literal)) == set(choices.values)


def test_list_filters_and_pages(world: World, django_assert_max_num_queries: Any) -> None:
    for n in range(5):
        make_device(world.client_a, world.site_a, f"pc-{n:02d}", status="online")
    make_device(world.client_a, world.site_a, "srv-files", status="offline")
    make_device(world.client_b, world.site_b, "pos-01", status="overdue")
    api = Api(world.readonly)
    with django_assert_max_num_queries(100) as baseline:
        first = api.get("/devices", {"limit": 3})
    assert first.status_code == 200, first.content
    # Taken now: the next request outside a capture resets the connection's query log.
    ceiling = len(baseline)
    page = first.json()
    assert [d["hostname"] for d in page["items"]] == ["pc-00", "pc-01", "pc-02"]
    rest = api.get("/devices", {"limit": 10, "cursor": page["next_cursor"]}).json()
    assert [d["hostname"] for d in rest["items"]] == ["pc-03", "pc-04", "pos-01", "srv-files"]
    assert rest["next_cursor"] is None
    by_client = api.get("/devices", {"client": str(world.client_b.public_id)}).json()
    assert [d["hostname"] for d in by_client["items"]] == ["pos-01"]
    assert by_client["items"][0]["client_name"] == "Beta Bodegas"
    offline = api.get("/devices", {"status": "offline", "site": str(world.site_a.public_id)})
    assert [d["hostname"] for d in offline.json()["items"]] == ["srv-files"]
    assert [d["hostname"] for d in api.get("/devices", {"q": "SRV"}).json()["items"]] == [
        "srv-files"
    ]
    # More devices, with alerts, cost no more queries.
    for n in range(20):
        device = make_device(world.client_b, world.site_b, f"zz-{n:02d}")
        Alert.objects.create(
            client=world.client_b,
            site=world.site_b,
            device=device,
            kind="disk",
            severity="warning",
            message="Disk almost full",
        )
    with django_assert_max_num_queries(ceiling):
        items = api.get("/devices", {"limit": 50}).json()["items"]
    assert len(items) == 27 and items[-1]["open_alerts"] == 1


def test_bad_filters_name_the_field(world: World) -> None:
    api = Api(world.tech)
    assert fields_of(api.get("/devices", {"status": "asleep"})) == {"status"}
    assert fields_of(api.get("/devices", {"cursor": "!!"})) == {"cursor"}
    missing = api.get("/devices", {"client": "00000000-0000-4000-8000-00000000dead"})
    assert missing.status_code == 404 and fields_of(missing) == {"client"}


def test_get_device_with_volumes_and_forecasts(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "srv-files", inventory={"cpu": "Xeon"})
    now = timezone.now()
    Volume.objects.create(
        device=device,
        mountpoint="/",
        total_bytes=100 * 2**30,
        used_bytes=90 * 2**30,
        free_bytes=10 * 2**30,
        forecast_full_at=now + timedelta(days=3, hours=1),
        forecast_slope=-140e6,
        forecast_r2=0.97,
        forecast_computed_at=now,
    )
    Volume.objects.create(device=device, mountpoint="/data", total_bytes=10, free_bytes=10)
    response = Api(world.readonly).get(f"/devices/{device.public_id}")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["inventory"] == {"cpu": "Xeon"}
    root, other = data["volumes"]
    assert root["forecast_state"] == "full_soon" and root["forecast_text"] == "Full in about 3 days"
    assert root["used_pct"] == 90.0
    assert other["forecast_state"] == "no_history"
    assert Api(world.tech).get(f"/devices/{world.client_a.public_id}").status_code == 404


def test_change_and_retire(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    router = make_device(world.client_a, world.site_a, "router")
    foreign = make_device(world.client_b, world.site_b, "pos-01")
    api = Api(world.tech)
    url = f"/devices/{device.public_id}"
    response = api.patch(
        url, {"display_name": "Ana", "parent": str(router.public_id), "checkin_interval_s": 300}
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["display_name"] == "Ana" and data["parent"] == str(router.public_id)
    device.refresh_from_db()
    assert device.checkin_interval_s == 300 and device.config_version == 2
    assert fields_of(api.patch(url, {"parent": str(foreign.public_id)})) == {"parent"}
    assert fields_of(api.patch(url, {"site": str(world.site_b.public_id)})) == {"site"}
    assert fields_of(api.patch(url, {"checkin_interval_s": 1})) == {"checkin_interval_s"}
    assert fields_of(api.patch(url, {"hostname": "x"})) == {"hostname"}
    assert Api(world.readonly).patch(url, {"display_name": "x"}).status_code == 403
    assert Api(world.readonly).post(f"{url}/retire").status_code == 403
    retired = api.post(f"{url}/retire")
    assert retired.status_code == 200 and retired.json()["retired_at"] is not None
    assert api.post(f"{url}/retire").status_code == 422
    listed = [d["hostname"] for d in api.get("/devices").json()["items"]]
    assert "pc-ana" not in listed
    assert "pc-ana" in [
        d["hostname"] for d in api.get("/devices", {"include_retired": "true"}).json()["items"]
    ]


def test_portal_users_get_404_everywhere(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    for user in (world.portal_a, world.portal_b):
        api = Api(user)
        assert api.get("/devices").status_code == 404
        assert api.get(f"/devices/{device.public_id}").status_code == 404
        assert api.patch(f"/devices/{device.public_id}", {"display_name": "x"}).status_code == 404
        assert api.get("/enrollment-tokens").status_code == 404
    assert Api(world.tech).http.delete(f"/api/v1/devices/{device.public_id}").status_code == 405
    assert Device.objects.get().display_name == ""


def test_enrollment_tokens(world: World) -> None:
    api = Api(world.tech)
    expires = (timezone.now() + timedelta(days=7)).isoformat()
    body = {"site": str(world.site_a.public_id), "name": "Office PCs", "expires_at": expires}
    response = api.post("/enrollment-tokens", {**body, "max_uses": 10})
    assert response.status_code == 201, response.content
    data = response.json()
    raw = data["token"]
    assert raw.startswith("ate_") and data["command"].endswith(f"--token {raw}")
    assert data["command"].startswith("atalaya-agent enroll --server http")
    assert data["max_uses"] == 10 and data["uses"] == 0 and data["is_usable"]
    listing = api.get("/enrollment-tokens", {"site": str(world.site_a.public_id)}).json()
    assert [t["name"] for t in listing["items"]] == ["Office PCs"]
    assert raw not in str(listing)
    assert (
        api.get("/enrollment-tokens", {"site": str(world.site_b.public_id)}).json()["items"] == []
    )
    assert fields_of(
        api.post("/enrollment-tokens", {**body, "expires_at": "2000-01-01T00:00Z"})
    ) == {"expires_at"}
    assert fields_of(api.post("/enrollment-tokens", {**body, "max_uses": 0})) == {"max_uses"}
    key = data["public_id"]
    assert Api(world.readonly).post(f"/enrollment-tokens/{key}/revoke").status_code == 403
    assert Api(world.readonly).post("/enrollment-tokens", body).status_code == 403
    revoked = api.post(f"/enrollment-tokens/{key}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert not revoked.json()["is_usable"]
    assert EnrollmentToken.objects.count() == 1

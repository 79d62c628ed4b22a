"""Scan pages and API: staff 200, another client's portal user 404, read-only 403 on
writes, wrong methods 405, query counts of the lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.security.models import Finding, FindingStatus, KnownDevice, ScanRun, ScanSchedule
from atalaya.security.scans.ingest import import_nmap
from atalaya.security.tests.scan_helpers import BILLION_LAUGHS, NMAP_XML, device_with_nic


@pytest.fixture
def scanned(world: Any) -> ScanRun:
    return import_nmap(site=world.site_a, data=NMAP_XML, name="a.xml")


@pytest.mark.django_db
def test_finding_list_and_detail_access(
    world: Any, scanned: ScanRun, django_assert_max_num_queries: Any
) -> None:
    finding = Finding.objects.get(kind="unknown_device")
    staff = world.http(world.tech)
    with django_assert_max_num_queries(12):
        page = staff.get("/security/findings/")
    assert page.status_code == 200 and "Telnet open on stranger" in page.content.decode()
    assert "Unknown device stranger" in page.content.decode()
    filtered = staff.get("/security/findings/", {"kind": "risky_service"})
    assert "Unknown device stranger" not in filtered.content.decode()
    assert staff.get(f"/security/findings/{finding.public_id}/").status_code == 200
    assert staff.get(f"/security/scans/{scanned.public_id}/").status_code == 200
    with django_assert_max_num_queries(12):
        assert staff.get(f"/security/sites/{world.site_a.public_id}/scans/").status_code == 200
    for user in (world.portal_a, world.portal_b):
        http = world.http(user)
        assert http.get("/security/findings/").status_code == 404
        assert http.get(f"/security/findings/{finding.public_id}/").status_code == 404
        assert http.get(f"/security/scans/{scanned.public_id}/").status_code == 404
    assert staff.post("/security/findings/").status_code == 405
    assert staff.get(f"/security/findings/{finding.public_id}/accept/").status_code == 405
    assert staff.get("/security/findings/not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_accept_and_mark_known_pages(world: Any, scanned: ScanRun) -> None:
    telnet = Finding.objects.get(kind="risky_service")
    unknown = Finding.objects.get(kind="unknown_device")
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    url = f"/security/findings/{telnet.public_id}/accept/"
    assert world.http(world.readonly).post(url, {"reason": "x", "until": until}).status_code == 403
    assert world.http(world.portal_b).post(url, {"reason": "x", "until": until}).status_code == 404
    bad = world.http(world.tech).post(url, {"reason": "", "until": until})
    assert bad.status_code == 400
    ok = world.http(world.tech).post(url, {"reason": "Old PLC, isolated VLAN", "until": until})
    assert ok.status_code == 302
    telnet.refresh_from_db()
    assert telnet.status == FindingStatus.ACCEPTED
    known = world.http(world.tech).post(
        f"/security/findings/{unknown.public_id}/known/", {"name": "Door camera"}
    )
    assert known.status_code == 302
    assert KnownDevice.objects.get(site=world.site_a).mac == "aa:bb:cc:00:00:50"
    unknown.refresh_from_db()
    assert unknown.status == FindingStatus.RESOLVED


@pytest.mark.django_db
def test_schedule_and_scan_now_pages(world: Any) -> None:
    device = device_with_nic(world, name="agent", mac="aa:bb:cc:00:00:01", ip="10.0.0.2")
    base = f"/security/sites/{world.site_a.public_id}/scans/"
    form = {
        "device": str(device.public_id),
        "every_hours": "12",
        "ticket_min_severity": "high",
        "is_enabled": "on",
        "targets": "",
        "ports": "",
    }
    assert world.http(world.readonly).post(base + "schedule/", form).status_code == 403
    assert world.http(world.portal_a).post(base + "schedule/", form).status_code == 404
    assert world.http(world.tech).post(base + "schedule/", form).status_code == 302
    assert ScanSchedule.objects.get(site=world.site_a).every_hours == 12
    bad = world.http(world.tech).post(base + "schedule/", {**form, "ports": "1-99999"})
    assert bad.status_code == 400
    now = world.http(world.tech).post(base + "now/", form)
    assert now.status_code == 302
    assert ScanRun.objects.get(site=world.site_a).action.kind == "scan"
    # Another site's device is not offered (and refused).
    other = device_with_nic(
        world, name="b", mac="aa:bb:cc:00:00:02", ip="10.0.0.3", site=world.site_b
    )
    refused = world.http(world.tech).post(base + "now/", {**form, "device": str(other.public_id)})
    assert refused.status_code == 400


@pytest.mark.django_db
def test_api(world: Any, scanned: ScanRun) -> None:
    api = Api(world.tech)
    listed = api.get("/findings", {"severity": "high"})
    assert listed.status_code == 200 and listed.json()["count"] == 1
    fid = listed.json()["items"][0]["public_id"]
    until = (timezone.now() + timedelta(days=5)).isoformat()
    assert Api(world.portal_a).get("/findings").status_code == 404
    assert Api(world.portal_b).get(f"/findings/{fid}").status_code == 404
    assert (
        Api(world.readonly)
        .post(f"/findings/{fid}/accept", {"reason": "x", "until": until})
        .status_code
        == 403
    )
    empty = api.post(f"/findings/{fid}/accept", {"reason": " ", "until": until})
    assert empty.status_code == 422 and "reason" in fields_of(empty)
    ok = api.post(f"/findings/{fid}/accept", {"reason": "isolated", "until": until})
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    device = device_with_nic(world, name="agent", mac="aa:bb:cc:00:00:01", ip="10.0.0.2")
    site = world.site_a.public_id
    queued = api.post(f"/sites/{site}/scans", {"device": str(device.public_id), "ports": "22,3389"})
    assert queued.status_code == 201 and queued.json()["status"] == "queued"
    foreign = api.post(f"/sites/{world.site_b.public_id}/scans", {"device": str(device.public_id)})
    assert foreign.status_code == 404
    up = api.http.post(f"/api/v1/sites/{site}/scans/import", {"file": _upload(BILLION_LAUGHS)})
    assert up.status_code == 422 and "entities" in up.content.decode()
    xml = NMAP_XML.replace(b"192.168.1.50", b"192.168.1.60")
    up = api.http.post(f"/api/v1/sites/{site}/scans/import", {"file": _upload(xml)})
    assert up.status_code == 201 and up.json()["hosts_up"] == 1
    assert (
        Api(world.portal_a)
        .http.post(f"/api/v1/sites/{site}/scans/import", {"file": _upload(xml)})
        .status_code
        == 404
    )


def _upload(data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("scan.xml", data, content_type="application/xml")

"""Scan results in: the agent's check-in (bounded, stored, processed by a job), nmap XML
import (defusedxml), the CLI, and scans queued as signed actions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from atalaya.monitoring.models import RemoteAction
from atalaya.monitoring.tests.agent_helpers import checkin_body, enrolled
from atalaya.monitoring.tests.test_checkin import post
from atalaya.security.models import Finding, ScanHost, ScanRun, ScanStatus
from atalaya.security.scans import schedule
from atalaya.security.scans.ingest import (
    ScanDataError,
    bound_scan_result,
    import_nmap,
    parse_nmap_xml,
)
from atalaya.security.tasks_scans import process_pending
from atalaya.security.tests.scan_helpers import BILLION_LAUGHS, NMAP_XML, host, scan_json


def _result(action: RemoteAction, scan: dict[str, Any]) -> dict[str, Any]:
    return {
        "action_id": str(action.public_id),
        "nonce": action.nonce,
        "status": "succeeded",
        "exit_code": 0,
        "output": "1 host, 1 open port",
        "scan": scan,
    }


@pytest.mark.django_db
def test_agent_scan_result_is_stored_then_processed(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    device, token = enrolled(world)
    scan = schedule.queue_scan(actor=world.tech, device=device)
    assert scan.status == ScanStatus.QUEUED and scan.is_complete
    envelope = json.loads(scan.action.envelope)
    assert envelope["kind"] == "scan" and envelope["scan"]["targets"] == []
    post(token, checkin_body())  # the action is sent
    body = scan_json([host("192.168.1.77", "aa:bb:cc:dd:ee:77", "intruder", (3389, 22))])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token, checkin_body(results=[_result(scan.action, body)]))
    assert response.status_code == 200
    scan.refresh_from_db()
    assert scan.result is not None and scan.processed_at is not None
    assert scan.status == ScanStatus.DONE and scan.hosts_up == 1 and scan.open_ports == 2
    kinds = sorted(Finding.objects.filter(site=world.site_a).values_list("kind", flat=True))
    assert kinds == ["risky_service", "unknown_device"]
    rdp = Finding.objects.get(kind="risky_service")
    assert rdp.port == 3389 and rdp.severity == "high" and rdp.ticket is not None
    assert rdp.ticket.client_id == world.client_a.pk


@pytest.mark.django_db
def test_stored_result_waits_for_the_sweep_when_no_job_ran(world: Any) -> None:
    device, token = enrolled(world)
    scan = schedule.queue_scan(actor=world.tech, device=device)
    post(token, checkin_body())
    # Without on-commit callbacks the job is never queued: only the result is stored.
    post(token, checkin_body(results=[_result(scan.action, scan_json([host("10.0.0.9")]))]))
    scan.refresh_from_db()
    assert scan.result is not None and scan.processed_at is None
    assert not ScanHost.objects.filter(scan=scan).exists()
    assert process_pending() == 1
    scan.refresh_from_db()
    assert scan.processed_at is not None and scan.hosts_up == 1


@pytest.mark.django_db
def test_oversized_scan_result_is_refused_naming_the_field(world: Any) -> None:
    device, token = enrolled(world)
    scan = schedule.queue_scan(actor=world.tech, device=device)
    post(token, checkin_body())
    hosts = [host(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(4097)]
    response = post(token, checkin_body(results=[_result(scan.action, scan_json(hosts))]))
    assert response.status_code == 422
    assert "results[0].scan.hosts" in response.content.decode()
    scan.refresh_from_db()
    assert scan.result is None


def test_bounds_of_a_scan_result() -> None:
    with pytest.raises(ScanDataError) as err:
        bound_scan_result(scan_json([host("not-an-ip")]))
    assert err.value.path == ".hosts[0].ip"
    many = {**host("10.0.0.1"), "ports": [{"port": p} for p in range(1, 1002)]}
    with pytest.raises(ScanDataError) as err:
        bound_scan_result(scan_json([many]))
    assert err.value.path == ".hosts[0].ports"
    noisy = {**host("10.0.0.1"), "ports": [{"port": 21, "banner": "\x1b[31m" + "x" * 500}]}
    out = bound_scan_result(scan_json([noisy]))
    banner = out["hosts"][0]["ports"][0]["banner"]
    assert len(banner) <= 200 and "\x1b" not in banner


@pytest.mark.django_db
def test_refused_scan_action_fails_its_scan(world: Any) -> None:
    device, token = enrolled(world)
    scan = schedule.queue_scan(actor=world.tech, device=device, targets="8.8.8.0/24")
    post(token, checkin_body())
    refused = {
        "action_id": str(scan.action.public_id),
        "nonce": scan.action.nonce,
        "status": "refused",
        "reason": "public range refused",
    }
    post(token, checkin_body(results=[refused]))
    scan.refresh_from_db()
    assert scan.status == ScanStatus.FAILED and "public range" in scan.error


@pytest.mark.django_db
def test_periodic_job_runs_the_three_sweeps(world: Any) -> None:
    from atalaya.security.tasks_scans import scans_periodic

    device, _token = enrolled(world)
    schedule.save_schedule(actor=world.tech, site=world.site_a, device=device, every_hours=6)
    assert scans_periodic.call_local() == {
        "queued": 1,
        "processed": 0,
        "expired": 0,
        "abandoned": 0,
    }
    scan = ScanRun.objects.get()
    RemoteAction.objects.filter(pk=scan.action_id).update(status="expired")
    assert scans_periodic.call_local()["abandoned"] == 1
    scan.refresh_from_db()
    assert scan.status == ScanStatus.FAILED


@pytest.mark.django_db
def test_another_clients_result_is_not_recorded(world: Any) -> None:
    device_a, _token_a = enrolled(world, name="a1")
    _device_b, token_b = enrolled(world, site=world.site_b, name="b1")
    scan = schedule.queue_scan(actor=world.tech, device=device_a)
    post(token_b, checkin_body(results=[_result(scan.action, scan_json([host("10.0.0.5")]))]))
    scan.refresh_from_db()
    assert scan.result is None
    assert not Finding.objects.exists()


@pytest.mark.django_db
def test_queue_scan_rules(world: Any) -> None:
    device, _token = enrolled(world)
    with pytest.raises(PermissionDenied):
        schedule.queue_scan(actor=world.readonly, device=device)
    with pytest.raises(ValidationError) as err:
        schedule.queue_scan(actor=world.tech, device=device, ports="22,99999")
    assert "ports" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        schedule.queue_scan(actor=world.tech, device=device, targets="10.0.0.1;rm")
    assert "targets" in err.value.message_dict
    partial = schedule.queue_scan(actor=world.tech, device=device, targets="10.0.0.1")
    assert not partial.is_complete


@pytest.mark.django_db
def test_schedule_queues_due_scans_as_its_owner(world: Any) -> None:
    device, _token = enrolled(world)
    schedule.save_schedule(actor=world.tech, site=world.site_a, device=device, every_hours=12)
    assert schedule.queue_due_scans() == 1
    run = ScanRun.objects.get()
    assert run.action is not None and run.action.created_by == world.tech
    assert schedule.queue_due_scans() == 0  # moved on by its period
    other, _t = enrolled(world, site=world.site_b, name="b2")
    with pytest.raises(ValidationError):
        schedule.save_schedule(actor=world.tech, site=world.site_a, device=other, every_hours=12)


def test_nmap_xml_parsed() -> None:
    data = parse_nmap_xml(NMAP_XML)
    assert [h["ip"] for h in data["hosts"]] == ["192.168.1.50"]
    only = data["hosts"][0]
    assert only["mac"] == "aa:bb:cc:00:00:50" and only["hostname"] == "stranger"
    assert [p["port"] for p in only["ports"]] == [23]


@pytest.mark.parametrize(
    "raw, words",
    [
        (BILLION_LAUGHS, "entities"),
        (b"<nmaprun><host>", "valid XML"),
        (b"<html></html>", "nmaprun"),
    ],
)
def test_bad_nmap_xml_is_a_clear_error(raw: bytes, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_nmap_xml(raw)
    assert words in " ".join(err.value.message_dict["file"])


@pytest.mark.django_db
def test_nmap_import_command(world: Any, tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "scan.xml"
    path.write_bytes(NMAP_XML)
    call_command("scan", "import", str(path), "--site", f"{world.client_a.name}/HQ")
    assert "1 hosts, 1 open ports" in capsys.readouterr().out
    finding = Finding.objects.get(kind="risky_service")
    assert finding.site == world.site_a and finding.port == 23 and finding.severity == "high"
    assert not Finding.objects.filter(site=world.site_b).exists()
    with pytest.raises(CommandError, match="already imported"):
        call_command("scan", "import", str(path), "--site", str(world.site_a.public_id))
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BILLION_LAUGHS)
    with pytest.raises(CommandError, match="entities"):
        call_command("scan", "import", str(bomb), "--site", str(world.site_a.public_id))
    with pytest.raises(CommandError, match="--site"):
        call_command("scan", "import", str(path), "--site", "Nobody/HQ")


@pytest.mark.django_db
def test_import_needs_a_writer(world: Any) -> None:
    with pytest.raises(PermissionDenied):
        import_nmap(site=world.site_a, data=NMAP_XML, actor=world.readonly)

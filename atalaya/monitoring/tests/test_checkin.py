"""The check-in: what it stores, what it answers, and that replays store nothing twice.

Through ``POST /agent/v1/checkin`` (the Django front door) and, for the batch
properties, ``ingest_checkins`` directly with parsed check-ins.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from atalaya.core.models import AuditEvent
from atalaya.monitoring import signing
from atalaya.monitoring.agent_api.ingest import ingest_checkins
from atalaya.monitoring.agent_api.wire import parse_checkin, token_hash_from_header
from atalaya.monitoring.agent_config import agent_config, bump_config_version
from atalaya.monitoring.models import (
    ActionStatus,
    Check,
    CheckKind,
    Device,
    JobHeartbeat,
    MetricSample,
    RemoteAction,
    Volume,
    VolumeSample,
)
from atalaya.monitoring.tests.agent_helpers import GB, checkin_body, enrolled, sample, state


@pytest.fixture(autouse=True)
def _signing_key(tmp_path: Any, settings: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def post(token: str | None, body: Any) -> Any:
    http = HttpClient(enforce_csrf_checks=True)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return http.post(
        "/agent/v1/checkin", data=data, content_type="application/json", headers=headers
    )


def counts(device: Device) -> tuple[int, int, int]:
    return (
        MetricSample.objects.filter(device=device).count(),
        VolumeSample.objects.filter(volume__device=device).count(),
        Volume.objects.filter(device=device).count(),
    )


@pytest.mark.django_db
def test_checkin_stores_everything(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    body = checkin_body(
        now,
        samples=[sample(now - 120), sample(now - 60), sample(now - 1)],
        inventory={"hash": "a" * 64, "data": {"cpu": "Xeon", "software": ["vim"]}},
        jobs=[{"name": "nightly-backup", "t": now - 3600, "ok": True, "message": "done"}],
        agent_version="0.2.0",
        scripts_enabled=True,
    )
    response = post(token, body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["accepted"] == 3 and data["duplicates"] == 0 and data["rejected"] == 0
    assert data["inventory_hash"] == "a" * 64
    assert data["next_checkin_s"] == 60 and data["config"] is None and data["actions"] == []
    assert abs(data["server_time"] - now) <= 10
    assert counts(device) == (3, 9, 3)
    device.refresh_from_db()
    assert device.last_seen_at is not None
    assert abs(device.last_seen_at.timestamp() - now) <= 10
    assert device.agent_version == "0.2.0" and device.scripts_enabled is True
    assert device.inventory == {"cpu": "Xeon", "software": ["vim"]}
    assert device.inventory_hash == "a" * 64 and device.inventory_at is not None
    assert device.latest["t"] == now and device.latest["users"] == ["ana"]
    assert device.latest["services"] == {"cups": "running"}
    assert device.latest["metrics"]["cpu_pct"] == 12.5
    # Check-ins leave the status to the sweeper.
    assert device.status == "pending"
    root = Volume.objects.get(device=device, mountpoint="/")
    assert (root.total_bytes, root.free_bytes, root.fstype) == (100 * GB, 50 * GB, "ext4")
    assert root.is_present
    row = MetricSample.objects.get(device=device, t=now - 1)
    assert (row.cpu_pct, row.mem_pct, row.load1) == (12.5, 40.0, 0.3)
    job = JobHeartbeat.objects.get(device=device)
    assert (job.name, job.t, job.is_ok, job.message) == ("nightly-backup", now - 3600, True, "done")

    # Inventory is sent only on change: a check-in without it keeps it.
    again = post(token, checkin_body(now + 60, samples=[sample(now + 59)]))
    assert again.json()["inventory_hash"] == "a" * 64
    device.refresh_from_db()
    assert device.inventory == {"cpu": "Xeon", "software": ["vim"]}


@pytest.mark.django_db
def test_replay_stores_nothing_twice(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    body = checkin_body(
        now,
        samples=[sample(now - 60 * i) for i in range(10, 0, -1)],
        jobs=[{"name": "b", "t": now - 10, "ok": False, "message": ""}],
    )
    first = post(token, body).json()
    assert (first["accepted"], first["duplicates"]) == (10, 0)
    before = counts(device)
    # The answer was lost; the agent sends the very same batch again (later).
    replay = post(token, {**body, "sent_at": now + 3}).json()
    assert (replay["accepted"], replay["duplicates"]) == (0, 10)
    assert counts(device) == before
    assert JobHeartbeat.objects.filter(device=device).count() == 1
    # A batch that repeats a sample inside itself counts it once.
    doubled = post(token, checkin_body(now, samples=[sample(now - 5), sample(now - 5)])).json()
    assert (doubled["accepted"], doubled["duplicates"]) == (1, 1)


@pytest.mark.django_db
def test_out_of_order_batches(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    # The live check-in arrives first, then the spool replays an older batch.
    post(token, checkin_body(now, samples=[sample(now - 1, cpu=90.0)]))
    old_state = state(now - 3000, mounts=("/", "/old-disk"))
    old = post(
        token,
        {
            "sent_at": now,
            "config_version": 1,
            "samples": [sample(now - 3000 + i * 60, cpu=10.0) for i in range(5)],
            "state": old_state,
        },
    ).json()
    assert old["accepted"] == 5
    device.refresh_from_db()
    # The newer snapshot stays; the old one's volume list does not apply.
    assert device.latest["t"] == now and device.latest["metrics"]["cpu_pct"] == 90.0
    assert not Volume.objects.filter(device=device, mountpoint="/old-disk").exists()
    assert Volume.objects.filter(device=device, is_present=True).count() == 3
    assert MetricSample.objects.filter(device=device).count() == 6


@pytest.mark.django_db
def test_replay_without_state_keeps_volume_samples(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    # The first check-ins never reached the server: the replay carries samples only.
    replay = post(token, checkin_body(now, samples=[sample(now - 600)], with_state=False)).json()
    assert replay["accepted"] == 1
    assert VolumeSample.objects.filter(volume__device=device).count() == 3
    assert not Volume.objects.filter(device=device, is_present=True).exists()
    post(token, checkin_body(now + 60, samples=[sample(now + 59)]))
    assert Volume.objects.filter(device=device, is_present=True).count() == 3
    assert Volume.objects.filter(device=device).count() == 3


@pytest.mark.django_db
def test_volumes_no_longer_reported_are_kept_absent(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    post(token, checkin_body(now))
    body = checkin_body(now + 60, samples=[])
    body["state"] = state(now + 60, mounts=("/", "/home"))
    assert post(token, body).status_code == 200
    present = dict(Volume.objects.filter(device=device).values_list("mountpoint", "is_present"))
    assert present == {"/": True, "/home": True, "/boot": False}


@pytest.mark.django_db
def test_another_devices_token_cannot_touch_this_device(world: Any) -> None:
    mine, my_token = enrolled(world, name="mine")
    theirs, their_token = enrolled(world, site=world.site_b, name="theirs")
    now = int(time.time())
    post(my_token, checkin_body(now))
    action = _queue(world, mine)
    # B's agent reports a result for A's action and checks in: nothing of A changes,
    # nothing of A comes back.
    response = post(
        their_token,
        checkin_body(
            now,
            results=[
                {
                    "action_id": str(action.public_id),
                    "nonce": action.nonce,
                    "status": "succeeded",
                    "exit_code": 0,
                    "output": "pwned",
                }
            ],
        ),
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert str(mine.public_id) not in text and action.nonce not in text
    assert response.json()["actions"] == []
    action.refresh_from_db()
    assert action.status == ActionStatus.QUEUED and action.output == ""
    assert MetricSample.objects.filter(device=theirs).count() == 1
    assert MetricSample.objects.filter(device=mine).count() == 1
    mine.refresh_from_db()
    assert mine.latest["t"] == now


@pytest.mark.django_db
def test_tokens_that_do_not_authenticate(world: Any) -> None:
    device, token = enrolled(world)
    body = checkin_body()
    for bad in (None, "atd_nope", "ata_" + token[4:], token + "x"):
        response = post(bad, body)
        assert response.status_code == 401, bad
        assert response.json()["detail"]
    Device.objects.filter(pk=device.pk).update(retired_at=timezone.now())
    retired = post(token, body)
    assert retired.status_code == 401 and "retired" in retired.json()["detail"]
    assert not MetricSample.objects.exists()
    # Re-enrolled: the old token stops working.
    device2, token2 = enrolled(world, name="pc2")
    from atalaya.monitoring.enrollment import create_enrollment_token, enroll_device

    _t, raw = create_enrollment_token(
        actor=None, site=world.site_a, name="again", expires_at=timezone.now() + timedelta(1)
    )
    enroll_device(
        raw_token=raw,
        hostname="pc2",
        machine_id="machine-pc2",
        platform="",
        os_name="",
        os_version="",
        agent_version="",
    )
    assert post(token2, body).status_code == 401


@pytest.mark.django_db
def test_clock_skew_shifts_times(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    # The agent's clock is an hour and 10 s behind (the middle of a 10 s step, so a
    # slow test machine does not move the rounding).
    agent_now = now - 3610
    body = checkin_body(
        agent_now,
        jobs=[{"name": "b", "t": agent_now - 100, "ok": True, "message": ""}],
    )
    data = post(token, body).json()
    assert data["accepted"] == 1
    (stored,) = MetricSample.objects.filter(device=device).values_list("t", flat=True)
    shift = stored - (agent_now - 1)
    assert shift == 3610
    device.refresh_from_db()
    assert 3610 <= device.clock_skew_s <= 3614
    assert device.latest["t"] == agent_now + shift
    assert JobHeartbeat.objects.get(device=device).t == agent_now - 100 + shift
    # The same batch again (the answer was lost) maps to the same seconds.
    again = post(token, body).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    # A small difference is left alone.
    near = post(token, checkin_body(now - 15, samples=[sample(now - 25)])).json()
    assert near["accepted"] == 1
    assert MetricSample.objects.filter(device=device, t=now - 25).exists()


@pytest.mark.django_db
def test_samples_too_old_or_from_the_future_are_rejected(world: Any, settings: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    old = now - settings.METRICS_RAW_HOURS * 3600 - 60
    data = post(
        token, checkin_body(now, samples=[sample(old), sample(now - 1), sample(now + 3600)])
    ).json()
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (1, 0, 2)
    assert list(MetricSample.objects.filter(device=device).values_list("t", flat=True)) == [now - 1]


def _queue(world: Any, device: Device, *, minutes: int = 60) -> RemoteAction:
    """A signed reboot action for ``device``, as the actions service would store it."""
    action_id = uuid.uuid4()
    nonce = uuid.uuid4().hex
    expires = timezone.now() + timedelta(minutes=minutes)
    payload = {
        "v": 1,
        "id": str(action_id),
        "device_id": str(device.public_id),
        "kind": "reboot",
        "script": None,
        "args": [],
        "nonce": nonce,
        "issued_at": int(time.time()),
        "expires_at": int(expires.timestamp()),
    }
    text, signature = signing.sign(payload)
    action = RemoteAction.objects.create(
        public_id=action_id,
        client=device.client,
        device=device,
        kind="reboot",
        nonce=nonce,
        envelope=text,
        signature=signature,
        created_by=world.admin,
        expires_at=expires,
    )
    Device.objects.filter(pk=device.pk).update(has_pending_actions=True)
    return action


@pytest.mark.django_db
def test_actions_are_delivered_until_a_result_comes_back(world: Any) -> None:
    device, token = enrolled(world)
    action = _queue(world, device)
    expired = _queue(world, device, minutes=-1)
    now = int(time.time())
    first = post(token, checkin_body(now)).json()
    assert first["actions"] == [{"payload": action.envelope, "signature": action.signature}]
    action.refresh_from_db()
    assert action.status == ActionStatus.SENT and action.sent_at is not None
    assert AuditEvent.objects.filter(object_id=str(action.public_id), action="sent").count() == 1
    # Re-sent on every check-in until the agent reports.
    second = post(token, checkin_body(now + 60, samples=[sample(now + 59)])).json()
    assert second["actions"] == first["actions"]
    result = {
        "action_id": str(action.public_id),
        "nonce": action.nonce,
        "status": "failed",
        "exit_code": 3,
        "output": "x" * 70_000 + "tail",
        "duration_ms": 1234,
        "finished_at": now + 100,
        "reason": "",
    }
    third = post(token, checkin_body(now + 120, samples=[], results=[result])).json()
    assert third["actions"] == []
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED and action.exit_code == 3
    assert action.duration_ms == 1234 and len(action.output) == 64 * 1024
    assert action.output.endswith("tail") and action.finished_at is not None
    assert AuditEvent.objects.filter(object_id=str(action.public_id), action="result").exists()
    device.refresh_from_db()
    assert device.has_pending_actions is False
    # The expired one was never offered, and a repeated result changes nothing.
    expired.refresh_from_db()
    assert expired.status == ActionStatus.QUEUED
    post(token, checkin_body(now + 180, samples=[], results=[{**result, "status": "succeeded"}]))
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert AuditEvent.objects.filter(object_id=str(action.public_id), action="result").count() == 1


@pytest.mark.django_db
def test_result_with_a_wrong_nonce_is_ignored(world: Any) -> None:
    device, token = enrolled(world)
    action = _queue(world, device)
    bad = {"action_id": str(action.public_id), "nonce": "0" * 32, "status": "succeeded"}
    assert post(token, checkin_body(results=[bad])).status_code == 200
    action.refresh_from_db()
    assert action.status == ActionStatus.SENT


@pytest.mark.django_db
def test_config_only_when_the_version_differs(world: Any) -> None:
    device, token = enrolled(world)
    Check.objects.create(client=world.client_a, kind=CheckKind.SERVICE, target="cups")
    Check.objects.create(client=world.client_a, kind=CheckKind.PROCESS, target="backupd")
    Check.objects.create(
        client=world.client_a,
        device=device,
        kind=CheckKind.SERVICE,
        target="cups",
        is_enabled=False,
    )
    Check.objects.create(
        client=world.client_a, device=device, kind=CheckKind.SERVICE, target="sshd"
    )
    assert post(token, checkin_body(config_version=1)).json()["config"] is None
    bump_config_version(client=world.client_a)
    device.refresh_from_db()
    config = post(token, checkin_body(config_version=1)).json()["config"]
    assert config == agent_config(device)
    assert config == {
        "version": 2,
        "checkin_interval_s": 60,
        "services": ["sshd"],
        "processes": ["backupd"],
    }
    assert post(token, checkin_body(config_version=2)).json()["config"] is None


def _parsed(token: str, body: dict[str, Any]) -> Any:
    return parse_checkin(json.dumps(body).encode(), token_hash_from_header(f"Bearer {token}"))


@pytest.mark.django_db
def test_queries_per_batch_do_not_grow_with_the_batch(world: Any) -> None:
    devices = [enrolled(world, name=f"pc{i}") for i in range(50)]
    now = int(time.time())
    # A first check-in creates the volumes; the steady state is what is measured.
    ingest_checkins(
        [_parsed(t, checkin_body(now, samples=[sample(now - 61)])) for _d, t in devices]
    )

    def measure(batch: list[tuple[Device, str]], at: int) -> int:
        parsed = [_parsed(t, checkin_body(now, samples=[sample(at)])) for _d, t in batch]
        with CaptureQueriesContext(connection) as queries:
            outcomes = ingest_checkins(parsed)
        assert all(o.status == 200 and o.body["accepted"] == 1 for o in outcomes)
        return len(queries)

    one = measure(devices[:1], now - 30)
    fifty = measure(devices, now - 1)
    assert one == fifty <= 8, (one, fifty)
    print("queries per batch", one)
    assert MetricSample.objects.count() == 101
    assert VolumeSample.objects.count() == 303


@pytest.mark.django_db
def test_same_device_twice_in_one_batch(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    body = checkin_body(now, samples=[sample(now - 1)])
    # A replay: sent now, collected a minute ago.
    older = checkin_body(now, samples=[sample(now - 61)])
    older["state"] = state(now - 60)
    outcomes = ingest_checkins([_parsed(token, body), _parsed(token, body), _parsed(token, older)])
    assert [o.body["accepted"] for o in outcomes] == [1, 0, 1]
    assert [o.body["duplicates"] for o in outcomes] == [0, 1, 0]
    device.refresh_from_db()
    assert device.latest["t"] == now
    assert MetricSample.objects.filter(device=device).count() == 2


@pytest.mark.django_db
def test_volume_rows_follow_real_changes_only(world: Any) -> None:
    device, token = enrolled(world)
    now = int(time.time())
    post(token, checkin_body(now))
    root = Volume.objects.get(device=device, mountpoint="/")
    first_write = root.updated_at

    def report(at: int, free: int, **changes: Any) -> Volume:
        # Sent now (no clock skew), sampled at ``at``.
        body = checkin_body(now, samples=[sample(at, free=free)])
        body["state"]["volumes"][0].update(free=free, **changes)
        assert post(token, body).status_code == 200
        return Volume.objects.get(device=device, mountpoint="/")

    # A few megabytes less: the samples have it, the row is not rewritten.
    same = report(now - 50, 50 * GB - 5 * 1024**2)
    assert (same.free_bytes, same.updated_at) == (50 * GB, first_write)
    assert VolumeSample.objects.filter(volume=root).count() == 2
    # Half a percent of the disk: the row follows.
    moved = report(now - 40, 49 * GB)
    assert moved.free_bytes == 49 * GB and moved.updated_at > first_write
    # Anything else about the volume: the row follows at once.
    remounted = report(now - 30, 49 * GB, read_only=True)
    assert remounted.is_read_only is True

"""The remote-actions and scripts API: queue (permission, approved scripts, bounds), list,
get, cancel; the script library (add, approve by administrators, retire)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.monitoring import actions, signing
from atalaya.monitoring.models import RemoteAction, Script
from atalaya.monitoring.tests.helpers_ui import approved_script, make_device


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


def test_queue_list_get_cancel(world: World, django_assert_max_num_queries: Any) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    script = approved_script(world.admin, "Clear temporary files")
    api = Api(world.admin)
    url = f"/devices/{device.public_id}/actions"
    response = api.post(
        url,
        {
            "kind": "run_script",
            "script": str(script.public_id),
            "arguments": ["--older-than", "7"],
            "expires_in_minutes": 60,
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "queued" and data["script_name"] == "Clear temporary files"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signing.public_key_b64()))
    key.verify(base64.b64decode(data["signature"]), data["envelope"].encode())
    assert json.loads(data["envelope"])["args"] == ["--older-than", "7"]
    with django_assert_max_num_queries(100) as baseline:
        listing = api.get(url)
    ceiling = len(baseline)  # before the next request resets the query log
    assert [a["public_id"] for a in listing.json()["items"]] == [data["public_id"]]
    for _n in range(8):
        api.post(url, {"kind": "reboot"})
    with django_assert_max_num_queries(ceiling):
        assert len(api.get(url).json()["items"]) == 9
    assert len(api.get("/actions", {"status": "queued"}).json()["items"]) == 9
    assert api.get("/actions", {"status": "failed"}).json()["items"] == []
    one = api.get(f"/actions/{data['public_id']}")
    assert one.status_code == 200 and one.json()["arguments"] == ["--older-than", "7"]
    cancelled = api.post(f"/actions/{data['public_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/actions/{data['public_id']}/cancel")
    assert again.status_code == 422 and fields_of(again) == {"status"}


def test_permission_and_bad_input(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    url = f"/devices/{device.public_id}/actions"
    draft = actions.create_script(actor=world.tech, name="Draft", interpreter="sh", body="id")
    # A technician without the remote-actions permission, and read-only staff: 403.
    for user in (world.tech, world.readonly):
        assert Api(user).post(url, {"kind": "reboot"}).status_code == 403
    assert Api(world.readonly).get(url).status_code == 200
    api = Api(world.admin)
    refused = api.post(url, {"kind": "run_script", "script": str(draft.public_id)})
    assert refused.status_code == 422 and fields_of(refused) == {"script"}
    assert fields_of(api.post(url, {"kind": "run_script"})) == {"script"}
    assert fields_of(api.post(url, {"kind": "shutdown"})) == {"kind"}
    assert fields_of(api.post(url, {"kind": "reboot", "expires_in_minutes": 1})) == {
        "expires_in_minutes"
    }
    assert fields_of(api.post(url, {"kind": "reboot", "arguments": ["x"] * 21})) == {"arguments"}
    assert fields_of(api.post(url, {"kind": "reboot", "arguments": ["-f"]})) == {"arguments"}
    unknown = api.post(
        url, {"kind": "run_script", "script": "00000000-0000-4000-8000-00000000dead"}
    )
    assert unknown.status_code == 404 and fields_of(unknown) == {"script"}
    assert api.post(url, raw="{not json").status_code == 400
    assert not RemoteAction.objects.exists()
    for user in (world.portal_a, world.portal_b):
        assert Api(user).post(url, {"kind": "reboot"}).status_code == 404
        assert Api(user).get("/actions").status_code == 404
    assert Api(world.admin).http.put(f"/api/v1{url}").status_code == 405


def test_script_library(world: World) -> None:
    api = Api(world.tech)
    response = api.post(
        "/scripts",
        {"name": "Flush DNS cache", "interpreter": "powershell", "body": "Clear-DnsClientCache"},
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["is_approved"] is False
    assert data["sha256"] == actions.script_sha256("Clear-DnsClientCache")
    key = data["public_id"]
    assert api.post(f"/scripts/{key}/approve").status_code == 403
    assert Api(world.readonly).post("/scripts", {**data, "name": "x"}).status_code == 422
    assert (
        Api(world.readonly)
        .post("/scripts", {"name": "x", "interpreter": "sh", "body": "id"})
        .status_code
        == 403
    )
    bad = api.post("/scripts", {"name": "Other", "interpreter": "cmd", "body": "dir"})
    assert fields_of(bad) == {"interpreter"}
    dup = api.post("/scripts", {"name": "flush dns CACHE", "interpreter": "sh", "body": "x"})
    assert fields_of(dup) == {"name"}
    admin = Api(world.admin)
    approved = admin.post(f"/scripts/{key}/approve")
    assert approved.status_code == 200 and approved.json()["is_approved"] is True
    assert approved.json()["approved_by"] == "admin"
    assert [s["name"] for s in api.get("/scripts", {"state": "approved"}).json()["items"]] == [
        "Flush DNS cache"
    ]
    assert api.get("/scripts", {"state": "pending"}).json()["items"] == []
    assert api.get(f"/scripts/{key}").json()["body"] == "Clear-DnsClientCache"
    assert api.post(f"/scripts/{key}/retire").status_code == 403
    retired = admin.post(f"/scripts/{key}/retire")
    assert retired.status_code == 200 and retired.json()["retired_at"] is not None
    assert Script.objects.get().is_approved is False
    for user in (world.portal_a, world.portal_b):
        assert Api(user).get("/scripts").status_code == 404
        assert Api(user).get(f"/scripts/{key}").status_code == 404

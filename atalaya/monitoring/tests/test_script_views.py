"""The script library pages: list, propose (writers), approve and retire (administrators)."""

from __future__ import annotations

from django.urls import reverse

from atalaya.conftest import World
from atalaya.monitoring import actions
from atalaya.monitoring.models import Script
from atalaya.monitoring.tests.helpers_ui import signing_key  # noqa: F401 - the fixture

LIST = reverse("monitoring:script_list")
NEW = reverse("monitoring:script_new")
BODY = {
    "name": "Restart print spooler",
    "description": "Stops and starts the Windows print spooler.",
    "interpreter": "powershell",
    "body": "Restart-Service -Name Spooler -Force\r\n",
    "timeout_s": "120",
}


def test_propose_approve_retire(world: World) -> None:
    assert world.http(world.readonly).get(LIST).status_code == 200
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(LIST).status_code == 404
        assert world.http(user).post(NEW, BODY).status_code == 404
    assert world.http(world.readonly).post(NEW, BODY).status_code == 403
    tech = world.http(world.tech)
    response = tech.post(NEW, BODY)
    assert response.status_code == 302
    script = Script.objects.get()
    # The body is kept exactly as typed (its line endings too): it is what gets hashed.
    assert script.body == BODY["body"] and script.sha256 == actions.script_sha256(BODY["body"])
    detail = reverse("monitoring:script_detail", args=[script.public_id])
    assert response["Location"] == detail
    page = tech.get(detail).content.decode()
    assert "Waiting for approval" in page and script.sha256 in page
    assert '<button type="submit">Approve</button>' not in page
    assert world.http(world.portal_b).get(detail).status_code == 404
    approve = reverse("monitoring:script_approve", args=[script.public_id])
    retire = reverse("monitoring:script_retire", args=[script.public_id])
    assert tech.post(approve).status_code == 403
    assert world.http(world.readonly).post(approve).status_code == 403
    assert world.http(world.admin).get(approve).status_code == 405
    admin = world.http(world.admin)
    assert '<button type="submit">Approve</button>' in admin.get(detail).content.decode()
    assert admin.post(approve).status_code == 302
    script.refresh_from_db()
    assert script.is_approved and script.approved_by == world.admin
    listing = tech.get(LIST)
    assert [s.name for s in listing.context["approved"]] == ["Restart print spooler"]
    again = admin.post(approve, follow=True)
    assert "already approved" in again.content.decode()
    assert tech.post(retire).status_code == 403
    assert admin.post(retire).status_code == 302
    script.refresh_from_db()
    assert script.retired_at is not None and not script.is_approved


def test_bad_scripts_are_refused_with_the_field(world: World) -> None:
    tech = world.http(world.tech)
    actions.create_script(actor=world.tech, name="Flush DNS cache", interpreter="sh", body="x")
    duplicate = tech.post(NEW, {**BODY, "name": "flush dns cache"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.content.decode()
    empty = tech.post(NEW, {**BODY, "body": "   "})
    assert empty.status_code == 400
    wrong = tech.post(NEW, {**BODY, "interpreter": "cmd"})
    assert wrong.status_code == 400
    assert Script.objects.count() == 1

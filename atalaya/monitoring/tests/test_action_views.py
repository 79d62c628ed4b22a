"""Remote-action pages: queue from the device page (permission, approved scripts, bad
input), the list of all actions (filter, fixed query count), one action, cancel."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from atalaya.conftest import World
from atalaya.monitoring import actions
from atalaya.monitoring.models import ActionStatus, RemoteAction
from atalaya.monitoring.tests.helpers_ui import (  # noqa: F401 - the fixture
    approved_script,
    make_device,
    signing_key,
)

LIST = reverse("monitoring:action_list")


def test_queue_from_the_device_page(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    script = approved_script(world.admin, "Clear temporary files")
    url = reverse("monitoring:action_new", args=[device.public_id])
    body = {
        "kind": "run_script",
        "script": str(script.public_id),
        "arguments": "--older-than\r\n7\r\n",
        "expires_in": "240",
    }
    # Technicians without the permission and read-only staff: 403; clients: 404.
    assert world.http(world.tech).post(url, body).status_code == 403
    assert world.http(world.readonly).post(url, body).status_code == 403
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).post(url, body).status_code == 404
    assert world.http(world.admin).get(url).status_code == 405
    assert not RemoteAction.objects.exists()
    world.tech.is_remote_operator = True
    world.tech.save(update_fields=["is_remote_operator"])
    response = world.http(world.tech).post(url, body)
    assert response.status_code == 302
    action = RemoteAction.objects.get()
    assert response["Location"] == reverse("monitoring:action_detail", args=[action.public_id])
    assert action.arguments == ["--older-than", "7"] and action.created_by == world.tech
    assert (
        json.loads(action.envelope)["expires_at"] - json.loads(action.envelope)["issued_at"]
        == 4 * 3600
    )
    page = world.http(world.tech).get(response["Location"])
    assert page.status_code == 200 and "Clear temporary files" in page.content.decode()


def test_bad_action_input_is_shown_on_the_device_page(world: World) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    draft = actions.create_script(actor=world.tech, name="Draft", interpreter="sh", body="id")
    url = reverse("monitoring:action_new", args=[device.public_id])
    http = world.http(world.admin)
    unapproved = http.post(
        url, {"kind": "run_script", "script": str(draft.public_id), "expires_in": "60"}
    )
    assert unapproved.status_code == 400 and "Select a valid choice" in unapproved.content.decode()
    missing = http.post(url, {"kind": "run_script", "expires_in": "60"})
    assert missing.status_code == 400 and "Choose a script" in missing.content.decode()
    reboot_args = http.post(url, {"kind": "reboot", "arguments": "-f", "expires_in": "60"})
    assert reboot_args.status_code == 400 and "no arguments" in reboot_args.content.decode()
    too_long = http.post(url, {"kind": "reboot", "expires_in": "99999"})
    assert too_long.status_code == 400
    assert not RemoteAction.objects.exists()


def test_list_detail_and_cancel(world: World, django_assert_max_num_queries: Any) -> None:
    device = make_device(world.client_a, world.site_a, "pc-ana")
    other = make_device(world.client_b, world.site_b, "pos-01")
    first = actions.queue_action(actor=world.admin, device=device, kind="reboot")
    RemoteAction.objects.filter(pk=first.pk).update(
        status=ActionStatus.FAILED, exit_code=3, output="disk <busy>", duration_ms=50
    )
    http = world.http(world.readonly)
    with django_assert_max_num_queries(100) as baseline:
        page = http.get(LIST)
    ceiling = len(baseline)
    assert page.status_code == 200 and len(page.context["actions"]) == 1
    script = approved_script(world.admin)
    for n in range(12):
        actions.queue_action(
            actor=world.admin, device=other if n % 2 else device, kind="run_script", script=script
        )
    with django_assert_max_num_queries(ceiling):
        assert len(http.get(LIST).context["actions"]) == 13
    assert len(http.get(LIST, {"status": "failed"}).context["actions"]) == 1
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(LIST).status_code == 404
    detail = reverse("monitoring:action_detail", args=[first.public_id])
    html = http.get(detail).content.decode()
    assert "<pre" in html and "disk &lt;busy&gt;" in html and "50 ms" in html
    assert world.http(world.portal_b).get(detail).status_code == 404
    waiting = RemoteAction.objects.filter(status="queued").first()
    assert waiting is not None
    cancel = reverse("monitoring:action_cancel", args=[waiting.public_id])
    assert world.http(world.readonly).post(cancel).status_code == 403
    assert world.http(world.tech).post(cancel).status_code == 403
    assert world.http(world.portal_a).post(cancel).status_code == 404
    assert world.http(world.admin).get(cancel).status_code == 405
    assert world.http(world.admin).post(cancel).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == ActionStatus.CANCELLED
    again = world.http(world.admin).post(cancel, follow=True)
    assert "cannot be cancelled" in again.content.decode()

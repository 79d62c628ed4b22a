"""The announcements API: staff write, preview and send; others get 404, read-only 403."""

from __future__ import annotations

from atalaya.comms.models import Announcement, AnnouncementStatus
from atalaya.comms.tests.helpers import TEXTS, announce
from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api
from atalaya.mail.models import OutboundMessage


def test_technician_writes_previews_and_sends(world: World) -> None:
    api = Api(world.tech)
    response = api.post(
        "/announcements",
        {**TEXTS, "audience": "clients", "clients": [str(world.client_a.public_id)]},
    )
    assert response.status_code == 201, response.content
    key = response.json()["public_id"]
    preview = api.get(f"/announcements/{key}/preview")
    assert preview.status_code == 200
    assert preview.json()["contacts"] == 1 and preview.json()["per_language"] == {"en": 0, "es": 1}
    assert preview.json()["mails"]["es"]["subject"] == TEXTS["subject_es"]
    sent = api.post(f"/announcements/{key}/send")
    assert sent.status_code == 200 and sent.json() == {
        "recipients": 1,
        "clients": 1,
        "status": AnnouncementStatus.SENT,
    }
    again = api.post(f"/announcements/{key}/send")
    assert again.status_code in (400, 422) and again.json()["errors"][0]["field"] == "status"
    listing = api.get("/announcements")
    assert [a["public_id"] for a in listing.json()["items"]] == [key]
    assert OutboundMessage.objects.count() == 1


def test_bad_input_names_the_field(world: World) -> None:
    api = Api(world.tech)
    response = api.post("/announcements", {**TEXTS, "subject_es": "", "audience": "role"})
    assert response.status_code in (400, 422)
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"subject_es", "role"}
    response = api.post("/announcements", {**TEXTS, "clients": ["not-a-uuid"]})
    assert response.status_code in (400, 422)
    assert not Announcement.objects.exists()


def test_others_get_404_and_read_only_403(world: World) -> None:
    announcement = announce(world.tech)
    for user in (world.portal_a, world.portal_b):
        api = Api(user)
        assert api.get("/announcements").status_code == 404
        assert api.post("/announcements", {**TEXTS}).status_code == 404
        assert api.get(f"/announcements/{announcement.public_id}/preview").status_code == 404
        assert api.post(f"/announcements/{announcement.public_id}/send").status_code == 404
    readonly = Api(world.readonly)
    assert readonly.get("/announcements").status_code == 200
    assert readonly.post(f"/announcements/{announcement.public_id}/send").status_code == 403
    assert readonly.post("/announcements", {**TEXTS}).status_code == 403
    assert not OutboundMessage.objects.exists()

"""Portal downloads: public files of one's own tickets only, always as a download."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atalaya.conftest import World
from atalaya.tickets import services
from atalaya.tickets.models import Attachment

pytestmark = pytest.mark.django_db


def _upload(name: str, content: bytes, content_type: str = "text/plain") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def _reply_file(
    world: World,
    ticket=None,
    name: str = "report.txt",
    content: bytes = b"all good\n",
    content_type: str = "text/plain",
) -> Attachment:
    event = services.add_reply(
        ticket or world.ticket_a,
        actor=world.tech,
        body="See the file.",
        attachments=[_upload(name, content, content_type)],
    )
    return Attachment.objects.get(event=event)


def _url(ticket, attachment: Attachment) -> str:
    return f"/portal/tickets/{ticket.number}/attachments/{attachment.pk}/"


def test_public_file_downloads_as_attachment(english: World) -> None:
    world = english
    att = _reply_file(world)
    response = world.http(world.portal_a).get(_url(world.ticket_a, att))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"all good\n"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="report.txt"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"


def test_html_upload_is_never_served_as_html(english: World) -> None:
    world = english
    event = services.add_reply(
        world.ticket_a,
        actor=world.portal_a,
        body="page",
        attachments=[_upload("page.xml", b"<html><script>x</script>", "text/html")],
    )
    att = Attachment.objects.get(event=event)
    response = world.http(world.portal_a).get(_url(world.ticket_a, att))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "sandbox" in response["Content-Security-Policy"]


def test_file_is_listed_on_the_ticket_page(english: World) -> None:
    world = english
    att = _reply_file(world)
    page = world.http(world.portal_a).get(f"/portal/tickets/{world.ticket_a.number}/")
    page = page.content.decode()
    assert _url(world.ticket_a, att) in page
    assert "report.txt" in page


def test_file_of_an_internal_note_is_404_and_not_listed(english: World) -> None:
    world = english
    event = services.add_note(
        world.ticket_a,
        actor=world.tech,
        body="internal",
        attachments=[_upload("passwords.txt", b"hunter2")],
    )
    att = Attachment.objects.get(event=event)
    http = world.http(world.portal_a)
    assert http.get(_url(world.ticket_a, att)).status_code == 404
    page = http.get(f"/portal/tickets/{world.ticket_a.number}/").content.decode()
    assert "passwords.txt" not in page


def test_other_clients_file_is_404_under_any_ticket_number(english: World) -> None:
    world = english
    att_a = _reply_file(world)
    http_b = world.http(world.portal_b)
    assert http_b.get(_url(world.ticket_a, att_a)).status_code == 404
    # Their own ticket number with A's file id: still 404.
    assert http_b.get(_url(world.ticket_b, att_a)).status_code == 404


def test_file_under_the_wrong_ticket_of_the_same_client_is_404(english: World) -> None:
    world = english
    other = services.create_ticket(actor=world.tech, client=world.client_a, subject="Other")
    att = _reply_file(world)
    assert world.http(world.portal_a).get(_url(other, att)).status_code == 404


def test_file_missing_from_storage_is_404_not_500(english: World, media_root: Path) -> None:
    world = english
    att = _reply_file(world)
    Path(att.file.path).unlink()
    assert world.http(world.portal_a).get(_url(world.ticket_a, att)).status_code == 404


def test_client_can_upload_with_a_reply_and_download_it_again(english: World) -> None:
    world = english
    http = world.http(world.portal_a)
    response = http.post(
        f"/portal/tickets/{world.ticket_a.number}/",
        {
            "body": "",
            "attachments": [_upload("screenshot.png", b"\x89PNG data", "image/png")],
        },
    )
    assert response.status_code == 302
    att = Attachment.objects.get(filename="screenshot.png")
    assert att.event.kind == "reply" and att.event.is_public
    download = http.get(_url(world.ticket_a, att))
    assert b"".join(download.streaming_content) == b"\x89PNG data"

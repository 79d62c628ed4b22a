"""Attachment downloads and uploads on the ticket page: scope, headers, rejected files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atalaya.conftest import World
from atalaya.tickets import services as ts
from atalaya.tickets.models import Attachment, EventKind, Ticket, TicketEvent


@pytest.fixture(autouse=True)
def fast_passwords_and_media(settings, tmp_path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


def url(ticket: Ticket, attachment: Attachment) -> str:
    return f"/tickets/{ticket.number}/attachments/{attachment.pk}/"


def attach(
    world: World,
    ticket: Ticket,
    name: str = "notes.txt",
    content: bytes = b"hello",
    content_type: str = "text/plain",
) -> Attachment:
    event = ts.add_note(
        ticket,
        actor=world.tech,
        body="file",
        attachments=[SimpleUploadedFile(name, content, content_type)],
    )
    return event.attachments.get()


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_staff_download_as_attachment(world: World, role: str) -> None:
    attachment = attach(world, world.ticket_a, "report.pdf", b"%PDF-1.4 test", "application/pdf")
    response = world.http(getattr(world, role)).get(url(world.ticket_a, attachment))
    assert response.status_code == 200
    assert body_of(response) == b"%PDF-1.4 test"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="report.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"


def test_html_is_never_served_inline(world: World) -> None:
    attachment = attach(
        world, world.ticket_a, "page.txt", b"<script>alert(1)</script>", "text/html"
    )
    response = world.http(world.tech).get(url(world.ticket_a, attachment))
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404(world: World, role: str) -> None:
    attachment = attach(world, world.ticket_a)
    assert world.http(getattr(world, role)).get(url(world.ticket_a, attachment)).status_code == 404


def test_attachment_must_belong_to_the_ticket_in_the_url(world: World) -> None:
    of_b = attach(world, world.ticket_b)
    http = world.http(world.tech)
    assert http.get(url(world.ticket_a, of_b)).status_code == 404
    assert http.get(f"/tickets/{world.ticket_a.number}/attachments/999999/").status_code == 404
    assert http.get(f"/tickets/999999/attachments/{of_b.pk}/").status_code == 404


def test_missing_file_is_404_not_500(world: World) -> None:
    attachment = attach(world, world.ticket_a)
    attachment.file.storage.delete(attachment.file.name)
    assert world.http(world.tech).get(url(world.ticket_a, attachment)).status_code == 404


def test_wrong_method_is_405(world: World) -> None:
    attachment = attach(world, world.ticket_a)
    assert world.http(world.tech).post(url(world.ticket_a, attachment)).status_code == 405


def test_timeline_links_to_downloads_including_merged_tickets(world: World) -> None:
    dup = ts.create_ticket(actor=world.tech, client=world.client_a, subject="dup")
    attachment = attach(world, dup, "from-dup.txt")
    ts.merge_tickets(dup, world.ticket_a, actor=world.tech)
    content = world.http(world.tech).get(f"/tickets/{world.ticket_a.number}/").content.decode()
    assert url(dup, attachment) in content and "from-dup.txt" in content
    assert world.http(world.tech).get(url(dup, attachment)).status_code == 200


def test_reply_and_note_with_attachments(world: World) -> None:
    http = world.http(world.tech)
    t = world.ticket_a
    files = [
        SimpleUploadedFile("a.txt", b"a", "text/plain"),
        SimpleUploadedFile("b.csv", b"b", "text/csv"),
    ]
    assert (
        http.post(f"/tickets/{t.number}/reply/", {"body": "", "attachments": files}).status_code
        == 302
    )
    reply = TicketEvent.objects.get(ticket=t, kind=EventKind.REPLY)
    assert sorted(reply.attachments.values_list("filename", flat=True)) == ["a.txt", "b.csv"]
    note_file = SimpleUploadedFile("c.log", b"c", "text/plain")
    data = {"note-body": "log", "note-attachments": [note_file]}
    assert http.post(f"/tickets/{t.number}/note/", data).status_code == 302
    note = TicketEvent.objects.get(ticket=t, kind=EventKind.NOTE)
    assert list(note.attachments.values_list("filename", flat=True)) == ["c.log"]


@pytest.mark.parametrize("kind", ["reply", "note"])
def test_rejected_upload_leaves_nothing_half_saved(world: World, kind: str, settings) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    http = world.http(world.tech)
    t = world.ticket_a
    prefix = "note-" if kind == "note" else ""
    cases = [
        (
            [
                SimpleUploadedFile("fine.txt", b"ok", "text/plain"),
                SimpleUploadedFile("evil.exe", b"MZ"),
            ],
            "are not accepted",
        ),
        (
            [SimpleUploadedFile("huge.zip", b"x" * (1024 * 1024 + 1), "application/zip")],
            "larger than the limit of 1 MB",
        ),
        ([SimpleUploadedFile("noextension", b"x")], "are not accepted"),
    ]
    for files, message in cases:
        before = (
            TicketEvent.objects.count(),
            Attachment.objects.count(),
            Ticket.objects.get(pk=t.pk).updated_at,
        )
        response = http.post(
            f"/tickets/{t.number}/{kind}/", {f"{prefix}body": "text", f"{prefix}attachments": files}
        )
        assert response.status_code == 400
        assert message in response.content.decode()
        after = (
            TicketEvent.objects.count(),
            Attachment.objects.count(),
            Ticket.objects.get(pk=t.pk).updated_at,
        )
        assert after == before

"""Staff pages of received mail, with the three-user fixture of DESIGN.md."""

from __future__ import annotations

from typing import Any

import pytest

from atalaya.core.models import Contact
from atalaya.mail.inbound import ingest
from atalaya.mail.models import InboundMessage, Outcome
from atalaya.mail.tests import mails
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Ticket


@pytest.fixture
def received(world: Any, settings: Any, tmp_path: Any) -> dict[str, InboundMessage]:
    settings.MEDIA_ROOT = tmp_path
    rows = {}
    for name, raw in {
        "reply": mails.build(
            subject=f"Re: [#{world.ticket_a.number}]",
            html='<p>Hi<script>alert("x")</script><img src="https://t.example/p.gif"></p>',
        ),
        "stranger": mails.build(sender="who@unknown.example", subject="Who am I"),
        "dead": mails.build(subject="to fail"),
    }.items():
        rows[name] = InboundMessage.objects.get(pk=ingest(raw).inbound_id)
    dead = rows["dead"]
    # A dead letter as the pipeline leaves one (here: a ticket that failed to open).
    InboundMessage.objects.filter(pk=dead.pk).update(
        outcome=Outcome.DEAD_LETTER, ticket=None, event=None, error="boom"
    )
    dead.refresh_from_db()
    return rows


def test_the_log_for_staff_with_a_fixed_number_of_queries(
    world: Any, received: Any, django_assert_max_num_queries: Any
) -> None:
    http = world.http(world.readonly)
    with django_assert_max_num_queries(6) as small:
        response = http.get("/mail/")
    assert response.status_code == 200
    for i in range(20):
        ingest(mails.build(sender=f"p{i}@alfa.example", subject=f"more {i}"))
    with django_assert_max_num_queries(6) as big:
        response = http.get("/mail/")
    assert len(big.captured_queries) == len(small.captured_queries)
    assert "more 19" in response.content.decode()
    filtered = http.get("/mail/", {"outcome": "triage"}).content.decode()
    assert "Who am I" in filtered and "more 19" not in filtered
    assert http.get("/mail/", {"outcome": "nonsense"}).status_code == 200


@pytest.mark.parametrize(
    "path", ["/mail/", "/mail/triage/", "/mail/dead-letters/", "/mail/received/{id}/"]
)
def test_client_users_get_404(world: Any, received: Any, path: str) -> None:
    path = path.format(id=received["reply"].pk)
    assert world.http(world.portal_a).get(path).status_code == 404
    assert world.http(world.portal_b).get(path).status_code == 404


def test_the_detail_shows_why_and_the_sanitised_body(world: Any, received: Any) -> None:
    row = received["reply"]
    page = world.http(world.tech).get(f"/mail/received/{row.pk}/").content.decode()
    assert "ticket number in the subject" in page
    assert f"#{world.ticket_a.number}" in page
    body = page.split('class="mail-html"', 1)[1].split("</div>", 1)[0]
    assert "<p>Hi" in body and "alert(" not in body and "https://t.example" not in body
    assert f"/mail/received/{row.pk}/raw/" not in page  # technicians: no raw download


def test_raw_download_and_dead_letters_are_for_admins_only(world: Any, received: Any) -> None:
    row = received["reply"]
    assert world.http(world.tech).get(f"/mail/received/{row.pk}/raw/").status_code == 404
    assert world.http(world.tech).get("/mail/dead-letters/").status_code == 404
    response = world.http(world.admin).get(f"/mail/received/{row.pk}/raw/")
    assert response.status_code == 200 and response["Content-Type"] == "message/rfc822"
    assert b"".join(response) == row.raw.open("rb").read()
    page = world.http(world.admin).get("/mail/dead-letters/").content.decode()
    assert "to fail" in page and "boom" in page


def test_process_again(world: Any, received: Any) -> None:
    dead = received["dead"]
    url = f"/mail/received/{dead.pk}/reprocess/"
    assert world.http(world.admin).get(url).status_code == 405
    assert world.http(world.tech).post(url).status_code == 404
    assert world.http(world.portal_b).post(url).status_code == 404
    response = world.http(world.admin).post(url)
    assert response.status_code == 302
    dead.refresh_from_db()
    assert dead.outcome == Outcome.CREATED and dead.attempts == 2


def test_triage_by_a_technician(world: Any, received: Any) -> None:
    row = received["stranger"]
    assert "Who am I" in world.http(world.readonly).get("/mail/triage/").content.decode()
    url = f"/mail/received/{row.pk}/triage/"
    data = {"client": world.client_b.public_id}
    assert world.http(world.tech).get(url).status_code == 405
    assert world.http(world.readonly).post(url, data).status_code == 403
    assert world.http(world.portal_b).post(url, data).status_code == 404
    bad = world.http(world.tech).post(url, {"client": "nope"}, follow=True)
    assert "Client:" in bad.content.decode()
    response = world.http(world.tech).post(url, data)
    row.refresh_from_db()
    assert response.status_code == 302 and row.ticket is not None
    assert row.ticket.client == world.client_b
    assert Contact.objects.get(email="who@unknown.example").memberships.count() == 1


def test_move_and_split_forms(world: Any, received: Any) -> None:
    row = received["reply"]
    target = ticket_services.create_ticket(actor=world.tech, client=world.client_a, subject="T")
    url = f"/mail/received/{row.pk}/move/"
    assert world.http(world.tech).get(url).status_code == 405
    assert world.http(world.readonly).post(url, {"target": target.number}).status_code == 403
    assert world.http(world.portal_a).post(url, {"target": target.number}).status_code == 404
    page = world.http(world.tech).get(f"/tickets/{world.ticket_a.number}/").content.decode()
    assert url in page and "matched by ticket number in the subject" in page
    other = world.http(world.tech).post(url, {"target": world.ticket_b.number}, follow=True)
    assert "same client" in other.content.decode()
    missing = world.http(world.tech).post(url, {"target": 999999}, follow=True)
    assert "no such ticket" in missing.content.decode()
    response = world.http(world.tech).post(url, {"target": target.number})
    assert response.status_code == 302 and response["Location"].endswith(f"/{target.number}/")
    split = world.http(world.tech).post(f"/mail/received/{row.pk}/split/")
    assert split.status_code == 302
    row.refresh_from_db()
    assert row.ticket.number not in (world.ticket_a.number, target.number)
    assert Ticket.objects.filter(number=row.ticket.number, client=world.client_a).exists()


def test_client_page_badges(world: Any, received: Any) -> None:
    from atalaya.mail.tests.mails import bounce

    ingest(mails.build(sender="luis@alfa.example", subject="new person"))
    ingest(bounce(recipient="ana@alfa.example", original_id="x@y.example"))
    page = world.http(world.tech).get(f"/clients/{world.client_a.public_id}/").content.decode()
    assert "to confirm" in page and "bounces" in page

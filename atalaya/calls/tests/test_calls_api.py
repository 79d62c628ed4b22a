"""/api/v1/calls: list, get and log a call through the same service as the form."""

from __future__ import annotations

from atalaya.calls.models import Call
from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.tickets.models import Category, Ticket


def _body(world: World, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "client": str(world.client_a.public_id),
        "contact": str(world.contact_a.public_id),
        "number": "612 34 56 78",
        "note": "Screen flickers\nSince Monday.",
        "idempotency_key": "pbx-77",
    }
    body.update(extra)
    return body


def test_log_list_and_get_a_call(world: World) -> None:
    api = Api(world.tech)
    first = api.post("/calls", _body(world))
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["number"] == "+34612345678" and data["ticket"] and data["source"] == "manual"
    again = api.post("/calls", _body(world))
    assert again.status_code == 201 and again.json()["public_id"] == data["public_id"]
    assert Call.objects.count() == 1
    on_ticket = api.post(
        "/calls", _body(world, ticket=world.ticket_a.number, idempotency_key=None, note="ok")
    )
    assert on_ticket.status_code == 201 and on_ticket.json()["ticket"] == world.ticket_a.number
    listed = api.get("/calls", {"client": str(world.client_a.public_id)})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    got = api.get(f"/calls/{data['public_id']}")
    assert got.status_code == 200 and got.json()["note"].startswith("Screen flickers")


def test_a_new_ticket_gets_the_category_given(world: World) -> None:
    category = Category.objects.first()
    assert category is not None
    api = Api(world.tech)
    made = api.post("/calls", _body(world, category=category.slug))
    assert made.status_code == 201, made.content
    assert Ticket.objects.get(number=made.json()["ticket"]).category == category


def test_bad_calls_name_the_field(world: World) -> None:
    api = Api(world.tech)
    assert fields_of(api.post("/calls", _body(world, category="no-such-area"))) == {"category"}
    assert fields_of(api.post("/calls", _body(world, number="12"))) == {"number"}
    assert fields_of(api.post("/calls", _body(world, ticket=world.ticket_b.number))) == {"ticket"}
    assert fields_of(api.post("/calls", _body(world, contact=str(world.contact_b.public_id)))) == {
        "contact"
    }
    assert api.post("/calls", _body(world, direction="sideways")).status_code == 422
    assert api.post("/calls", {**_body(world), "typo": 1}).status_code == 422
    assert Api(world.readonly).post("/calls", _body(world)).status_code == 403
    assert not Call.objects.exists()


def test_portal_users_see_no_calls(world: World) -> None:
    created = Api(world.tech).post("/calls", _body(world)).json()
    portal = Api(world.portal_a)
    assert portal.get("/calls").status_code == 404
    assert portal.get(f"/calls/{created['public_id']}").status_code == 404
    assert portal.post("/calls", _body(world, idempotency_key="x")).status_code == 404

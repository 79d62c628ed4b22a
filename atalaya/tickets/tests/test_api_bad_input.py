"""Bad input to the API: a clear JSON error naming the field, never a 500, nothing half-saved.

A matrix of malformed bodies, missing fields, wrong types, huge strings, unknown enum
values and unknown or foreign ids over every write route, then a property test that
throws arbitrary JSON at each route.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atalaya.conftest import World
from atalaya.core.models import Contact
from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.tickets.models import Ticket, TicketEvent, TimeEntry


@pytest.fixture
def tech(world: World) -> Api:
    return Api(world.tech)


def assert_json_error(r: Any, status: int, fields: set[str] | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json")
    data = r.json()
    assert isinstance(data["detail"], str) and data["detail"]
    assert isinstance(data["errors"], list)
    for error in data["errors"]:
        assert error["field"] and error["message"]
    if fields is not None:
        assert fields_of(r) == fields, data
    return data


def counts() -> tuple[int, int, int, int]:
    return (
        Ticket.objects.count(),
        TicketEvent.objects.count(),
        TimeEntry.objects.count(),
        Contact.objects.count(),
    )


def write_routes(world: World) -> list[tuple[str, str]]:
    n = world.ticket_a.number
    return [
        ("post", "/tickets"),
        ("patch", f"/tickets/{n}"),
        ("post", f"/tickets/{n}/events"),
        ("post", f"/tickets/{n}/time"),
        ("post", "/contacts"),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '{"subject": ',
        "not json",
        "{'single': 'quotes'}",
        "\xff\xfe",
        "subject=x&client=y",
        "{" * 10_000,
        '{"a": NaN',
    ],
)
def test_malformed_json_is_a_400_naming_the_body(world: World, tech: Api, raw: str) -> None:
    before = counts()
    for method, path in write_routes(world):
        r = getattr(tech, method)(path, raw=raw.encode("latin-1"))
        data = assert_json_error(r, 400, {"body"})
        assert "JSON" in data["detail"]
    assert counts() == before


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"a string"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_a_422(world: World, tech: Api, raw: str) -> None:
    before = counts()
    for method, path in write_routes(world):
        r = getattr(tech, method)(path, raw=raw)
        assert r.status_code in (400, 422), (path, raw, r.content)
        assert_json_error(r, r.status_code)
    assert counts() == before


def test_empty_body_names_the_missing_fields(world: World, tech: Api) -> None:
    assert_json_error(tech.post("/tickets", raw=""), 422, {"body"})
    assert_json_error(tech.post("/tickets", {}), 422, {"client", "subject"})
    assert_json_error(
        tech.post(f"/tickets/{world.ticket_a.number}/events", {}), 422, {"type", "body"}
    )
    assert_json_error(tech.post(f"/tickets/{world.ticket_a.number}/time", {}), 422, {"minutes"})
    assert_json_error(tech.post("/contacts", {}), 422, {"name", "clients"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": 123}, "subject"),
        ({"subject": ["a"]}, "subject"),
        ({"subject": None}, "subject"),
        ({"body": {"nested": 1}}, "body"),
        ({"priority": 5}, "priority"),
        ({"priority": "extreme"}, "priority"),
        ({"priority": "URGENT"}, "priority"),
        ({"client": "not-a-uuid"}, "client"),
        ({"client": 12}, "client"),
        ({"site": "1234"}, "site"),
        ({"queue": "no such/slug"}, "queue"),
        ({"category": "<script>"}, "category"),
        ({"assignee": "a b"}, "assignee"),
        ({"subject": "x" * 5_000}, "subject"),
        ({"body": "x" * 200_000}, "body"),
        ({"subject": "null\x00byte"}, "subject"),
    ],
)
def test_wrong_types_and_values_on_create(
    world: World, tech: Api, body: dict[str, Any], field: str
) -> None:
    payload = {"client": str(world.client_a.public_id), "subject": "Valid", **body}
    before = counts()
    assert_json_error(tech.post("/tickets", payload), 422, {field})
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 251}, "subject"),
        ({"body": "y" * 100_001}, "body"),
        ({"queue": "no-such-queue"}, "queue"),
        ({"category": "no-such-category"}, "category"),
        ({"assignee": "nobody"}, "assignee"),
        ({"assignee": "readonly"}, "assignee"),
    ],
)
def test_service_rules_on_create_name_the_field(
    world: World, tech: Api, body: dict[str, Any], field: str
) -> None:
    payload = {"client": str(world.client_a.public_id), "subject": "Valid", **body}
    before = counts()
    assert_json_error(tech.post("/tickets", payload), 422, {field})
    assert counts() == before


@pytest.mark.parametrize("field", ["client", "site", "contact"])
def test_unknown_ids_are_404_naming_the_field(world: World, tech: Api, field: str) -> None:
    payload = {
        "client": str(world.client_a.public_id),
        "subject": "Valid",
        field: str(uuid.uuid4()),
    }
    before = counts()
    assert_json_error(tech.post("/tickets", payload), 404, {field})
    assert counts() == before


def test_foreign_ids_look_like_unknown_ones_to_a_portal_user(world: World) -> None:
    portal = Api(world.portal_a)
    foreign = {"client": str(world.client_b.public_id), "subject": "x"}
    unknown = {"client": str(uuid.uuid4()), "subject": "x"}
    a, b = portal.post("/tickets", foreign), portal.post("/tickets", unknown)
    assert a.status_code == b.status_code == 404 and a.json() == b.json()
    a = portal.get(f"/clients/{world.client_b.public_id}")
    b = portal.get(f"/clients/{uuid.uuid4()}")
    assert a.status_code == b.status_code == 404 and a.json() == b.json()
    a = portal.get(f"/tickets/{world.ticket_b.number}")
    b = portal.get("/tickets/987654321")
    assert a.status_code == b.status_code == 404 and a.json() == b.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"assigne": "tech"}, "assigne"),
        ({"status": "bogus"}, "status"),
        ({"status": None}, "status"),
        ({"priority": None}, "priority"),
        ({"priority": 3}, "priority"),
        ({"subject": ""}, "subject"),
        ({"subject": 7}, "subject"),
        ({"assignee": 7}, "assignee"),
        ({"queue": "nope"}, "queue"),
        ({"category": "nope"}, "category"),
    ],
)
def test_bad_patches(world: World, tech: Api, body: dict[str, Any], field: str) -> None:
    before = counts()
    assert_json_error(tech.patch(f"/tickets/{world.ticket_a.number}", body), 422, {field})
    assert counts() == before


def test_patch_with_a_foreign_site_is_refused(world: World, tech: Api) -> None:
    r = tech.patch(f"/tickets/{world.ticket_a.number}", {"site": str(world.site_b.public_id)})
    assert_json_error(r, 422, {"site"})
    r = tech.patch(f"/tickets/{world.ticket_a.number}", {"site": str(uuid.uuid4())})
    assert_json_error(r, 404, {"site"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "comment", "body": "x"}, "type"),
        ({"type": "reply", "body": ""}, "body"),
        ({"type": "note", "body": "   "}, "body"),
        ({"type": "reply", "body": 5}, "body"),
        ({"type": "reply", "body": "x" * 200_000}, "body"),
    ],
)
def test_bad_events(world: World, tech: Api, body: dict[str, Any], field: str) -> None:
    before = counts()
    assert_json_error(tech.post(f"/tickets/{world.ticket_a.number}/events", body), 422, {field})
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": 1441}, "minutes"),
        ({"minutes": -5}, "minutes"),
        ({"minutes": 1.5}, "minutes"),
        ({"minutes": "ten"}, "minutes"),
        ({"minutes": 10**30}, "minutes"),
        ({"minutes": 10, "work_type": "nope"}, "work_type"),
        ({"minutes": 10, "worked_on": "yesterday"}, "worked_on"),
        ({"minutes": 10, "worked_on": "2026-02-30"}, "worked_on"),
        ({"minutes": 10, "note": "n" * 600}, "note"),
        ({"minutes": 10, "is_billable": "perhaps"}, "is_billable"),
    ],
)
def test_bad_time_entries(world: World, tech: Api, body: dict[str, Any], field: str) -> None:
    before = counts()
    assert_json_error(tech.post(f"/tickets/{world.ticket_a.number}/time", body), 422, {field})
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"name": "", "clients": ["A"]}, "name", 422),
        ({"name": "Eva", "clients": []}, "clients", 422),
        ({"name": "Eva", "clients": ["nope"]}, "clients.0", 422),
        ({"name": "Eva", "clients": ["B"], "email": "not-an-email"}, "email", 422),
        ({"name": "Eva", "clients": ["B"], "time_zone": "Mars/Olympus"}, "time_zone", 422),
        ({"name": "Eva", "clients": ["B"], "language": "fr"}, "language", 422),
        ({"name": "Eva", "clients": [str(uuid.UUID(int=1))]}, "clients", 404),
        ({"name": "Eva", "clients": ["A"], "site": "B-site"}, "site", 422),
        ({"name": "Eva", "clients": ["A"], "site": str(uuid.UUID(int=2))}, "site", 404),
    ],
)
def test_bad_contacts(
    world: World, tech: Api, body: dict[str, Any], field: str, status: int
) -> None:
    ids = {
        "A": str(world.client_a.public_id),
        "B": str(world.client_b.public_id),
        "B-site": str(world.site_b.public_id),
    }
    body = {
        k: ([ids.get(c, c) for c in v] if k == "clients" else ids.get(v, v))
        for k, v in body.items()
    }
    before = counts()
    assert_json_error(tech.post("/contacts", body), status, {field})
    assert counts() == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "open,bogus"}, "status"),
        ({"priority": "extreme"}, "priority"),
        ({"client": "not-a-uuid"}, "client"),
        ({"assignee": "a b"}, "assignee"),
        ({"assignee": "ghost"}, "assignee"),
        ({"category": "ghost"}, "category"),
        ({"queue": "ghost"}, "queue"),
        ({"sort": "subject"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "99999999999999999999"}, "offset"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
        ({"cursor": "WyItbnVtYmVyIiwgIngiLCAxXQ"}, "cursor"),
        ({"q": "x" * 300}, "q"),
    ],
)
def test_bad_list_parameters(world: World, tech: Api, params: dict[str, str], field: str) -> None:
    assert_json_error(tech.get("/tickets", params), 422, {field})


def test_cursor_of_another_sort_is_refused(world: World, tech: Api) -> None:
    for _ in range(3):
        tech.post("/tickets", {"client": str(world.client_a.public_id), "subject": "More"})
    cursor = tech.get("/tickets", {"limit": "1", "sort": "-number"}).json()["next_cursor"]
    assert cursor
    assert_json_error(
        tech.get("/tickets", {"cursor": cursor, "sort": "-updated_at"}), 422, {"cursor"}
    )
    assert_json_error(
        tech.get("/tickets", {"cursor": cursor, "offset": "1", "sort": "-number"}), 422, {"offset"}
    )


def test_search_syntax_is_inert(world: World, tech: Api) -> None:
    for q in ['"', "NEAR(", "*", "a OR", "-", "^x", "\x00", "' OR 1=1 --", "ñandú ü", "()"]:
        r = tech.get("/tickets", {"q": q})
        assert r.status_code in (200, 422), (q, r.content)


def test_oversized_body_is_a_413(world: World, tech: Api) -> None:
    huge = json.dumps(
        {"client": str(world.client_a.public_id), "subject": "x", "body": "y" * 6_000_000}
    )
    assert_json_error(tech.post("/tickets", raw=huge), 413, {"body"})
    assert not Ticket.objects.filter(subject="x").exists()


def test_html_in_text_is_stored_and_returned_as_data(world: World, tech: Api) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = tech.post(
        "/tickets", {"client": str(world.client_a.public_id), "subject": evil, "body": evil}
    )
    assert r.status_code == 201 and r.json()["subject"] == evil
    assert r["Content-Type"].startswith("application/json")


def test_unknown_routes_and_junk_path_ids(world: World, tech: Api) -> None:
    for path in [
        "/clients/not-a-uuid",
        f"/clients/{uuid.uuid4()}/sites",
        "/sites/x",
        "/contacts/%00",
        "/tickets/1e3",
        "/tickets/%20/events",
    ]:
        assert_json_error(tech.get(path), 404)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "client",
        "subject",
        "body",
        "site",
        "contact",
        "queue",
        "category",
        "priority",
        "assignee",
        "status",
        "type",
        "minutes",
        "is_billable",
        "work_type",
        "note",
        "worked_on",
        "name",
        "email",
        "clients",
        "time_zone",
        "language",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.integers(0, 4),
    body=st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=6)),
)
def test_arbitrary_json_never_breaks_a_route(
    world: World, tech: Api, route: int, body: Any
) -> None:
    method, path = write_routes(world)[route]
    r = getattr(tech, method)(path, raw=json.dumps(body))
    assert r.status_code in (200, 201, 400, 403, 404, 422), (path, body, r.content)
    if r.status_code >= 400:
        assert_json_error(r, r.status_code)

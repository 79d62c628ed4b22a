"""The client, site and contact API, /me, and the OpenAPI document.

Staff see every client; a portal user sees their own and gets 404 for the others,
exactly as for an id that does not exist. Only technicians and admins add contacts.
"""

from __future__ import annotations

import uuid

import pytest

from atalaya.conftest import World
from atalaya.core import services
from atalaya.core.models import Contact
from atalaya.core.tests.apiclient import Api, fields_of


def test_me(world: World) -> None:
    data = Api(world.tech).get("/me").json()
    assert data["username"] == "tech" and data["role"] == "technician" and data["clients"] is None
    data = Api(world.portal_a).get("/me").json()
    assert data["role"] == "portal" and data["clients"] == [str(world.client_a.public_id)]


def test_client_list_is_scoped(world: World, django_assert_max_num_queries) -> None:
    for i in range(10):
        services.create_client(actor=None, name=f"Cliente {i:02d}")
    tech = Api(world.tech)
    tech.get("/me")  # the token's first-use stamp is not part of the list's cost
    with django_assert_max_num_queries(2):
        page = tech.get("/clients", {"limit": "5"}).json()
    assert len(page["items"]) == 5 and page["next_offset"] == 5
    names = [c["name"] for c in page["items"]]
    assert names == sorted(names)
    rest = tech.get("/clients", {"limit": "200", "offset": "5"}).json()
    assert len(rest["items"]) == 7 and rest["next_offset"] is None
    assert [c["name"] for c in tech.get("/clients", {"q": "alfa"}).json()["items"]] == [
        "Alfa Asesores"
    ]

    portal = Api(world.portal_a).get("/clients").json()["items"]
    assert [c["public_id"] for c in portal] == [str(world.client_a.public_id)]


def test_get_client_three_user_rule(world: World) -> None:
    path = f"/clients/{world.client_a.public_id}"
    assert Api(world.readonly).get(path).json()["name"] == "Alfa Asesores"
    data = Api(world.portal_a).get(path).json()
    assert data["public_id"] == str(world.client_a.public_id) and data["working_days"] == "12345"
    assert Api(world.portal_b).get(path).status_code == 404
    assert Api().get(path).status_code == 401
    assert Api(world.tech).get(f"/clients/{uuid.uuid4()}").status_code == 404


def test_sites(world: World) -> None:
    services.add_site(actor=None, client=world.client_a, name="Branch")
    path = f"/clients/{world.client_a.public_id}/sites"
    names = [s["name"] for s in Api(world.portal_a).get(path).json()]
    assert names == ["Branch", "HQ"]
    assert Api(world.portal_b).get(path).status_code == 404
    site_path = f"/sites/{world.site_a.public_id}"
    assert Api(world.tech).get(site_path).json()["client"] == str(world.client_a.public_id)
    assert Api(world.portal_a).get(site_path).status_code == 200
    assert Api(world.portal_b).get(site_path).status_code == 404


def test_contacts_list_and_filter(world: World, django_assert_max_num_queries) -> None:
    for i in range(8):
        services.create_contact(
            actor=None, clients=[world.client_a], name=f"Persona {i}", email=f"p{i}@alfa.example"
        )
    tech = Api(world.tech)
    tech.get("/me")
    with django_assert_max_num_queries(3):
        items = tech.get("/contacts", {"limit": "200"}).json()["items"]
    assert len(items) == 10
    only_b = tech.get("/contacts", {"client": str(world.client_b.public_id)}).json()["items"]
    assert [c["public_id"] for c in only_b] == [str(world.contact_b.public_id)]
    assert [c["name"] for c in tech.get("/contacts", {"q": "p3@"}).json()["items"]] == ["Persona 3"]

    portal_a = Api(world.portal_a)
    names = {c["name"] for c in portal_a.get("/contacts", {"limit": "200"}).json()["items"]}
    assert "Contact of Beta Bodegas" not in names and len(names) == 9
    r = portal_a.get("/contacts", {"client": str(world.client_b.public_id)})
    assert r.status_code == 404 and fields_of(r) == {"client"}


def test_shared_contact_does_not_reveal_other_clients(world: World) -> None:
    shared = services.create_contact(
        actor=None, clients=[world.client_a, world.client_b], name="Shared Consultant"
    )
    path = f"/contacts/{shared.public_id}"
    staff_view = Api(world.tech).get(path).json()
    assert set(staff_view["clients"]) == {
        str(world.client_a.public_id),
        str(world.client_b.public_id),
    }
    assert Api(world.portal_a).get(path).json()["clients"] == [str(world.client_a.public_id)]
    assert Api(world.portal_b).get(path).json()["clients"] == [str(world.client_b.public_id)]


def test_get_contact_of_another_client_is_404(world: World) -> None:
    path = f"/contacts/{world.contact_a.public_id}"
    assert Api(world.portal_a).get(path).status_code == 200
    assert Api(world.portal_b).get(path).status_code == 404
    assert Api(world.tech).get("/contacts/not-a-uuid").status_code == 404


def test_create_contact(world: World) -> None:
    body = {
        "name": "Eva Núñez",
        "email": "EVA@alfa.example",
        "clients": [str(world.client_a.public_id)],
        "site": str(world.site_a.public_id),
        "language": "en",
        "time_zone": "Atlantic/Canary",
    }
    r = Api(world.tech).post("/contacts", body)
    assert r.status_code == 201, r.content
    contact = Contact.objects.get(public_id=r.json()["public_id"])
    assert contact.email == "eva@alfa.example" and contact.time_zone == "Atlantic/Canary"
    assert contact.memberships.get().site == world.site_a
    assert r.json()["clients"] == [str(world.client_a.public_id)]


@pytest.mark.parametrize("who", ["readonly", "billing", "portal_a"])
def test_roles_that_may_not_add_contacts(world: World, who: str) -> None:
    before = Contact.objects.count()
    body = {"name": "Eva", "clients": [str(world.client_a.public_id)]}
    r = Api(getattr(world, who)).post("/contacts", body)
    assert r.status_code == 403 and r.json()["detail"]
    assert Contact.objects.count() == before


def test_openapi_document_loads_and_documents_every_route(world: World) -> None:
    r = Api().get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Atalaya API"
    ops = {(path, method) for path, item in doc["paths"].items() for method in item}
    expected = {
        ("/api/v1/me", "get"),
        ("/api/v1/clients", "get"),
        ("/api/v1/clients/{public_id}", "get"),
        ("/api/v1/clients/{public_id}/sites", "get"),
        ("/api/v1/sites/{public_id}", "get"),
        ("/api/v1/contacts", "get"),
        ("/api/v1/contacts", "post"),
        ("/api/v1/contacts/{public_id}", "get"),
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/tickets/{number}", "get"),
        ("/api/v1/tickets/{number}", "patch"),
        ("/api/v1/tickets/{number}/events", "get"),
        ("/api/v1/tickets/{number}/events", "post"),
        ("/api/v1/tickets/{number}/time", "get"),
        ("/api/v1/tickets/{number}/time", "post"),
    }
    assert expected <= ops
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("summary") and op.get("description"), (path, method)
            assert op.get("security"), (path, method)
            assert {"401", "404", "422"} <= set(op["responses"]), (path, method)
    create = doc["paths"]["/api/v1/tickets"]["post"]["responses"]
    assert create["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/TicketOut")
    assert create["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    schemas = doc["components"]["schemas"]
    assert set(schemas["TicketIn"]["properties"]["priority"]["enum"]) == {
        "low",
        "normal",
        "high",
        "urgent",
    }
    assert doc["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    # The interactive docs page is served too.
    assert Api().http.get("/api/v1/docs").status_code == 200

"""/api/v1/kb: staff write and everyone reads what they may; errors name the field."""

from __future__ import annotations

from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api
from atalaya.kb.models import Article, ArticleRevision, Category, Visibility
from atalaya.kb.tests.helpers import TEXTS, article


def test_technician_writes_reads_and_changes(world: World) -> None:
    Category.objects.create(slug="remote-work", name_en="Remote work", name_es="Teletrabajo")
    api = Api(world.tech)
    response = api.post(
        "/kb",
        {
            **TEXTS,
            "category": "remote-work",
            "tags": ["VPN", "Windows"],
            "status": "published",
            "visibility": "clients",
            "clients": [str(world.client_a.public_id)],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    key = body["public_id"]
    assert body["tags"] == ["vpn", "windows"] and body["clients"] == [str(world.client_a.public_id)]
    assert body["body_html_en"].startswith("<p>Open <strong>Settings</strong>")
    assert api.get(f"/kb/{key}").json()["category"] == "remote-work"
    changed = api.patch(f"/kb/{key}", {"title_en": "VPN on Windows 11", "category": ""})
    assert changed.status_code == 200, changed.content
    assert changed.json()["title_en"] == "VPN on Windows 11" and changed.json()["category"] is None
    assert changed.json()["title_es"] == TEXTS["title_es"]
    assert ArticleRevision.objects.filter(article__public_id=key).count() == 2
    listing = api.get("/kb").json()
    assert [a["public_id"] for a in listing["items"]] == [key] and listing["next_offset"] is None
    assert [a["public_id"] for a in api.get("/kb", {"q": "windows"}).json()["items"]] == [key]


def test_portal_users_read_only_what_they_may(world: World) -> None:
    public = article(world.tech)
    for_a = article(
        world.tech, visibility=Visibility.CLIENTS, clients=[world.client_a, world.client_b]
    )
    only_a = article(
        world.tech, title_en="Alfa", visibility=Visibility.CLIENTS, clients=[world.client_a]
    )
    a, b = Api(world.portal_a), Api(world.portal_b)
    assert {x["public_id"] for x in a.get("/kb").json()["items"]} == {
        str(public.public_id),
        str(for_a.public_id),
        str(only_a.public_id),
    }
    assert str(only_a.public_id) not in {x["public_id"] for x in b.get("/kb").json()["items"]}
    assert b.get(f"/kb/{only_a.public_id}").status_code == 404
    # Who else an article is shared with is not shown to a client.
    assert b.get(f"/kb/{for_a.public_id}").json()["clients"] == []
    assert b.get("/kb", {"client": str(world.client_a.public_id)}).status_code == 404
    assert b.post("/kb", {**TEXTS}).status_code == 404
    assert b.patch(f"/kb/{public.public_id}", {"title_en": "x"}).status_code == 404
    assert Article.objects.get(pk=public.pk).title_en == TEXTS["title_en"]


def test_read_only_staff_get_403_on_writes(world: World) -> None:
    a = article(world.tech)
    readonly = Api(world.readonly)
    assert readonly.get("/kb").status_code == 200
    assert readonly.get(f"/kb/{a.public_id}").status_code == 200
    assert readonly.post("/kb", {**TEXTS}).status_code == 403
    assert readonly.patch(f"/kb/{a.public_id}", {"title_en": "x"}).status_code == 403
    assert Article.objects.count() == 1


def test_client_filter_for_a_technician(world: World) -> None:
    public = article(world.tech)
    article(world.tech, visibility=Visibility.CLIENTS, clients=[world.client_b])
    api = Api(world.tech)
    items = api.get("/kb", {"client": str(world.client_a.public_id)}).json()["items"]
    assert [x["public_id"] for x in items] == [str(public.public_id)]
    items = api.get("/kb", {"client": str(world.client_a.public_id), "q": "vpn"}).json()["items"]
    assert [x["public_id"] for x in items] == [str(public.public_id)]


def test_bad_input_names_the_field(world: World) -> None:
    api = Api(world.tech)
    response = api.post("/kb", {"title_en": "", "title_es": "", "body_en": "", "body_es": ""})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"title_en"}
    response = api.post("/kb", {**TEXTS, "body_en": "x" * 1_048_576})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body_en"}
    response = api.post("/kb", {**TEXTS, "visibility": "clients"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "clients"
    response = api.post("/kb", {**TEXTS, "clients": ["not-a-uuid"]})
    assert response.status_code == 422
    response = api.post("/kb", {**TEXTS, "category": "nope"})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "category"
    response = api.post("/kb", {**TEXTS, "status": "archived"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "status"
    response = api.post("/kb", raw="{not json")
    assert response.status_code == 400
    response = api.get("/kb", {"q": "x" * 500})
    assert response.status_code == 422
    assert not Article.objects.exists()
    assert api.get("/kb/not-a-uuid").status_code in (404, 422)

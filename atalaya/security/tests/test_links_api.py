"""POST /api/v1/links/check: judgements for mail gateways, staff tokens only, bounded input."""

from __future__ import annotations

from typing import Any

from atalaya.core.tests.apiclient import Api


def test_urls_are_judged_in_order(world: Any) -> None:
    api = Api(world.tech)
    urls = ["https://www.microsoft.com/en-us/", "http://micros0ft-login.example.ru/office365/"]
    answer = api.post("/links/check", {"urls": urls})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert [link["url"] for link in data["links"]] == urls
    assert data["links"][0]["verdict"] == "ok"
    assert data["links"][1]["verdict"] != "ok" and data["links"][1]["reasons"]
    assert len(data["links"][1]["explanations"]) == len(data["links"][1]["reasons"])
    assert data["verdict"] == data["links"][1]["verdict"]


def test_links_are_extracted_from_a_mail_with_their_visible_text(world: Any) -> None:
    html = '<p>Pay here: <a href="http://203.0.113.9/pay">https://www.caixabank.es</a></p>'
    data = Api(world.tech).post("/links/check", {"html": html}).json()
    [link] = data["links"]
    assert link["text"] == "https://www.caixabank.es"
    assert any(code.startswith("text_mismatch") for code in link["reasons"])
    assert "ip_host" in link["reasons"] and data["verdict"] == "phishing"


def test_a_clients_own_domain_is_protected_from_lookalikes(world: Any) -> None:
    url = "https://alfa-example.com.login-check.net/"
    api = Api(world.tech)
    plain = api.post("/links/check", {"urls": [url]}).json()["links"][0]
    own = api.post(
        "/links/check", {"urls": [url], "client_id": str(world.client_a.public_id)}
    ).json()["links"][0]
    assert own["score"] >= plain["score"]


def test_bad_input_is_named(world: Any) -> None:
    api = Api(world.tech)
    too_long = api.post("/links/check", {"urls": ["http://a.example/" + "x" * 9000]})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "urls.0"
    too_many = api.post("/links/check", {"urls": ["http://a.example/"] * 1001})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "urls"
    hostile = api.post("/links/check", {"urls": ["http://[::1", "ht!tp://\u202e@x", "\x00", "%"]})
    assert hostile.status_code == 200
    assert len(hostile.json()["links"]) == 4
    foreign = api.post(
        "/links/check", {"urls": [], "client_id": "00000000-0000-4000-8000-00000000dead"}
    )
    assert foreign.status_code == 404 and foreign.json()["errors"][0]["field"] == "client_id"
    assert api.post("/links/check", {"urls": []}).json() == {"verdict": "ok", "links": []}


def test_only_staff_may_use_it(world: Any) -> None:
    assert (
        Api(world.portal_a).post("/links/check", {"urls": ["http://x.example"]}).status_code == 404
    )
    assert Api().post("/links/check", {"urls": ["http://x.example"]}).status_code == 401

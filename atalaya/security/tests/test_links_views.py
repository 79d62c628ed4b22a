"""The phishing reports page and the link check form: staff only, nothing opened."""

from __future__ import annotations

from typing import Any


def test_the_check_form_judges_pasted_links(world: Any) -> None:
    http = world.http(world.readonly)
    assert http.get("/security/links/check/").status_code == 200
    page = http.post("/security/links/check/", {"text": "see http://198.51.100.7/paypal/login"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "198.51.100.7" in text and "phishing" in text
    assert http.post("/security/links/check/", {"text": ""}).status_code == 400
    assert world.http(world.portal_a).get("/security/links/check/").status_code == 404


def test_the_reports_page_is_for_staff(world: Any, django_assert_max_num_queries: Any) -> None:
    http = world.http(world.tech)
    with django_assert_max_num_queries(8):
        assert http.get("/security/phishing-reports/").status_code == 200
    assert world.http(world.portal_b).get("/security/phishing-reports/").status_code == 404
    assert http.post("/security/phishing-reports/").status_code == 405

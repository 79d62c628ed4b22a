"""In a real browser: suggestions while a client types a subject, and one-click links in a reply.

Playwright's sync API drives Debian's chromium against pytest-django's live server, the
same way as the portal's browser test (whose fixtures this module shares).
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import Browser, expect

from atalaya.conftest import World
from atalaya.kb.models import Visibility
from atalaya.kb.tests.helpers import article
from atalaya.portal.tests.test_browser import _new_page, _sign_in, chromium, site
from atalaya.tickets.models import EventKind, TicketEvent

pytestmark = pytest.mark.browser
__all__ = ["chromium", "site"]  # fixtures used by name


def test_portal_suggests_articles_while_the_subject_is_typed(
    chromium: Browser, site: str, world: World
) -> None:
    vpn = article(world.tech)
    article(
        world.tech,
        title_en="Beta's VPN",
        title_es="La VPN de Beta",
        visibility=Visibility.CLIENTS,
        clients=[world.client_b],
    )
    page = _new_page(chromium)
    _sign_in(page, site, world.portal_a)
    page.goto(f"{site}/portal/tickets/new/")
    page.locator("#id_subject").press_sequentially("La vpn no conecta", delay=30)
    suggestions = page.locator("#kb-suggestions")
    expect(suggestions).to_contain_text("Configurar la VPN en Windows")
    expect(suggestions).not_to_contain_text("Beta")  # shared with another client only
    link = suggestions.get_by_role("link", name="Configurar la VPN en Windows")
    assert link.get_attribute("href") == f"/portal/kb/{vpn.public_id}/"
    # The form still posts as ever.
    with page.expect_navigation():
        page.click("section.portal-form button[type=submit]")
    assert re.search(r"/portal/tickets/\d+/$", page.url)


def test_technician_inserts_an_article_link_into_the_reply(
    chromium: Browser, site: str, world: World
) -> None:
    a = article(world.tech)
    article(
        world.tech,
        title_en="VPN at Beta",
        title_es="VPN en Beta",
        visibility=Visibility.CLIENTS,
        clients=[world.client_b],
    )
    page = _new_page(chromium)
    _sign_in(page, site, world.tech)
    page.goto(f"{site}/tickets/{world.ticket_a.number}/")
    page.fill("#id_body", "Hola, siga estos pasos:")
    page.locator("#kb-link-q").press_sequentially("vpn", delay=30)
    results = page.locator("#kb-link-results")
    expect(results).to_contain_text("Configurar la VPN en Windows")
    expect(results).not_to_contain_text("Beta")
    page.keyboard.press("Enter")  # Enter in the search box must not send the reply
    results.get_by_role("button", name="Insert").first.click()
    url = settings.SITE_URL.rstrip("/") + f"/portal/kb/{a.public_id}/"
    expected = f"Hola, siga estos pasos:\nConfigurar la VPN en Windows — {url}\n"
    expect(page.locator("#id_body")).to_have_value(expected)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".timeline")).to_contain_text(url)
    reply = TicketEvent.objects.filter(ticket=world.ticket_a, kind=EventKind.REPLY).get()
    assert reply.body.replace("\r\n", "\n").strip() == expected.strip()

"""End to end in a real browser: a technician opens and answers a ticket, the client sees it.

Playwright's sync API drives Debian's chromium (never a downloaded browser) against
pytest-django's live server. The technician's side uses the technician UI's own forms
(sign-in, new ticket, reply); the client's side is the portal. Another client's portal
user must get a 404 for the same ticket.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from atalaya.conftest import PASSWORD, World
from atalaya.core.models import User
from atalaya.tickets.models import EventKind, Ticket, TicketEvent

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Generous: the test machine is shared and the first page load compiles templates.
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless chromium for the module.

    Playwright's sync API keeps an asyncio loop in this thread, which makes Django
    refuse ORM calls from the test body unless told the caller is synchronous; the
    variable is restored afterwards so no other test module runs with it.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(live_server, world: World) -> str:
    """The live server's base URL, with the world's data committed where it can see it.

    The flush after this transactional test is repaired by the root conftest, which
    puts the migrations' seed rows back for the tests that follow.
    """
    return live_server.url


def _new_page(browser: Browser) -> Page:
    # A fresh context per person: its own cookies, so sessions never mix.
    page = browser.new_context(locale="en-GB").new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def _sign_in(page: Page, site: str, user: User) -> None:
    page.goto(f"{site}/login/")
    page.fill('input[name="username"]', user.username)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('form button[type="submit"]')
    assert "/login/" not in page.url, f"sign-in of {user.username} failed"


def test_technician_ticket_and_reply_reach_the_right_client_only(
    chromium: Browser, site: str, world: World
) -> None:
    subject = "Browser test: VPN drops every hour"
    reply = "Please update the VPN client to 5.2 <b>today</b> & restart."

    # The technician signs in and opens a ticket for client A through the new-ticket form.
    tech = _new_page(chromium)
    _sign_in(tech, site, world.tech)
    tech.goto(f"{site}/tickets/new/")
    form = tech.locator("#new-ticket-form")
    form.locator('select[name="client"]').select_option(label=world.client_a.name)
    # With HTMX the client's sites are swapped in; wait for them so the swap cannot
    # race the submit (without JavaScript the option is simply never needed).
    tech.wait_for_selector(
        f'#client-fields select[name="site"] option:text("{world.site_a.name}")', state="attached"
    )
    form.locator('select[name="site"]').select_option(label=world.site_a.name)
    form.locator('input[name="subject"]').fill(subject)
    form.locator('textarea[name="body"]').fill("Users at HQ lose the VPN every hour.")
    with tech.expect_navigation(url=re.compile(r"/tickets/\d+/$")):
        form.locator('button[type="submit"]').click()
    number = int(re.search(r"/tickets/(\d+)/$", tech.url).group(1))  # type: ignore[union-attr]
    ticket = Ticket.objects.get(number=number)
    assert ticket.client_id == world.client_a.pk
    assert ticket.site_id == world.site_a.pk
    assert ticket.subject == subject

    # The technician replies on the ticket page (HTMX swaps the page in place).
    reply_form = tech.locator("#reply-form")
    reply_form.locator('textarea[name="body"]').fill(reply)
    reply_form.locator('button[type="submit"]').click()
    tech.locator(".timeline li.reply .body", has_text="Please update the VPN client").wait_for()
    assert TicketEvent.objects.filter(
        ticket=ticket, kind=EventKind.REPLY, body=reply, is_public=True
    ).exists()
    tech.context.close()

    # Client A's portal user signs in and finds the reply on the ticket in the portal.
    portal_a = _new_page(chromium)
    _sign_in(portal_a, site, world.portal_a)
    assert portal_a.url.rstrip("/").endswith("/portal")
    assert portal_a.locator(f'a[href="/portal/tickets/{number}/"]').first.is_visible()
    response = portal_a.goto(f"{site}/portal/tickets/{number}/")
    assert response is not None and response.status == 200
    assert portal_a.locator("h1").inner_text() == f"#{number} {subject}"
    shown = portal_a.locator(".timeline li.reply .body").inner_text()
    assert shown == reply  # the markup arrives as text, never as an element
    assert portal_a.locator(".timeline li.reply .body b").count() == 0
    portal_a.context.close()

    # Client B's portal user gets 404 for the same ticket, and sees no trace of it.
    portal_b = _new_page(chromium)
    _sign_in(portal_b, site, world.portal_b)
    response = portal_b.goto(f"{site}/portal/tickets/{number}/")
    assert response is not None and response.status == 404
    assert "VPN client" not in portal_b.content()
    listing = portal_b.goto(f"{site}/portal/?status=all")
    assert listing is not None and listing.status == 200
    assert subject not in portal_b.content()
    portal_b.context.close()


def test_client_opens_a_ticket_in_the_portal_and_replies(
    chromium: Browser, site: str, world: World
) -> None:
    page = _new_page(chromium)
    _sign_in(page, site, world.portal_a)
    page.goto(f"{site}/portal/tickets/new/")
    page.fill('input[name="subject"]', "Browser test: new laptop needs Office")
    page.fill('textarea[name="body"]', "Starts on Monday.")
    page.select_option('select[name="priority"]', "high")
    with page.expect_navigation(url=re.compile(r"/portal/tickets/\d+/$")):
        page.click('main form button[type="submit"]')
    number = int(re.search(r"/portal/tickets/(\d+)/$", page.url).group(1))  # type: ignore[union-attr]
    ticket = Ticket.objects.get(number=number)
    assert (ticket.client_id, ticket.contact_id, ticket.priority) == (
        world.client_a.pk,
        world.contact_a.pk,
        "high",
    )

    page.fill('#reply textarea[name="body"]', "Also a docking station, please.")
    with page.expect_navigation():
        page.click('#reply button[type="submit"]')
    page.locator(".timeline li.reply .body", has_text="docking station").wait_for()
    page.context.close()

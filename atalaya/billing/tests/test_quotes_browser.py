"""End to end in a real browser: the client's decision maker accepts a quote in the portal
on a chosen start date; the technician sees who accepted, when, and the agreement.

Playwright's sync API drives Debian's chromium against pytest-django's live server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, sync_playwright

from atalaya.billing.models import Agreement, Quote, QuoteStatus
from atalaya.billing.tests.quotes_fixtures import ready, sent
from atalaya.conftest import PASSWORD, World
from atalaya.core.models import User

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless chromium for the module (ORM calls allowed beside Playwright's loop)."""
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


def _page(browser: Browser) -> Page:
    page = browser.new_context(locale="en-GB").new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def _sign_in(page: Page, site: str, user: User) -> None:
    page.goto(f"{site}/login/")
    page.fill('input[name="username"]', user.username)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('form button[type="submit"]')
    assert "/login/" not in page.url


def test_client_accepts_in_the_portal_and_staff_see_it(
    live_server, world: World, chromium: Browser
) -> None:
    quote = sent(world, ready(world))
    site = live_server.url
    start = timezone.localdate() + timedelta(days=10)

    client_page = _page(chromium)
    _sign_in(client_page, site, world.portal_a)
    client_page.goto(f"{site}/portal/quotes/")
    with client_page.expect_navigation():
        client_page.click(f"text={quote.code}")
    client_page.fill('input[name="start_date"]', start.isoformat())
    with client_page.expect_navigation():
        client_page.click("form.accept-form button[type=submit]")
    assert client_page.locator("form.accept-form").count() == 0
    assert world.contact_a.name in client_page.content()

    stored = Quote.objects.get(pk=quote.pk)
    assert stored.status == QuoteStatus.ACCEPTED and stored.chosen_start == start
    assert Agreement.objects.filter(client=world.client_a).count() == 1

    staff_page = _page(chromium)
    _sign_in(staff_page, site, world.tech)
    staff_page.goto(f"{site}/billing/quotes/{quote.public_id}/")
    text = staff_page.content()
    assert world.contact_a.name in text and stored.agreement.name in text

    other = _page(chromium)
    _sign_in(other, site, world.portal_b)
    answer = other.goto(f"{site}/portal/quotes/{quote.public_id}/")
    assert answer is not None and answer.status == 404

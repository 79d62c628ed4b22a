"""A practised technician logs a call with the keyboard only, in a real browser.

Debian's chromium through Playwright against the live server: "c" opens the dialog on
the ticket list, the number is typed, the only match is picked by itself, Enter moves
to the note, Ctrl+Enter saves and the ticket page opens. The time from the keystroke
to the ticket page is measured (target: well under ten seconds; a person adds the
typing of the note).
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser

from atalaya.calls.models import Call
from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.portal.tests.test_browser import _new_page, _sign_in, chromium  # noqa: F401
from atalaya.tickets.models import Ticket

pytestmark = pytest.mark.browser


def test_log_a_call_with_the_keyboard_only(chromium: Browser, live_server, world: World) -> None:  # noqa: F811
    core_services.set_contact_phone(actor=None, contact=world.contact_a, phone="612 34 56 78")
    page = _new_page(chromium)
    _sign_in(page, live_server.url, world.tech)
    page.goto(f"{live_server.url}/tickets/")
    # Not in a text field (the list's search box may have the focus).
    page.evaluate("document.activeElement && document.activeElement.blur()")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    started = time.monotonic()
    page.keyboard.press("c")
    page.locator("#call-dialog #call-q").wait_for()
    assert not errors, errors
    page.keyboard.type("612 34 56 78")
    page.locator("#call-matches input[name=pick]:checked").wait_for(state="attached")
    page.keyboard.press("Enter")
    page.keyboard.type("Outlook asks for the password again")
    with page.expect_navigation(url=re.compile(r"/tickets/\d+/$")):
        page.keyboard.press("Control+Enter")
    elapsed = time.monotonic() - started
    print(f"RESULT call_keyboard_flow_s={elapsed:.2f} s")

    number = int(re.search(r"/tickets/(\d+)/$", page.url).group(1))  # type: ignore[union-attr]
    ticket = Ticket.objects.get(number=number)
    assert ticket.client == world.client_a and ticket.contact == world.contact_a
    assert ticket.subject == "Outlook asks for the password again"
    call = Call.objects.get(ticket=ticket)
    assert call.number == "+34612345678" and call.technician == world.tech
    assert elapsed < 10, f"the keyboard flow took {elapsed:.1f} s"

    # Alt+C works from inside a text field too, and the dialog offers the open tickets.
    page.locator("textarea").first.focus()
    page.keyboard.press("Alt+c")
    page.locator("#call-dialog #call-q").wait_for()
    page.keyboard.type("612345678")
    page.locator(f'#call-matches input[name=file_as][value="{number}"]').wait_for(state="attached")
    page.context.close()

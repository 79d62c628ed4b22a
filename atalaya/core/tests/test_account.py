"""The account page: language and time zone, password, TOTP enrolment (staff), tokens.

Every signed-in person has an account page (200); signed-out visitors are sent to
sign in; each form needs POST (405 otherwise); TOTP is refused to portal users (403).
"""

from __future__ import annotations

import pyotp
import pytest

from atalaya.conftest import PASSWORD, World
from atalaya.core.models import AuditEvent, User
from atalaya.core.views.account import PENDING_TOTP_SECRET

POST_URLS = [
    "/account/preferences/",
    "/account/password/",
    "/account/totp/start/",
    "/account/totp/confirm/",
    "/account/totp/disable/",
    "/account/tokens/",
]


@pytest.mark.parametrize("who", ["admin", "tech", "readonly", "billing", "portal_a", "portal_b"])
def test_everyone_signed_in_has_an_account_page(
    world: World, who: str, django_assert_max_num_queries
) -> None:
    user = getattr(world, who)
    browser = world.http(user)
    with django_assert_max_num_queries(6):
        r = browser.get("/account/")
    assert r.status_code == 200
    assert user.username.encode() in r.content
    assert (b'id="totp"' in r.content) == user.is_msp_staff
    assert b'href="/account/"' in r.content  # the link next to the user's name


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    anonymous = world.http(None)
    r = anonymous.get("/account/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=/account/")
    for url in POST_URLS:
        assert anonymous.post(url, {}).status_code == 302


@pytest.mark.parametrize("url", POST_URLS)
def test_forms_need_post(world: World, url: str) -> None:
    assert world.http(world.tech).get(url).status_code == 405


def test_account_page_needs_get_or_head(world: World) -> None:
    assert world.http(world.tech).post("/account/").status_code == 405


def test_language_and_time_zone(world: World) -> None:
    browser = world.http(world.tech)
    r = browser.post("/account/preferences/", {"language": "es", "time_zone": "America/Bogota"})
    assert r.status_code == 302
    world.tech.refresh_from_db()
    assert (world.tech.language, world.tech.time_zone) == ("es", "America/Bogota")
    page = browser.get("/account/")
    assert page["Content-Language"] == "es"
    assert b'<html lang="es">' in page.content
    audit = AuditEvent.objects.get(action="preferences_changed")
    assert audit.before == {"language": "en", "time_zone": "Europe/Madrid"}


@pytest.mark.parametrize(
    "data",
    [
        {"language": "fr", "time_zone": "UTC"},
        {"language": "en", "time_zone": "Mars/Olympus"},
        {"language": "en"},
        {},
    ],
)
def test_bad_preferences_are_refused(world: World, data: dict[str, str]) -> None:
    r = world.http(world.portal_a).post("/account/preferences/", data)
    assert r.status_code == 400
    world.portal_a.refresh_from_db()
    assert world.portal_a.language == "es"  # the contact's language, unchanged


def test_change_password(world: World) -> None:
    browser = world.http(world.portal_a)
    data = {
        "current_password": PASSWORD,
        "new_password": "a much better secret 42",
        "new_password_again": "a much better secret 42",
    }
    r = browser.post("/account/password/", data)
    assert r.status_code == 302
    world.portal_a.refresh_from_db()
    assert world.portal_a.check_password("a much better secret 42")
    assert browser.get("/account/").status_code == 200  # this session stays signed in


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {
                "current_password": "wrong",
                "new_password": "a much better secret 42",
                "new_password_again": "a much better secret 42",
            },
            "current_password",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": "a much better secret 42",
                "new_password_again": "a different one 42",
            },
            "new_password_again",
        ),
        (
            {"current_password": PASSWORD, "new_password": "short", "new_password_again": "short"},
            "new_password",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": "password",
                "new_password_again": "password",
            },
            "new_password",
        ),
    ],
)
def test_bad_password_changes(world: World, data: dict[str, str], field: str) -> None:
    r = world.http(world.tech).post("/account/password/", data)
    assert r.status_code == 400
    assert r.context["password_form"].errors[field]
    world.tech.refresh_from_db()
    assert world.tech.check_password(PASSWORD)


def test_totp_enrolment(world: World) -> None:
    browser = world.http(world.tech)
    r = browser.post("/account/totp/start/")
    assert r.status_code == 302
    secret = browser.session[PENDING_TOTP_SECRET]
    page = browser.get("/account/").content.decode()
    assert secret in page and "otpauth://totp/" in page
    world.tech.refresh_from_db()
    assert not world.tech.has_totp  # not on until confirmed

    r = browser.post("/account/totp/confirm/", {"code": "000000"})
    assert r.status_code == 400 and r.context["totp_code_form"].errors
    world.tech.refresh_from_db()
    assert not world.tech.has_totp

    r = browser.post("/account/totp/confirm/", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 302
    world.tech.refresh_from_db()
    assert world.tech.totp_secret == secret
    assert PENDING_TOTP_SECRET not in browser.session
    assert AuditEvent.objects.filter(action="totp_enabled").exists()


def test_totp_confirm_without_start(world: World) -> None:
    r = world.http(world.tech).post("/account/totp/confirm/", {"code": "123456"})
    assert r.status_code == 400


def test_totp_disable_needs_the_password(world: World) -> None:
    User.objects.filter(pk=world.admin.pk).update(totp_secret=pyotp.random_base32())
    browser = world.http(world.admin)
    assert browser.post("/account/totp/disable/", {"password": "wrong"}).status_code == 400
    world.admin.refresh_from_db()
    assert world.admin.has_totp
    assert browser.post("/account/totp/disable/", {"password": PASSWORD}).status_code == 302
    world.admin.refresh_from_db()
    assert not world.admin.has_totp


@pytest.mark.parametrize(
    "url", ["/account/totp/start/", "/account/totp/confirm/", "/account/totp/disable/"]
)
def test_totp_is_for_staff(world: World, url: str) -> None:
    r = world.http(world.portal_a).post(url, {"code": "123456", "password": PASSWORD})
    assert r.status_code == 403
    world.portal_a.refresh_from_db()
    assert not world.portal_a.has_totp


def test_user_text_on_the_account_page_is_escaped(world: World) -> None:
    browser = world.http(world.tech)
    browser.post("/account/tokens/", {"name": "<script>alert(1)</script>"})
    page = browser.get("/account/").content
    assert b"<script>alert(1)</script>" not in page
    assert b"&lt;script&gt;" in page


def test_portal_users_language_choice_is_their_contacts_too(world: World) -> None:
    from atalaya.core import services

    services.update_preferences(
        actor=world.portal_a, user=world.portal_a, language="en", time_zone="Atlantic/Canary"
    )
    world.contact_a.refresh_from_db()
    assert (world.contact_a.language, world.contact_a.time_zone) == ("en", "Atlantic/Canary")

"""Sign-in: Argon2 hashes, lock-out, the per-address limit, TOTP, and safe redirects.

The tests sign in through the real form with Argon2 hashes, but with cheap cost
parameters so the suite stays quick; one test proves the project's own setting
stores Argon2 at its real cost.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.cache import cache
from django.test import Client as HttpClient
from django.test import override_settings

from atalaya import settings as project_settings
from atalaya.conftest import PASSWORD, World
from atalaya.core import services
from atalaya.core.models import AuditEvent, User
from atalaya.core.views import auth


class CheapArgon2(Argon2PasswordHasher):
    """Argon2id with minimal cost: the same code path, a fraction of the CPU."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1


@pytest.fixture(autouse=True)
def cheap_argon2(settings: object) -> None:
    settings.PASSWORD_HASHERS = [f"{__name__}.CheapArgon2"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    # The per-address counter lives in the cache, which outlives a test's transaction.
    cache.clear()
    yield
    cache.clear()


def sign_in(browser: HttpClient, username: str, password: str, next_url: str = "") -> object:
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return browser.post("/login/", data)


def signed_in_as(browser: HttpClient) -> str | None:
    user_id = browser.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def test_passwords_are_stored_with_argon2(world: World) -> None:
    assert (
        project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    )
    with override_settings(PASSWORD_HASHERS=project_settings.PASSWORD_HASHERS):
        user = services.create_staff_user(
            actor=None, username="new", password=PASSWORD, role="technician"
        )
        real = Argon2PasswordHasher()
        assert user.password.startswith(
            f"argon2$argon2id$v=19$m={real.memory_cost},t={real.time_cost},p={real.parallelism}$"
        )
        browser = HttpClient()
        assert sign_in(browser, "new", PASSWORD).status_code == 302
    for user in User.objects.all():
        assert user.password.startswith("argon2$argon2id$"), user.username


def test_right_password_signs_in(world: World) -> None:
    browser = HttpClient()
    assert browser.get("/login/").status_code == 200
    r = sign_in(browser, "tech", PASSWORD)
    assert r.status_code == 302 and r["Location"] == "/"
    assert signed_in_as(browser) == "tech"


def test_wrong_password_is_refused_and_counted(world: World) -> None:
    browser = HttpClient()
    r = sign_in(browser, "tech", "nope")
    assert r.status_code == 400 and signed_in_as(browser) is None
    world.tech.refresh_from_db()
    assert world.tech.failed_login_count == 1
    # A success resets the count.
    sign_in(browser, "tech", PASSWORD)
    world.tech.refresh_from_db()
    assert world.tech.failed_login_count == 0


@override_settings(LOGIN_MAX_FAILURES=3)
def test_lock_out_refuses_even_the_right_password(world: World) -> None:
    browser = HttpClient()
    for _ in range(3):
        assert sign_in(browser, "readonly", "wrong").status_code == 400
    world.readonly.refresh_from_db()
    assert world.readonly.locked_until is not None
    assert AuditEvent.objects.filter(object_type="user", action="locked_out").exists()
    r = sign_in(HttpClient(), "readonly", PASSWORD)
    assert r.status_code == 400 and b"Too many failed sign-ins" in r.content
    assert signed_in_as(browser) is None
    # Other accounts are not affected.
    assert sign_in(HttpClient(), "tech", PASSWORD).status_code == 302


def test_lock_out_ends_after_its_time(world: World) -> None:
    import time_machine
    from django.utils import timezone

    with override_settings(LOGIN_MAX_FAILURES=2):
        for _ in range(2):
            sign_in(HttpClient(), "billing", "wrong")
    assert sign_in(HttpClient(), "billing", PASSWORD).status_code == 400
    later = timezone.now() + timezone.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    with time_machine.travel(later):
        browser = HttpClient()
        assert sign_in(browser, "billing", PASSWORD).status_code == 302
        assert signed_in_as(browser) == "billing"


def test_default_limit_is_the_setting(world: World) -> None:
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        sign_in(HttpClient(), "tech", "wrong")
    world.tech.refresh_from_db()
    assert world.tech.locked_until is None
    sign_in(HttpClient(), "tech", "wrong")
    world.tech.refresh_from_db()
    assert world.tech.locked_until is not None


def test_per_address_limit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "ADDRESS_LIMIT", 4)
    sprayer = HttpClient(REMOTE_ADDR="203.0.113.9")
    # Spraying many accounts (and names that do not exist) from one address...
    for username in ["ghost1", "ghost2", "tech", "admin"]:
        assert sign_in(sprayer, username, "guess").status_code == 400
    # ...blocks that address, even with a right password...
    r = sign_in(sprayer, "billing", PASSWORD)
    assert r.status_code == 400 and b"Too many failed sign-ins" in r.content
    assert signed_in_as(sprayer) is None
    # ...but not other addresses, and no single account got locked by it.
    other = HttpClient(REMOTE_ADDR="198.51.100.7")
    assert sign_in(other, "billing", PASSWORD).status_code == 302
    world.tech.refresh_from_db()
    assert world.tech.locked_until is None


def test_inactive_user_cannot_sign_in(world: World) -> None:
    world.tech.is_active = False
    world.tech.save(update_fields=["is_active"])
    browser = HttpClient()
    assert sign_in(browser, "tech", PASSWORD).status_code == 400
    assert signed_in_as(browser) is None


# --- TOTP -----------------------------------------------------------------------------------


@pytest.fixture
def totp(world: World) -> pyotp.TOTP:
    secret = pyotp.random_base32()
    User.objects.filter(pk=world.tech.pk).update(totp_secret=secret)
    return pyotp.TOTP(secret)


def test_totp_right_code_signs_in(world: World, totp: pyotp.TOTP) -> None:
    browser = HttpClient()
    r = sign_in(browser, "tech", PASSWORD, next_url="/tickets/?status=open&sort=-updated_at")
    assert r.status_code == 302 and r["Location"].startswith("/login/totp/")
    assert signed_in_as(browser) is None  # the password alone is not enough
    r = browser.post(
        "/login/totp/", {"code": totp.now(), "next": "/tickets/?status=open&sort=-updated_at"}
    )
    assert r.status_code == 302 and r["Location"] == "/tickets/?status=open&sort=-updated_at"
    assert signed_in_as(browser) == "tech"


def test_totp_next_survives_the_redirect(world: World, totp: pyotp.TOTP) -> None:
    browser = HttpClient()
    r = sign_in(browser, "tech", PASSWORD, next_url="/tickets/?status=open&sort=-updated_at")
    page = browser.get(r["Location"])
    assert b'value="/tickets/?status=open&amp;sort=-updated_at"' in page.content


def test_totp_wrong_code_is_refused_and_counted(world: World, totp: pyotp.TOTP) -> None:
    browser = HttpClient()
    sign_in(browser, "tech", PASSWORD)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    r = browser.post("/login/totp/", {"code": wrong})
    assert r.status_code == 400 and signed_in_as(browser) is None
    world.tech.refresh_from_db()
    assert world.tech.failed_login_count == 1
    for junk in ["", "abcdef", "1" * 50]:
        assert browser.post("/login/totp/", {"code": junk}).status_code == 400
    assert signed_in_as(browser) is None


@override_settings(LOGIN_MAX_FAILURES=3)
def test_totp_guessing_locks_the_account(world: World, totp: pyotp.TOTP) -> None:
    browser = HttpClient()
    sign_in(browser, "tech", PASSWORD)
    for _ in range(3):
        browser.post("/login/totp/", {"code": "000000" if totp.now() != "000000" else "111111"})
    r = browser.post("/login/totp/", {"code": totp.now()})
    assert r.status_code == 400 and signed_in_as(browser) is None


def test_totp_page_without_a_password_step_goes_back(world: World, totp: pyotp.TOTP) -> None:
    browser = HttpClient()
    r = browser.post("/login/totp/", {"code": totp.now()})
    assert r.status_code == 302 and r["Location"] == "/login/"
    assert signed_in_as(browser) is None


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "http://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "https:evil.example",
        " //evil.example",
    ],
)
def test_open_redirects_are_refused(world: World, target: str) -> None:
    browser = HttpClient()
    r = sign_in(browser, "tech", PASSWORD, next_url=target)
    assert r.status_code == 302 and r["Location"] == "/"


def test_local_next_is_followed(world: World) -> None:
    r = sign_in(HttpClient(), "tech", PASSWORD, next_url="/account/")
    assert r["Location"] == "/account/"


def test_sign_out_needs_post(world: World) -> None:
    browser = HttpClient()
    sign_in(browser, "tech", PASSWORD)
    assert browser.get("/logout/").status_code == 405
    assert signed_in_as(browser) == "tech"
    assert browser.post("/logout/").status_code == 302
    assert signed_in_as(browser) is None

"""API tokens: issued from the CLI and the account page, stored hashed, shown once,
marked when used, and refused the moment they are revoked.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from atalaya.conftest import World
from atalaya.core.models import ApiToken, AuditEvent, hash_token
from atalaya.core.tests.apiclient import Api


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cli_create_prints_a_working_token_once(world: World) -> None:
    out, err = run("create", "tech", "--name", "monitoring bridge")
    raw = out.strip()
    assert raw.startswith("ata_") and len(raw) > 40 and "\n" not in raw
    assert "shown only once" in err
    token = ApiToken.objects.get(user=world.tech)
    assert token.name == "monitoring bridge"
    assert (
        token.token_hash == hash_token(raw)
        and raw not in token.token_hash
        and token.hint == raw[-4:]
    )
    assert Api(raw_token=raw).get("/me").json()["username"] == "tech"
    assert AuditEvent.objects.filter(object_type="apitoken", action="created").exists()


def test_cli_list_and_revoke(world: World) -> None:
    raw = run("create", "portal@alfa.example")[0].strip()
    api = Api(raw_token=raw)
    assert api.get(f"/tickets/{world.ticket_a.number}").status_code == 200
    token = ApiToken.objects.get(user=world.portal_a)
    assert token.name == "cli"

    listing = run("list", "portal@alfa.example")[0]
    assert str(token.pk) in listing and "active" in listing and raw not in listing
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.localtime(token.last_used_at).strftime("%Y-%m-%d %H:%M") in listing

    out, _ = run("revoke", str(token.pk))
    assert "is revoked" in out
    assert api.get(f"/tickets/{world.ticket_a.number}").status_code == 401
    assert "revoked" in run("list", "portal@alfa.example")[0]
    assert "already" in run("revoke", str(token.pk))[0]


@pytest.mark.parametrize(
    "args",
    [
        ("create", "ghost"),
        ("list", "ghost"),
        ("revoke", "999999"),
        ("create", "tech", "--name", "x" * 101),
    ],
)
def test_cli_errors(world: World, args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        run(*args)


def test_cli_refuses_inactive_users(world: World) -> None:
    world.billing.is_active = False
    world.billing.save(update_fields=["is_active"])
    with pytest.raises(CommandError):
        run("create", "billing")


def test_last_used_is_stamped_at_most_once_a_minute(world: World) -> None:
    api = Api(world.tech)
    token = ApiToken.objects.get(user=world.tech)
    assert token.last_used_at is None
    api.get("/me")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=5))
    api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=5)


def test_revoked_token_is_rejected_at_once(world: World) -> None:
    api = Api(world.tech)
    assert api.get("/me").status_code == 200
    ApiToken.objects.filter(user=world.tech).update(revoked_at=timezone.now())
    r = api.get("/me")
    assert r.status_code == 401 and r.json()["detail"]


# --- the account page ---------------------------------------------------------------------


def test_account_page_creates_a_token_and_shows_it_once(world: World) -> None:
    browser = world.http(world.portal_a)
    r = browser.post("/account/tokens/", {"name": "my script"})
    assert r.status_code == 200
    token = ApiToken.objects.get(user=world.portal_a)
    raw = r.context["new_token"]["raw"]
    assert raw.encode() in r.content and token.token_hash == hash_token(raw)
    assert r["Cache-Control"] == "no-store"
    # The page shown afterwards lists the token but never its value again.
    page = browser.get("/account/")
    assert b"my script" in page.content and raw.encode() not in page.content
    # The portal user's token sees only their own client's tickets.
    api = Api(raw_token=raw)
    assert api.get(f"/tickets/{world.ticket_a.number}").status_code == 200
    assert api.get(f"/tickets/{world.ticket_b.number}").status_code == 404
    assert {t["number"] for t in api.get("/tickets").json()["items"]} == {world.ticket_a.number}


def test_account_page_lists_last_use_and_revokes(world: World) -> None:
    browser = world.http(world.tech)
    raw = browser.post("/account/tokens/", {"name": "ci"}).context["new_token"]["raw"]
    Api(raw_token=raw).get("/me")
    token = ApiToken.objects.get(user=world.tech)
    assert token.last_used_at is not None
    page = browser.get("/account/").content.decode()
    row = next(r for r in page.split("<tr>") if f"…{token.hint}" in r)
    assert "never" not in row and "active" in row
    r = browser.post(f"/account/tokens/{token.pk}/revoke/")
    assert r.status_code == 302
    assert Api(raw_token=raw).get("/me").status_code == 401


def test_token_form_errors(world: World) -> None:
    browser = world.http(world.tech)
    assert browser.post("/account/tokens/", {"name": ""}).status_code == 400
    assert browser.post("/account/tokens/", {"name": "x" * 101}).status_code == 400
    assert not ApiToken.objects.exists()


def test_nobody_revokes_someone_elses_token(world: World) -> None:
    raw = run("create", "tech")[0].strip()
    token = ApiToken.objects.get(user=world.tech)
    for user in (world.portal_a, world.readonly, world.admin):
        assert world.http(user).post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert Api(raw_token=raw).get("/me").status_code == 200


def test_revoke_needs_post(world: World) -> None:
    raw = run("create", "tech")[0].strip()
    token = ApiToken.objects.get(user=world.tech)
    assert world.http(world.tech).get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    assert world.http(world.tech).get("/account/tokens/").status_code == 405
    assert Api(raw_token=raw).get("/me").status_code == 200

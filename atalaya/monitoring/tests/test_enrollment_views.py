"""Enrollment token pages: create (raw token and enroll command shown once, not cached),
list with uses and expiry, revoke; staff only, writers only."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core.models import hash_token
from atalaya.monitoring.models import EnrollmentToken
from atalaya.monitoring.tests.helpers_ui import signing_key  # noqa: F401 - the fixture

LIST = reverse("monitoring:token_list")
NEW = reverse("monitoring:token_new")


def test_create_list_revoke(world: World) -> None:
    body = {
        "site": str(world.site_a.public_id),
        "name": "Office PCs",
        "valid_days": "7",
        "max_uses": "25",
    }
    for user in (world.portal_a, world.portal_b):
        assert world.http(user).get(LIST).status_code == 404
        assert world.http(user).post(NEW, body).status_code == 404
    assert world.http(world.readonly).post(NEW, body).status_code == 403
    tech = world.http(world.tech)
    form = tech.get(NEW, {"site": str(world.site_a.public_id)})
    assert form.status_code == 200 and "Alfa Asesores — HQ" in form.content.decode()
    created = tech.post(NEW, body)
    assert created.status_code == 200
    assert "no-cache" in created["Cache-Control"] or "no-store" in created["Cache-Control"]
    token = EnrollmentToken.objects.get()
    raw = created.context["raw"]
    assert token.token_hash == hash_token(raw) and token.max_uses == 25
    html = created.content.decode()
    server = settings.SITE_URL.rstrip("/")
    assert f"atalaya-agent enroll --server {server} --token {raw}" in html
    listing = tech.get(LIST).content.decode()
    assert "Office PCs" in listing and "0 / 25" in listing and raw not in listing
    revoke = reverse("monitoring:token_revoke", args=[token.public_id])
    assert world.http(world.readonly).post(revoke).status_code == 403
    assert world.http(world.portal_b).post(revoke).status_code == 404
    assert tech.get(revoke).status_code == 405
    assert tech.post(revoke).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in tech.get(LIST).content.decode()


def test_bad_token_input(world: World) -> None:
    tech = world.http(world.tech)
    body = {"site": str(world.site_a.public_id), "name": "x", "valid_days": "0", "max_uses": "1"}
    assert tech.post(NEW, body).status_code == 400
    assert tech.post(NEW, {**body, "valid_days": "3", "site": "nope"}).status_code == 400
    assert tech.post(NEW, {**body, "valid_days": "3", "name": ""}).status_code == 400
    assert not EnrollmentToken.objects.exists()

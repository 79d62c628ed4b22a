"""Portal test fixtures: uploads in a throw-away directory, English pages, a two-client contact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client as HttpClient

from atalaya.conftest import PASSWORD, World
from atalaya.core import services as core_services
from atalaya.core.models import Client, Contact, User


@pytest.fixture(autouse=True)
def media_root(settings: object, tmp_path: Path) -> Path:
    """Attachments of a test go to its own directory, never to var/media."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root  # type: ignore[attr-defined]
    return root


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: object) -> None:
    """Argon2 is deliberately slow; the world fixture hashes six passwords per test."""
    settings.PASSWORD_HASHERS = [  # type: ignore[attr-defined]
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]


@pytest.fixture
def english(world: World) -> World:
    """The world's portal users read English, so assertions can name the English text.

    Contacts default to Spanish; once a Spanish catalogue ships, assertions on English
    text would otherwise test the translation rather than the page.
    """
    User.objects.filter(pk__in=[world.portal_a.pk, world.portal_b.pk]).update(language="en")
    world.portal_a.refresh_from_db()
    world.portal_b.refresh_from_db()
    return world


@dataclass
class TwoClientContact:
    contact: Contact
    user: User
    client_c: Client

    def http(self) -> HttpClient:
        client = HttpClient()
        client.force_login(self.user)
        return client


@pytest.fixture
def two_client_contact(world: World) -> TwoClientContact:
    """A contact of client A and a third client C (never of B), with a portal login."""
    client_c = core_services.create_client(
        actor=None, name="Castro Consultores", mail_domains=["castro.example"]
    )
    core_services.add_site(actor=None, client=client_c, name="Main office")
    contact = core_services.create_contact(
        actor=None,
        clients=[world.client_a, client_c],
        name="Dora Dual",
        email="dora@castro.example",
        language="en",
    )
    user = core_services.create_portal_user(
        actor=None, contact=contact, username="dora@castro.example", password=PASSWORD
    )
    return TwoClientContact(contact=contact, user=user, client_c=client_c)

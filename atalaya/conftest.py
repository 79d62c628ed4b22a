"""Fixtures every test module shares: the three-user world of DESIGN.md and a ticket of each client.

``world`` holds: staff users (admin, tech, readonly, billing); client A and client B
with a site, a contact and a portal user each; one ticket per client.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client as HttpClient

from atalaya.core import services as core_services
from atalaya.core.models import Client, Contact, Site, User
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Ticket

PASSWORD = "correct-horse-battery-staple"


@dataclass
class World:
    admin: User
    tech: User
    readonly: User
    billing: User
    client_a: Client
    client_b: Client
    site_a: Site
    site_b: Site
    contact_a: Contact
    contact_b: Contact
    portal_a: User
    portal_b: User
    ticket_a: Ticket
    ticket_b: Ticket

    def http(self, user: User | None) -> HttpClient:
        client = HttpClient()
        if user is not None:
            client.force_login(user)
        return client


def make_client_with_portal(name: str, domain: str) -> tuple[Client, Site, Contact, User]:
    client = core_services.create_client(actor=None, name=name, mail_domains=[domain])
    site = core_services.add_site(actor=None, client=client, name="HQ")
    contact = core_services.create_contact(
        actor=None, clients=[client], name=f"Contact of {name}", email=f"ana@{domain}", site=site
    )
    portal = core_services.create_portal_user(
        actor=None, contact=contact, username=f"portal@{domain}", password=PASSWORD
    )
    return client, site, contact, portal


def _is_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    return bool(marker and marker.kwargs.get("transaction")) or any(
        name in fixtures for name in ("transactional_db", "live_server")
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Put back the rows migrations seed (queues, categories, SLA targets, the ticket counter).

    A transactional test ends by flushing every table. Django runs such tests last, but
    under xdist's per-file distribution other files may follow in the same worker and
    would find the install empty. This runs after every fixture's teardown, the flush
    included.
    """
    result = yield
    # After the session's last test the test database is already gone.
    if nextitem is not None and _is_transactional(item):
        from django.apps import apps

        defaults = importlib.import_module("atalaya.tickets.migrations.0003_defaults")
        with item.session.config.stash[_blocker_key].unblock():
            defaults.forward(apps, None)
    return result


_blocker_key = pytest.StashKey[Any]()


@pytest.fixture(autouse=True, scope="session")
def _remember_db_blocker(request: pytest.FixtureRequest, django_db_blocker: Any) -> None:
    request.config.stash[_blocker_key] = django_db_blocker


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.2 s a hash by design; tests that check Argon2 itself opt back in."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        # Still able to check Argon2 hashes written with the real settings (demo data).
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def jobs_run_inline() -> Iterator[None]:
    """Jobs run at once in tests instead of landing in the developer's var/ job store."""
    from huey.contrib.djhuey import HUEY

    previous, HUEY.immediate = HUEY.immediate, True
    yield
    HUEY.immediate = previous


@pytest.fixture
def world(db: None) -> World:
    staff = {
        role: core_services.create_staff_user(
            actor=None,
            username=role,
            password=PASSWORD,
            role=role if role != "tech" else "technician",
            first_name=role.title(),
        )
        for role in ("admin", "tech", "readonly", "billing")
    }
    client_a, site_a, contact_a, portal_a = make_client_with_portal("Alfa Asesores", "alfa.example")
    client_b, site_b, contact_b, portal_b = make_client_with_portal("Beta Bodegas", "beta.example")
    ticket_a = ticket_services.create_ticket(
        actor=staff["tech"],
        client=client_a,
        site=site_a,
        contact=contact_a,
        subject="VPN does not connect",
        body="Since this morning the VPN fails.",
    )
    ticket_b = ticket_services.create_ticket(
        actor=staff["tech"],
        client=client_b,
        site=site_b,
        contact=contact_b,
        subject="Printer jammed",
        body="The second floor printer is jammed.",
    )
    return World(
        admin=staff["admin"],
        tech=staff["tech"],
        readonly=staff["readonly"],
        billing=staff["billing"],
        client_a=client_a,
        client_b=client_b,
        site_a=site_a,
        site_b=site_b,
        contact_a=contact_a,
        contact_b=contact_b,
        portal_a=portal_a,
        portal_b=portal_b,
        ticket_a=ticket_a,
        ticket_b=ticket_b,
    )

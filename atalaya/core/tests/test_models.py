"""Core models: ``visible_to`` querysets fail closed, calendars validate, tokens resolve.

Isolation rests on these querysets; every one of them must answer "nothing" for a
user it does not recognise, whatever the reason.
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from atalaya.core import services as core_services
from atalaya.core.models import (
    ApiToken,
    AuditEvent,
    Client,
    Contact,
    MailDomain,
    Role,
    Site,
    User,
    clients_of,
    hash_token,
)
from atalaya.tickets.models import Ticket, TicketEvent


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SCOPED = {
    "client": (Client, lambda w: w.client_a),
    "site": (Site, lambda w: w.site_a),
    "contact": (Contact, lambda w: w.contact_a),
    "ticket": (Ticket, lambda w: w.ticket_a),
    "event": (TicketEvent, lambda w: TicketEvent.objects.filter(ticket=w.ticket_a).first()),
}


@pytest.mark.parametrize("model", SCOPED)
def test_each_client_scoped_queryset_fails_closed(world, model: str) -> None:
    cls, pick = SCOPED[model]
    obj = pick(world)

    def sees(user: object) -> bool:
        return cls.objects.visible_to(user).filter(pk=obj.pk).exists()

    assert sees(world.admin) and sees(world.readonly) and sees(world.billing)
    assert sees(world.portal_a)
    assert not sees(world.portal_b)
    assert not sees(AnonymousUser())
    assert not sees(None)
    assert not sees(object())
    world.tech.role = "intern"
    assert not sees(world.tech)
    world.readonly.is_active = False
    assert not sees(world.readonly)


def test_a_portal_role_without_contact_sees_nothing_and_cannot_be_saved(world) -> None:
    user = User(username="ghost", role=Role.PORTAL)
    assert not user.is_portal
    user.pk, user.is_active = 123456, True
    assert not Ticket.objects.visible_to(user).exists()
    assert not Client.objects.visible_to(user).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ghost", role=Role.PORTAL)


def test_role_properties(world) -> None:
    assert world.tech.can_write_tickets and world.admin.can_write_tickets
    assert not world.readonly.can_write_tickets and not world.billing.can_write_tickets
    assert not world.portal_a.can_write_tickets
    assert world.readonly.is_msp_staff and not world.portal_a.is_msp_staff
    assert world.portal_a.is_portal and not world.tech.is_portal
    assert world.admin.is_admin and not world.tech.is_admin
    world.admin.is_active = False
    assert not world.admin.is_admin and not world.admin.is_msp_staff


def test_clients_of_is_the_visible_clients(world) -> None:
    assert list(clients_of(world.portal_b)) == [world.client_b]
    assert set(clients_of(world.tech)) == {world.client_a, world.client_b}


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"working_days": ""}, "working_days"),
        ({"working_days": "12345678"}, "working_days"),
        ({"working_days": "mon"}, "working_days"),
        ({"workday_starts_at": time(18), "workday_ends_at": time(9)}, "workday_ends_at"),
        ({"workday_starts_at": time(9), "workday_ends_at": time(9)}, "workday_ends_at"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_client_calendar_is_validated(world, changes: dict, field: str) -> None:
    client = Client(name="Calendar Co", **changes)
    with pytest.raises(ValidationError) as exc:
        client.full_clean()
    assert field in exc.value.message_dict


def test_create_client_refuses_bad_calendars_and_saves_nothing(world) -> None:
    count = Client.objects.count()
    with pytest.raises(ValidationError):
        core_services.create_client(actor=None, name="Never Open", working_days="")
    assert Client.objects.count() == count


def test_mail_domains_are_stored_lowercase_and_unique(world) -> None:
    domain = MailDomain.objects.create(client=world.client_a, domain="  Alfa-Two.EXAMPLE ")
    assert domain.domain == "alfa-two.example"
    with pytest.raises(IntegrityError), transaction.atomic():
        MailDomain.objects.create(client=world.client_b, domain="ALFA-TWO.example")


# --- tokens -------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_resolve_to_their_user(world) -> None:
    token, raw = core_services.create_api_token(actor=world.tech, user=world.tech, name="cli")
    assert raw.startswith(ApiToken.PREFIX)
    assert token.token_hash == hash_token(raw) != raw
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.hint == raw[-4:]
    assert core_services.user_for_token(raw) == world.tech
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "raw", ["", "ata_", "ata_wrong", "Bearer ata_x", "x" * 500, "ata_" + "x" * 300, "\x00"]
)
def test_unknown_tokens_resolve_to_nobody(world, raw: str) -> None:
    core_services.create_api_token(actor=None, user=world.tech, name="real")
    assert core_services.user_for_token(raw) is None


def test_revoked_tokens_and_deactivated_users_resolve_to_nobody(world) -> None:
    token, raw = core_services.create_api_token(actor=None, user=world.portal_a, name="p")
    core_services.revoke_api_token(actor=world.portal_a, token=token)
    assert core_services.user_for_token(raw) is None
    _token, raw2 = core_services.create_api_token(actor=None, user=world.tech, name="t")
    world.tech.is_active = False
    world.tech.save(update_fields=["is_active"])
    assert core_services.user_for_token(raw2) is None


def test_only_admins_issue_tokens_for_others(world) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        core_services.create_api_token(actor=world.portal_b, user=world.portal_a, name="steal")
    with pytest.raises(PermissionDenied):
        core_services.create_api_token(actor=world.tech, user=world.admin, name="steal")
    token, _raw = core_services.create_api_token(
        actor=world.portal_a, user=world.portal_a, name="x"
    )
    with pytest.raises(PermissionDenied):
        core_services.revoke_api_token(actor=world.portal_b, token=token)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_last_used_is_throttled(world) -> None:
    token, raw = core_services.create_api_token(actor=None, user=world.tech, name="busy")
    core_services.user_for_token(raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    core_services.user_for_token(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    core_services.user_for_token(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - timedelta(minutes=5)


def test_audit_events_name_the_object_by_its_public_id(world) -> None:
    event = AuditEvent.objects.get(object_type="client", action="created", client=world.client_a)
    assert event.object_id == str(world.client_a.public_id)

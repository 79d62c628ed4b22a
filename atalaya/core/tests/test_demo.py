"""Demo data: deterministic, realistic, idempotent, and row for row what the services write."""

from __future__ import annotations

import json
import re
import zoneinfo
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.core.management.color import no_style
from django.db import connection, models, transaction

from atalaya.core import services as core_services
from atalaya.core.demo import build_plan, demo_logins, is_loaded, load_demo
from atalaya.core.demo.plan import surge_level
from atalaya.core.demo.texts import SCENARIOS
from atalaya.core.holidays import easter_sunday, spanish_national_holidays
from atalaya.core.models import Client, Contact, Holiday, Role, User
from atalaya.tickets import search
from atalaya.tickets.models import (
    DONE_STATUSES,
    EventKind,
    SearchDocument,
    Status,
    Ticket,
    TicketEvent,
    TimeEntry,
)

NOW = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
TARGETS = {"urgent": (30, 240), "high": (60, 480), "normal": (240, 1620), "low": (540, 5400)}


@pytest.fixture(scope="module")
def full_plan() -> Any:
    return build_plan(now=NOW, targets=TARGETS)


def test_plan_is_deterministic_for_a_seed() -> None:
    one = build_plan(seed=7, now=NOW, tickets=150, targets=TARGETS)
    two = build_plan(seed=7, now=NOW, tickets=150, targets=TARGETS)
    other = build_plan(seed=8, now=NOW, tickets=150, targets=TARGETS)
    assert one == two
    assert [t.subject for t in one.tickets] != [t.subject for t in other.tickets]


def test_plan_has_the_people_the_readme_promises(full_plan: Any) -> None:
    assert len(full_plan.clients) == 12
    assert 55 <= len(full_plan.contacts) <= 65
    assert sum(len(c.clients) == 2 for c in full_plan.contacts) >= 3
    assert {c.language for c in full_plan.contacts} == {"es", "en"}
    domains = [c.spec.domain for c in full_plan.clients]
    assert all(d.endswith(".example") for d in domains) and len(set(domains)) == 12
    assert all(1 <= len(c.spec.sites) <= 3 for c in full_plan.clients)
    portal = [c.portal_username for c in full_plan.contacts if c.portal_username]
    assert sorted(portal) == sorted(f"portal@{d}" for d in domains)


def test_plan_tickets_are_realistic(full_plan: Any) -> None:
    tickets = full_plan.tickets
    assert 1950 <= len(tickets) <= 2100
    assert all(NOW - timedelta(days=91) < t.created_at < NOW for t in tickets)
    # Steps of a ticket happen in order, after its creation and before now.
    last: dict[int, datetime] = {}
    for step in full_plan.steps:
        assert step.at < NOW
        assert step.at >= last.get(step.ticket, step.at)
        last[step.ticket] = step.at

    # The surge: several times more remote-access and security tickets a day in the last
    # three weeks than before, and a bigger share of all tickets.
    def per_day(selected: list[Any], days: int) -> float:
        return sum(t.category in ("remote-access", "security") for t in selected) / days

    def share(selected: list[Any]) -> float:
        return per_day(selected, 1) / len(selected)

    recent = [t for t in tickets if NOW - t.created_at < timedelta(days=21)]
    before = [t for t in tickets if timedelta(days=35) < NOW - t.created_at < timedelta(days=90)]
    assert per_day(recent, 21) > 4 * per_day(before, 55)
    assert share(recent) > 2 * share(before)
    assert surge_level(40) == 0 and surge_level(5) == 1
    # Subjects are in the contact's language.
    contacts = {c.key: c for c in full_plan.contacts}
    spanish = {s.subject_es for options in SCENARIOS.values() for s in options}
    for ticket in tickets[:300]:
        is_spanish = any(ticket.subject.startswith(s.split("{")[0]) for s in spanish)
        assert is_spanish == (contacts[ticket.contact].language == "es"), ticket.subject


def test_spanish_national_holidays() -> None:
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2024) == date(2024, 3, 31)
    days = dict(spanish_national_holidays(2026))
    assert days[date(2026, 4, 3)] == "Viernes Santo"
    assert date(2026, 10, 12) in days and date(2026, 12, 8) in days and len(days) == 10


# Volatile values that legitimately differ between two loads of the same plan.
VOLATILE = {
    ("core", "user", "password"),
    ("core", "user", "date_joined"),
    ("core", "auditevent", "at"),
    ("core", "auditevent", "object_id"),
    # Random by design: a Message-ID must not be guessable.
    ("mail", "outboundmessage", "message_id"),
    # Names row ids, which PostgreSQL sequences do not give back on rollback.
    ("mail", "outboundmessage", "idempotency_key"),
    # Written at load time, not at a moment of the plan.
    ("mail", "mailbox", "created_at"),
    ("comms", "announcement", "created_at"),
    ("comms", "announcement", "claimed_at"),
    # Monitoring: secrets are random by design, enrollment tokens are issued at load time.
    ("monitoring", "device", "token_hash"),
    ("monitoring", "device", "token_hint"),
    ("monitoring", "enrollmenttoken", "token_hash"),
    ("monitoring", "enrollmenttoken", "hint"),
    ("monitoring", "enrollmenttoken", "created_at"),
    ("monitoring", "remoteaction", "nonce"),
    ("monitoring", "remoteaction", "envelope"),
    ("monitoring", "remoteaction", "signature"),
    # Billing: SEPA message and end-to-end ids are random by design (unique at the bank).
    ("billing", "collectionbatch", "message_id"),
    ("billing", "collectionbatch", "xml"),
    ("billing", "collection", "end_to_end_id"),
    # Awareness links carry a random token (stored hashed), masked in mail bodies below.
    ("security", "awarenessdelivery", "token_hash"),
}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the project's tables, with ids replaced by their rank, for comparison."""
    project = [m for m in apps.get_models() if m.__module__.startswith("atalaya.")]
    ranks: dict[type[models.Model], dict[Any, int]] = {}
    for model in project:
        pks = sorted(model._base_manager.values_list("pk", flat=True))
        ranks[model] = {pk: n for n, pk in enumerate(pks)}
    time_entries = ranks[TimeEntry]
    tables = {}
    for model in project:
        meta = model._meta
        fields = [
            f
            for f in meta.concrete_fields
            if not isinstance(f, models.UUIDField)
            and (meta.app_label, meta.model_name, f.name) not in VOLATILE
        ]
        rows = []
        for obj in model._base_manager.order_by("pk"):
            row = []
            for f in fields:
                value = getattr(obj, f.attname)
                if f.is_relation and value is not None:
                    value = ("ref", ranks[f.related_model].get(value))
                elif f.primary_key:
                    value = ("pk", ranks[model][value])
                elif model is TicketEvent and f.name == "data" and "time_entry" in value:
                    value = {**value, "time_entry": time_entries[value["time_entry"]]}
                elif isinstance(value, str) and "/security/awareness/" in value:
                    value = AWARENESS_LINK.sub("<token>", value)
                elif isinstance(f, models.JSONField):
                    # Public ids are random like the UUID fields left out above.
                    value = json.loads(UUID_TEXT.sub("<uuid>", json.dumps(value)))
                row.append(value)
            rows.append(tuple(row))
        tables[meta.label] = rows
    return tables


AWARENESS_LINK = re.compile(r"(?<=/security/awareness/)([a-z-]+)/[A-Za-z0-9_-]+")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Rollback(Exception):
    pass


def reset_sequences() -> None:
    """PostgreSQL's sequences neither roll back nor start where an earlier test left them:
    set them from the (empty) tables, so each load gets the same ids (audit trails quote
    some ids, e.g. an agreement's series and mandate). SQLite needs nothing."""
    project = [m for m in apps.get_models() if m.__module__.startswith("atalaya.")]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), project):
            cursor.execute(sql)


def load_and_snapshot(**kwargs: Any) -> dict[str, list[tuple[Any, ...]]]:
    # The clock stands still: what the demo writes "now" (billing's records, the tickets
    # a returned debit opens) carries the same time in both loads.
    reset_sequences()
    try:
        with time_machine.travel(NOW, tick=False), transaction.atomic():
            load_demo(seed=11, tickets=60, now=NOW, **kwargs)
            taken = snapshot()
            raise Rollback
    except Rollback:
        return taken


@pytest.mark.django_db
def test_bulk_replay_writes_exactly_what_the_services_write() -> None:
    via_services = load_and_snapshot(via_services=True)
    bulk = load_and_snapshot()
    assert len(via_services["tickets.Ticket"]) >= 60
    assert len(via_services["tickets.TicketEvent"]) > 300
    for table in via_services:
        assert bulk[table] == via_services[table], table


@pytest.mark.django_db
def test_demo_command_loads_once_and_prints_the_logins(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo", "--tickets", "120")
    out = capsys.readouterr().out
    assert "admin" in out and "tecnico3" in out and "portal@vinaalta.example" in out
    assert "only in demo data" in out
    counts = {m: m._base_manager.count() for m in (Ticket, TicketEvent, TimeEntry, User, Client)}
    assert counts[Ticket] >= 120 and counts[Client] == 12
    call_command("demo", "--tickets", "120")
    assert "already loaded" in capsys.readouterr().out
    call_command("demo", "--if-empty")
    assert {m: m._base_manager.count() for m in counts} == counts


@pytest.mark.django_db
def test_demo_data_works_like_real_data() -> None:
    # The clock stands at NOW, as in a real load: what the demo writes "now" (the ticket
    # a returned debit opens) must not land at the hour the suite happens to run.
    with time_machine.travel(NOW, tick=False):
        load_demo(tickets=150, now=NOW)
    assert is_loaded()
    admin = User.objects.get(username="admin")
    assert admin.role == Role.ADMIN and admin.check_password("admin")
    for n in (1, 2, 3):
        tech = User.objects.get(username=f"tecnico{n}")
        assert tech.role == Role.TECHNICIAN and tech.check_password("demo")
    portal = User.objects.get(username="portal@brightwater.example")
    assert portal.role == Role.PORTAL and portal.check_password("demo")
    assert portal.contact.memberships.get().client.name == "Brightwater International School"
    assert Contact.objects.filter(memberships__isnull=False).distinct().count() >= 55
    shared = [c for c in Contact.objects.all() if c.memberships.count() == 2]
    assert len(shared) >= 3
    assert Holiday.objects.filter(date=date(2026, 10, 12)).count() == 12
    assert len(demo_logins()) == 16
    # Validators are back on once the loader is done: "demo" is not a password a person may choose.
    assert settings.AUTH_PASSWORD_VALIDATORS
    with pytest.raises(ValidationError):
        password_validation.validate_password("demo")
    # Consistent with the services: statuses, clocks, search text, timeline.
    tickets = list(Ticket.objects.all())
    assert {t.status for t in tickets} >= {Status.CLOSED, Status.RESOLVED}
    for ticket in tickets:
        assert ticket.first_response_due_at is not None and ticket.resolution_due_at is not None
        assert (ticket.closed_at is not None) == (ticket.status == Status.CLOSED)
        assert (ticket.resolved_at is not None) == (ticket.status in DONE_STATUSES)
        assert ticket.updated_at >= ticket.created_at
    assert SearchDocument.objects.count() == len(tickets)
    created = TicketEvent.objects.filter(kind=EventKind.CREATED).count()
    assert created == len(tickets)
    status_events = TicketEvent.objects.filter(kind=EventKind.STATUS)
    assert all(len(e.changes["status"]) == 2 for e in status_events)
    last_status = {}
    for event in status_events.order_by("created_at", "id"):
        last_status[event.ticket_id] = event.changes["status"][1]
    assert all(Ticket.objects.get(pk=pk).status == status for pk, status in last_status.items())
    found = search.filter_tickets(Ticket.objects.all(), "vpn")
    assert found.exists() and found.count() < len(tickets)
    # Old tickets are done; the open ones are recent.
    old = [t for t in tickets if NOW - t.created_at > timedelta(days=30)]
    assert sum(t.status in DONE_STATUSES for t in old) >= 0.95 * len(old)
    madrid = zoneinfo.ZoneInfo("Europe/Madrid")
    assert all(t.created_at.astimezone(madrid).hour in range(6, 22) for t in tickets)
    categories = Counter(t.category.slug for t in Ticket.objects.select_related("category"))
    # Monitoring alerts open their tickets in the "monitoring" category.
    # Alerts open "monitoring" tickets, a returned direct debit a "billing" one.
    assert set(categories) - {"monitoring", "billing"} <= set(SCENARIOS) and len(categories) >= 8
    assert_demo_monitoring()
    assert_demo_billing()


def assert_demo_billing() -> None:
    """Issued invoices numbered without gaps, drafts to review, and both sides of humane
    reminders: overdue invoices to propose and ones the run must leave alone."""
    from atalaya.billing import balance
    from atalaya.billing.models import Collection, Invoice, ReminderPause
    from atalaya.billing.services.reminders import explain

    issued = Invoice.objects.filter(status="issued", kind="invoice").order_by("number")
    numbers = [i.number for i in issued]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 20
    assert all(i.total == i.net_total + i.vat_total and i.total > 0 for i in issued)
    assert Invoice.objects.filter(status="draft").count() == len(numbers) // 2
    assert Collection.objects.filter(status="returned", return_reason="AM04").count() == 1
    assert ReminderPause.objects.filter(client__isnull=False).count() == 1
    disputed = issued.filter(is_disputed=True).get()
    assert "disputed" in {r.code for r in explain(disputed, NOW)}
    # Transfers came in through the demo's bank statement, reconciled by invoice number.
    paid = [i for i in issued if balance.open_balance(i) == 0]
    assert len(paid) >= len(numbers) // 2
    assert all("proposed" not in {r.code for r in explain(i, NOW)} for i in paid)


def assert_demo_monitoring() -> None:
    """A few devices per client, one disk full in about 3 days with its alert and ticket."""
    from atalaya.monitoring.display import volume_forecast
    from atalaya.monitoring.models import Alert, Device, EnrollmentToken, Script, Volume

    per_client = Counter(Device.objects.values_list("client_id", flat=True))
    assert len(per_client) == 12 and all(2 <= n <= 5 for n in per_client.values())
    filling = [v for v in Volume.objects.all() if volume_forecast(v, NOW).state == "full_soon"]
    assert [volume_forecast(v, NOW).text for v in filling] == ["Full in about 3 days"]
    alert = Alert.objects.get(kind="disk_forecast", resolved_at__isnull=True)
    assert alert.ticket is not None and alert.ticket.category.slug == "monitoring"
    assert sorted(
        Script.objects.filter(approved_at__isnull=False).values_list("name", flat=True)
    ) == [
        "Clear temporary files",
        "Flush DNS cache",
        "Restart print spooler",
    ]
    assert sum(t.is_usable(NOW) for t in EnrollmentToken.objects.all()) == 1


@pytest.mark.django_db
def test_if_empty_leaves_a_database_with_clients_alone(capsys: pytest.CaptureFixture[str]) -> None:
    core_services.create_client(actor=None, name="Cliente Real", mail_domains=["real.example"])
    call_command("demo", "--if-empty")
    assert "already has clients" in capsys.readouterr().out
    assert not Ticket.objects.exists() and not User.objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_demo_refuses_to_mix_with_real_accounts() -> None:
    core_services.create_staff_user(actor=None, username="admin", password="x" * 20, role="admin")
    with pytest.raises(CommandError, match="admin"):
        call_command("demo", "--tickets", "10")
    assert not Client.objects.exists()

"""The isolation test of DESIGN.md: every route, as another client's user, answers 404.

The routes are read from the URL resolver when the tests are collected, so a route
added anywhere (UI, portal, API) is walked without touching this file, each as its own
test id. Path parameters are filled from ``SAMPLES``: client A's identifiers by
parameter name. A route whose parameter is not there fails and says what to add.

For each route, client B's portal user (a session for the UI, a bearer token for
/api/v1) sends GET and POST (and the API's other declared methods):

* routes with object parameters must answer 404, exactly as they answer for an id that
  does not exist (405 only where the route does not take the method at all; a 401,
  403 or redirect only if it is the very same answer a missing id gets);
* no route may show client A's names or texts, and no request may change A's data.

An anonymous visitor must be sent to the sign-in page (401 on the API), except on the
few public routes in ``PUBLIC_ROUTES``, which must still show nothing of client A.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from atalaya.core import services as core_services
from atalaya.core.models import ApiToken, AuditEvent, Client, Contact, Holiday, MailDomain, Site
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import (
    Attachment,
    SavedView,
    SearchDocument,
    Ticket,
    TicketEvent,
    TicketLink,
    TimeEntry,
)

API_PREFIX = "api/v1/"
# The agent API: device tokens only; without one a route answers 401, never a sign-in page.
AGENT_PREFIX = "agent/v1/"

# Routes anyone may open: they must still show nothing of any client.
PUBLIC_ROUTES = {
    "login/",
    "login/totp/",
    "logout/",
    "api/v1/",
    "api/v1/openapi.json",
    "api/v1/docs",
    # An agent enrolls with an enrollment token in the body, not an account.
    "agent/v1/",
    "agent/v1/enroll",
    "agent/v1/openapi.json",
    # Awareness tip links: the token in the mail is the credential; GET only confirms.
    "security/awareness/ack/<str:token>/",
    "security/awareness/opt-out/<str:token>/",
    # The MSP's public news: announcements marked public, for anyone (client A's
    # sample announcement is not public, so its page is a 404 here too).
    "news/",
    "news/<uuid:announcement_id>/",
    "news/feed/en.atom",
    "news/feed/es.atom",
    # Phone systems ring in with a signature (or token) of their own, not an account.
    "hooks/calls/<str:phone_system_id>/ring/",
}

# Words that only client A's data contains; none may reach client B or a stranger.
A_MARKERS = ("alfa asesores", "alfa.example", "vpn does not connect", "alfa-secret")


@dataclass
class AWorld:
    """Client A's objects that routes can name, plus B's and the admin's credentials."""

    world: Any
    attachment: Attachment
    event: TicketEvent
    time_entry: TimeEntry
    saved_view: SavedView
    token: ApiToken
    holiday: Holiday
    mail_domain: MailDomain
    b_token: str
    admin_token: str
    extra: dict[str, Any] = field(default_factory=dict)


# Parameter name → client A's value. A key "segment/name" applies when the literal path
# segment before the parameter is ``segment`` (``clients/<public_id>``): it wins over
# the bare name. Add a sample here when you add a route with a new parameter.
SAMPLES: dict[str, Callable[[AWorld], Any]] = {
    "number": lambda a: a.world.ticket_a.number,
    "ticket_number": lambda a: a.world.ticket_a.number,
    "tickets/public_id": lambda a: a.world.ticket_a.number,
    "clients/public_id": lambda a: a.world.client_a.public_id,
    "client_id": lambda a: a.world.client_a.public_id,
    "client_public_id": lambda a: a.world.client_a.public_id,
    "sites/public_id": lambda a: a.world.site_a.public_id,
    "site_id": lambda a: a.world.site_a.public_id,
    "contacts/public_id": lambda a: a.world.contact_a.public_id,
    "contact_id": lambda a: a.world.contact_a.public_id,
    "attachment_id": lambda a: a.attachment.pk,
    "attachments/id": lambda a: a.attachment.pk,
    "event_id": lambda a: a.event.pk,
    "events/id": lambda a: a.event.pk,
    "time_entry_id": lambda a: a.time_entry.pk,
    "entry_id": lambda a: a.time_entry.pk,
    "time/id": lambda a: a.time_entry.pk,
    "view_id": lambda a: a.saved_view.pk,
    "saved_view_id": lambda a: a.saved_view.pk,
    "views/id": lambda a: a.saved_view.pk,
    "token_id": lambda a: a.token.pk,
    "tokens/id": lambda a: a.token.pk,
    "holiday_id": lambda a: a.holiday.pk,
    "holidays/id": lambda a: a.holiday.pk,
    "domain_id": lambda a: a.mail_domain.pk,
    "mail_domain_id": lambda a: a.mail_domain.pk,
    "domains/id": lambda a: a.mail_domain.pk,
    "user_id": lambda a: a.world.portal_a.pk,
    "username": lambda a: a.world.portal_a.username,
    "mailbox_id": lambda a: _a_mailbox().pk,
    "outbound_id": lambda a: _an_outbound_mail(a).pk,
    "template_key": lambda a: "reply",
    "language": lambda a: "en",
    "inbound_id": lambda a: _a_received_mail(a).pk,
    "announcement_id": lambda a: _an_announcement_to_a(a).public_id,
    "device_id": lambda a: _a_device(a).public_id,
    "action_id": lambda a: _an_action_on_a(a).public_id,
    "script_id": lambda a: _a_script(a).public_id,
    "enrollment_token_id": lambda a: _an_enrollment_token_of_a(a).public_id,
    "alert_id": lambda a: _an_alert_of_a(a).public_id,
    "window_id": lambda a: _a_window_of_a(a).public_id,
    "check_id": lambda a: _a_check_of_a(a).pk,
    "product_id": lambda a: _an_agreement_of_a(a).lines.first().product.public_id,
    "agreement_id": lambda a: _an_agreement_of_a(a).public_id,
    "agreement_line_id": lambda a: _an_agreement_of_a(a).lines.first().pk,
    "invoice_id": lambda a: _an_invoice_of_a(a).public_id,
    "line_id": lambda a: _an_invoice_of_a(a).lines.first().pk,
    "payment_id": lambda a: _payments_of_a(a)["payment"].public_id,
    "mandate_id": lambda a: _payments_of_a(a)["mandate"].public_id,
    "collection_id": lambda a: _payments_of_a(a)["collection"].public_id,
    "batch_id": lambda a: _payments_of_a(a)["batch"].public_id,
    "statement_id": lambda a: _payments_of_a(a)["entry"].statement.public_id,
    "bank_entry_id": lambda a: _payments_of_a(a)["entry"].pk,
    "run_id": lambda a: _a_reminder_item_of_a(a).run.public_id,
    "item_id": lambda a: _a_reminder_item_of_a(a).pk,
    "pause_id": lambda a: _a_reminder_pause_of_a(a).pk,
    "fix_id": lambda a: _a_temporary_fix_of_a(a).public_id,
    "finding_id": lambda a: _a_finding_of_a(a).public_id,
    "scan_id": lambda a: _a_finding_of_a(a).last_scan.public_id,
    "token": lambda a: _an_awareness_token_of_a(a),
}


def _samples_of_apps() -> dict[str, Callable[[AWorld], Any]]:
    """Samples an app keeps beside its own tests (``<app>/tests/isolation_samples.py``).

    Each such module defines ``SAMPLES`` like the one above; its functions take the same
    AWorld and make client A's object through the app's services.
    """
    import importlib

    from django.apps import apps

    found: dict[str, Callable[[AWorld], Any]] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("atalaya."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.tests.isolation_samples")
        except ModuleNotFoundError as missing:
            if missing.name != f"{config.name}.tests.isolation_samples":
                raise
            continue
        found.update(module.SAMPLES)
    return found


SAMPLES.update(_samples_of_apps())


def _an_awareness_token_of_a(a: AWorld) -> str:
    """The link token of a tip mailed to client A's contact, already acknowledged and opted
    out (so a stranger's POST has nothing left to change), made through the services."""
    import re

    from django.utils import timezone

    from atalaya.security import awareness

    if "awareness_token" in a.extra:
        return str(a.extra["awareness_token"])
    campaign = awareness.create_campaign(
        actor=None,
        client=a.world.client_a,
        name="alfa-secret tips",
        starts_on=timezone.localdate(),
    )
    tip = awareness.ensure_builtin_tips()[0]
    delivery = awareness.deliver_tip(campaign, tip, a.world.contact_a, now=timezone.now())
    assert delivery is not None and delivery.outbound is not None
    found = re.search(r"/awareness/ack/([A-Za-z0-9_-]+)/", delivery.outbound.body_text)
    assert found
    awareness.acknowledge(delivery)
    awareness.opt_out(delivery)
    a.extra["awareness_token"] = found.group(1)
    return found.group(1)


def _a_finding_of_a(a: AWorld) -> Any:
    """A finding of client A's site from an imported nmap scan (through the services)."""
    from atalaya.security.models import Finding
    from atalaya.security.scans.ingest import import_nmap

    found = Finding.objects.filter(client=a.world.client_a).first()
    if found is not None:
        return found
    xml = (
        b'<nmaprun><host><status state="up"/><address addr="10.9.9.9" addrtype="ipv4"/>'
        b'<hostnames><hostname name="alfa-secret"/></hostnames><ports>'
        b'<port protocol="tcp" portid="23"><state state="open"/></port></ports></host></nmaprun>'
    )
    import_nmap(site=a.world.site_a, data=xml, name="alfa-secret.xml")
    return Finding.objects.filter(client=a.world.client_a).first()


def _a_temporary_fix_of_a(a: AWorld) -> Any:
    """An open temporary fix of client A (register entries are MSP staff only)."""
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.security.models import TemporaryFix

    found = TemporaryFix.objects.filter(client=a.world.client_a).first()
    return found or TemporaryFix.objects.create(
        client=a.world.client_a,
        title="alfa-secret RDP opened",
        reason="alfa-secret",
        owner=a.world.admin,
        revert_by=timezone.localdate() + timedelta(days=10),
    )


def _a_reminder_item_of_a(a: AWorld) -> Any:
    """A proposed reminder to client A in a run (runs span clients: MSP staff only)."""
    from atalaya.billing.models import ReminderItem, ReminderRun

    found = ReminderItem.objects.filter(client=a.world.client_a).select_related("run").first()
    if found:
        return found
    invoice = _an_invoice_of_a(a)
    return ReminderItem.objects.create(
        run=ReminderRun.objects.create(),
        client=a.world.client_a,
        invoice=invoice,
        step=1,
        kind="friendly",
        channel="email",
        open_balance=invoice.total,
        fingerprint="0" * 64,
        to_address="ana@alfa.example",
        subject="alfa-secret reminder",
        body="alfa-secret",
    )


def _a_reminder_pause_of_a(a: AWorld) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.billing.models import ReminderPause

    found = ReminderPause.objects.filter(client=a.world.client_a).first()
    return found or ReminderPause.objects.create(
        client=a.world.client_a,
        reason="alfa-secret pause",
        expires_at=timezone.now() + timedelta(days=3),
    )


def _an_agreement_of_a(a: AWorld) -> Any:
    """An agreement of client A (its name carries the marker) with one line of a product.

    Made directly, not through the services: it may first be asked for while a request
    body is filled in, after the snapshot of A's state, so it must not write audit rows.
    """
    from datetime import date
    from decimal import Decimal

    from atalaya.billing.models import Agreement, AgreementLine, Product
    from atalaya.billing.tests.factories import series

    found = Agreement.objects.filter(client=a.world.client_a, name="alfa-secret").first()
    if found:
        return found
    product = Product.objects.create(
        code="alfa-secret-fee",
        name_en="alfa-secret fee",
        name_es="alfa-secret cuota",
        unit="fixed",
        unit_price=Decimal(10),
    )
    agreement = Agreement.objects.create(
        client=a.world.client_a,
        name="alfa-secret",
        starts_on=date(2026, 1, 1),
        billed_until=date(2026, 1, 1),
        series=series(),
    )
    AgreementLine.objects.create(agreement=agreement, product=product)
    return agreement


def _payments_of_a(a: AWorld) -> Any:
    """Client A's payment, mandate, direct debit, batch and matched bank entry."""
    from atalaya.billing.tests.payments_fixtures import payments_world_of

    return payments_world_of(a.world.client_a)


def _an_invoice_of_a(a: AWorld) -> Any:
    """An issued invoice of client A (a line carries the marker), by the real service."""
    from atalaya.billing.models import Invoice
    from atalaya.billing.tests.factories import issued_invoice

    found = Invoice.objects.filter(
        client=a.world.client_a, lines__description="alfa-secret"
    ).first()
    return found or issued_invoice(a.world.client_a, [("alfa-secret", "1", "10.00", "21")])


def _an_alert_of_a(a: AWorld) -> Any:
    """An open alert (with its ticket) on client A's device."""
    from atalaya.monitoring import alerts

    return alerts.raise_or_update(
        device=_a_device(a),
        kind="disk",
        target="/",
        severity="warning",
        message="alfa-secret disk full",
        suppressed_reason="",
    )


def _a_window_of_a(a: AWorld) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.monitoring import maintenance

    now = timezone.now()
    return maintenance.create_window(
        actor=None,
        client=a.world.client_a,
        name="alfa-secret window",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )


def _a_check_of_a(a: AWorld) -> Any:
    from atalaya.monitoring import checks

    return checks.save_check(actor=None, client=a.world.client_a, kind="disk", target="/alfa")


def _a_device(a: AWorld) -> Any:
    """A monitored machine of client A (its hostname carries the marker)."""
    from atalaya.monitoring.models import Device

    found = Device.objects.filter(hostname="alfa-secret-pc").first()
    return found or Device.objects.create(
        client=a.world.client_a,
        site=a.world.site_a,
        hostname="alfa-secret-pc",
        token_hash="a" * 64,
        token_hint="aaaa",
    )


def _a_script(a: AWorld) -> Any:
    """An approved script of the library (MSP staff only, like every monitoring page)."""
    from atalaya.monitoring import actions
    from atalaya.monitoring.models import Script

    found = Script.objects.filter(name="Isolation probe").first()
    if found is None:
        found = actions.create_script(
            actor=a.world.admin, name="Isolation probe", interpreter="sh", body="echo alfa-secret"
        )
        actions.approve_script(actor=a.world.admin, script=found)
    return found


def _an_action_on_a(a: AWorld) -> Any:
    """A reboot queued for client A's device."""
    from atalaya.monitoring import actions
    from atalaya.monitoring.models import RemoteAction

    found = RemoteAction.objects.filter(device=_a_device(a)).first()
    return found or actions.queue_action(actor=a.world.admin, device=_a_device(a), kind="reboot")


def _an_enrollment_token_of_a(a: AWorld) -> Any:
    """An enrollment token for client A's site."""
    from datetime import timedelta

    from django.utils import timezone

    from atalaya.monitoring import enrollment
    from atalaya.monitoring.models import EnrollmentToken

    found = EnrollmentToken.objects.filter(site=a.world.site_a).first()
    if found is None:
        expires_at = timezone.now() + timedelta(days=1)
        found, _raw = enrollment.create_enrollment_token(
            actor=None, site=a.world.site_a, name="alfa-secret token", expires_at=expires_at
        )
    return found


def _an_announcement_to_a(a: AWorld) -> Any:
    """An announcement sent to client A only: its banner and page are A's alone."""
    from atalaya.comms import services as comms_services
    from atalaya.comms.models import Announcement

    found = Announcement.objects.filter(subject_en="alfa-secret news").first()
    if found is not None:
        return found
    announcement = comms_services.create_announcement(
        actor=None,
        subject_en="alfa-secret news",
        subject_es="alfa-secret noticias",
        body_en="alfa-secret",
        body_es="alfa-secret",
        audience="clients",
        clients=[a.world.client_a],
    )
    comms_services.send_announcement(actor=None, announcement=announcement)
    return announcement


def _a_received_mail(a: AWorld) -> Any:
    """A mail client A's contact sent in (a reply on ticket A, through the pipeline)."""
    from atalaya.mail.inbound import ingest
    from atalaya.mail.models import InboundMessage

    raw = (
        "From: Ana <ana@alfa.example>\r\nTo: support@atalaya.localhost\r\n"
        f"Subject: Re: alfa-secret [#{a.world.ticket_a.number}]\r\n"
        "Message-ID: <isolation-probe@alfa.example>\r\n\r\nalfa-secret mail\r\n"
    ).encode()
    result = ingest(raw)
    return InboundMessage.objects.get(pk=result.inbound_id)


def _a_mailbox() -> Any:
    """A mailbox (the MSP's own, not a client's): only administrators may reach it."""
    from atalaya.mail.models import Mailbox

    return Mailbox.objects.get_or_create(address="isolation-probe@atalaya.localhost")[0]


def _an_outbound_mail(a: AWorld) -> Any:
    """Client A's outgoing mail (the technician's reply in a_world notified contact A)."""
    from atalaya.mail.models import OutboundMessage
    from atalaya.mail.outbox import queue_mail

    found = OutboundMessage.objects.filter(client=a.world.client_a).first()
    return found or queue_mail(
        key="isolation-probe",
        kind="reply",
        client=a.world.client_a,
        to_address="ana@alfa.example",
        subject="alfa-secret mail",
        body_text="alfa-secret",
    )


MISSING_INT = 987_654_321
MISSING_UUID = uuid.UUID("00000000-0000-4000-8000-00000000dead")


def missing_like(value: Any) -> Any:
    """An identifier of the same shape as ``value`` that names nothing."""
    if isinstance(value, int):
        return MISSING_INT
    if isinstance(value, uuid.UUID):
        return MISSING_UUID
    return "no-such-thing-x9"


# --- the routes -------------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern as a path template: "tickets/<int:number>/reply/"."""

    template: str
    name: str

    @property
    def is_api(self) -> bool:
        return self.template.startswith(API_PREFIX)

    @property
    def params(self) -> list[tuple[str, str]]:
        """(lookup key, parameter name) for each parameter, keyed by segment when known."""
        found = []
        for match in _PARAM.finditer(self.template):
            before = self.template[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            name = match.group("name")
            key = f"{before}/{name}" if f"{before}/{name}" in SAMPLES else name
            found.append((key, name))
        return found

    def fill(self, values: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            return str(values[match.group("name")])

        return "/" + _PARAM.sub(one, self.template)


def _regex_to_template(regex: str) -> str:
    """A simple re_path regex as a template; anything fancy fails the walk loudly."""
    template = regex.lstrip("^").rstrip("$").replace("\\.", ".").replace("\\/", "/")
    template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", template)
    if re.search(r"[()\[\]*+?|\\]", template):
        raise AssertionError(f"cannot turn the regex route {regex!r} into a path to walk")
    return template


def walk(patterns: list[Any], prefix: str = "") -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern.pattern, RoutePattern):
            part = str(pattern.pattern)
        elif isinstance(pattern.pattern, RegexPattern):
            part = _regex_to_template(pattern.pattern.regex.pattern)
        else:  # pragma: no cover - a new pattern class
            raise AssertionError(f"unknown URL pattern type {type(pattern.pattern)!r}")
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + part)
        elif isinstance(pattern, URLPattern):
            yield Route(prefix + part, pattern.name or "")


def all_routes() -> list[Route]:
    # Ninja lists one pattern per operation on a path; the path is walked once with
    # every method, so duplicates are folded.
    seen: dict[str, Route] = {}
    for route in walk(get_resolver().url_patterns):
        seen.setdefault(route.template, route)
    return list(seen.values())


ROUTES = all_routes()
ROUTE_IDS = [route.template or "<root>" for route in ROUTES]


def test_the_walk_finds_the_projects_routes() -> None:
    templates = {route.template for route in ROUTES}
    # A sanity floor: if the resolver walk breaks, this fails instead of testing nothing.
    assert {"tickets/<int:number>/", "portal/tickets/<int:number>/", "api/v1/tickets/<number>"} <= (
        templates
    )
    assert len(ROUTES) >= 20


def test_every_route_parameter_has_a_sample() -> None:
    unknown = sorted(
        f"{route.template}: <{name}> (add SAMPLES[{key!r}] in {__name__})"
        for route in ROUTES
        for key, name in route.params
        if key not in SAMPLES
    )
    assert not unknown, "Routes with parameters the isolation test cannot fill:\n" + "\n".join(
        unknown
    )


# --- OpenAPI: methods and request bodies of API routes ------------------------------


def _openapi() -> dict[str, Any]:
    from atalaya.api import api

    return api.get_openapi_schema()


OPENAPI = _openapi()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = OPENAPI["components"]["schemas"][name]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [_resolve(s) for s in schema[key] if s.get("type") != "null"]
            return options[0] if options else {}
    return schema


def _sample_value(name: str, schema: dict[str, Any], a: AWorld) -> Any:
    """A value for a request field: client A's identifier when the name is one."""
    schema = _resolve(schema)
    for key in (name, f"{name}_id", name.removesuffix("_id")):
        if key in SAMPLES:
            value = SAMPLES[key](a)
            return value if isinstance(value, int) else str(value)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return _sample_body(schema, a)
    fmt = schema.get("format")
    if fmt == "date":
        return "2024-06-03"
    if fmt == "date-time":
        return "2024-06-03T10:00:00Z"
    if fmt == "uuid":
        return str(MISSING_UUID)
    return "isolation probe alfa-secret"


def _sample_body(schema: dict[str, Any], a: AWorld) -> dict[str, Any]:
    schema = _resolve(schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    body = {}
    for name, prop in properties.items():
        known = any(k in SAMPLES for k in (name, f"{name}_id", name.removesuffix("_id")))
        if name in required or known:
            body[name] = _sample_value(name, prop, a)
    return body


def api_operations(route: Route) -> dict[str, dict[str, Any]]:
    """The OpenAPI operations (method → operation) of an API route."""
    path = "/" + _PARAM.sub(lambda m: "{" + m.group("name") + "}", route.template)
    return {
        method.upper(): op
        for method, op in OPENAPI.get("paths", {}).get(path, {}).items()
        if method in ("get", "post", "put", "patch", "delete")
    }


# --- the fixture: client A's objects --------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def a_world(world, settings, tmp_path) -> AWorld:
    settings.MEDIA_ROOT = tmp_path
    tech = world.tech
    ticket = world.ticket_a
    upload = SimpleUploadedFile("alfa-secret.txt", b"alfa-secret file", content_type="text/plain")
    reply = ticket_services.add_reply(
        ticket, actor=tech, body="ALFA-SECRET reply", attachments=[upload]
    )
    note = ticket_services.add_note(ticket, actor=tech, body="ALFA-SECRET note")
    entry = ticket_services.log_time(ticket, actor=tech, minutes=30, note="alfa-secret time")
    saved_view = ticket_services.save_view(actor=tech, name="alfa-secret view", query="q=vpn")
    token, _raw = core_services.create_api_token(
        actor=None, user=world.portal_a, name="alfa-secret token"
    )
    core_services.add_holidays(
        actor=None, client=world.client_a, days=[(ticket.created_at.date(), "alfa-secret day")]
    )
    _b, b_token = core_services.create_api_token(actor=None, user=world.portal_b, name="b")
    _admin, admin_token = core_services.create_api_token(actor=None, user=world.admin, name="admin")
    del note
    return AWorld(
        world=world,
        attachment=Attachment.objects.get(event=reply),
        event=reply,
        time_entry=entry,
        saved_view=saved_view,
        token=token,
        holiday=Holiday.objects.get(client=world.client_a),
        mail_domain=MailDomain.objects.get(client=world.client_a),
        b_token=b_token,
        admin_token=admin_token,
    )


def state_of_a(a: AWorld) -> dict[str, Any]:
    """Everything of client A a request could change; compared before and after."""
    world = a.world
    tickets = Ticket.objects.filter(client=world.client_a).order_by("pk")
    return {
        "tickets": list(tickets.values()),
        "events": list(TicketEvent.objects.filter(ticket__in=tickets).values()),
        "time": list(TimeEntry.objects.filter(ticket__in=tickets).values()),
        "attachments": list(Attachment.objects.filter(ticket__in=tickets).values()),
        "links": list(TicketLink.objects.filter(from_ticket__in=tickets).values())
        + list(TicketLink.objects.filter(to_ticket__in=tickets).values()),
        "search": list(SearchDocument.objects.filter(ticket__in=tickets).values()),
        "client": list(Client.objects.filter(pk=world.client_a.pk).values()),
        "sites": list(Site.objects.filter(client=world.client_a).values()),
        "contacts": list(Contact.objects.filter(memberships__client=world.client_a).values()),
        "holidays": list(Holiday.objects.filter(client=world.client_a).values()),
        "domains": list(MailDomain.objects.filter(client=world.client_a).values()),
        "views": list(SavedView.objects.filter(user=world.tech).values()),
        "tokens": list(
            ApiToken.objects.filter(user=world.portal_a).values("pk", "name", "revoked_at")
        ),
        "audit": AuditEvent.objects.filter(client=world.client_a).count(),
    }


# --- requests ---------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: str
    location: str

    def normalised(self, values: list[Any]) -> tuple[int, str, str]:
        """Status, body and Location with identifiers and per-request tokens masked."""
        body, location = self.body, self.location
        for value in sorted({str(v) for v in values}, key=len, reverse=True):
            body, location = body.replace(value, "<ID>"), location.replace(value, "<ID>")
        body = re.sub(r"[A-Za-z0-9_-]{32,}", "<TOKEN>", body)
        return self.status, body, location


def send(
    route: Route,
    method: str,
    path: str,
    a: AWorld,
    *,
    user: Any = None,
    token: str | None = None,
    query: bool = True,
) -> Answer:
    http = HttpClient()
    if user is not None:
        http.force_login(user)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # List filters get client A's ids too: a filter must not open another client's data.
    params = {"client": a.world.client_a.public_id, "site": a.world.site_a.public_id}
    params = params if query else {}
    if route.is_api:
        operation = api_operations(route).get(method, {})
        content = operation.get("requestBody", {}).get("content", {})
        if "multipart/form-data" in content and method == "POST":
            schema = content["multipart/form-data"]["schema"]
            response = http.post(path, data=_sample_body(schema, a), headers=headers)
        elif method == "GET":
            response = http.get(path, data=params, headers=headers)
        else:
            schema = content.get("application/json", {}).get("schema", {})
            body = json.dumps(_sample_body(schema, a) if schema else {})
            response = http.generic(
                method, path, data=body, content_type="application/json", headers=headers
            )
    elif method == "GET":
        response = http.get(path, data=params)
    else:
        world = a.world
        form = {
            "client": world.client_a.public_id,
            "site": world.site_a.public_id,
            "contact": world.contact_a.public_id,
            "subject": "isolation probe",
            "body": "isolation probe",
            "status": "closed",
            "priority": "urgent",
            "assignee": world.tech.pk,
            "minutes": "5",
            "name": "isolation probe",
            "target": world.ticket_a.number,
            "other": world.ticket_a.number,
            "number": world.ticket_a.number,
        }
        response = http.generic(method, path, data=_urlencode(form), content_type=FORM)
    content_bytes = b"".join(response) if response.streaming else response.content
    return Answer(
        status=response.status_code,
        body=content_bytes.decode("utf-8", "replace"),
        location=response.headers.get("Location", ""),
    )


FORM = "application/x-www-form-urlencoded"


def _urlencode(form: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: str(v) for k, v in form.items()})


def methods_of(route: Route) -> list[str]:
    if not route.is_api:
        return ["GET", "POST"]
    declared = [m for m in api_operations(route) if m not in ("GET", "POST")]
    return ["GET", "POST", *declared]


def leaks(answer: Answer) -> list[str]:
    text = (answer.body + answer.location).lower()
    return [marker for marker in A_MARKERS if marker in text]


# --- the walk as client B ---------------------------------------------------------------


def isolation_problems(route: Route, a: AWorld, credentials: dict[str, Any]) -> list[str]:
    """What is wrong with ``route`` for a user who must not see client A's objects."""
    unknown = [key for key, _name in route.params if key not in SAMPLES]
    assert not unknown, (
        f"{route.template}: add a sample value for {unknown} to SAMPLES in {__name__}"
    )
    world = a.world
    samples = {name: SAMPLES[key](a) for key, name in route.params}
    missing = {name: missing_like(value) for name, value in samples.items()}
    admin: dict[str, Any] = {"token": a.admin_token} if route.is_api else {"user": world.admin}
    before = state_of_a(a)
    problems = []
    for method in methods_of(route):
        answer = send(route, method, route.fill(samples), a, **credentials)
        if found := leaks(answer):
            problems.append(f"{method}: {answer.status} shows client A's data {found}")
        if not samples:
            if answer.status >= 500:
                problems.append(f"{method}: server error {answer.status}")
            if method == "GET":
                # The plain list too, not only the one filtered by client A's id.
                plain = send(route, method, route.fill({}), a, query=False, **credentials)
                if found := leaks(plain):
                    problems.append(
                        f"GET (no filter): {plain.status} shows client A's data {found}"
                    )
            continue
        absent = send(route, method, route.fill(missing), a, **credentials)
        ids = [*samples.values(), *missing.values()]
        if answer.status == 404:
            pass
        elif answer.status == 405:
            # Only if the route takes no such method at all, for anyone.
            for_admin = send(route, method, route.fill(samples), a, **admin)
            if for_admin.status != 405:
                problems.append(f"{method}: 405 here but {for_admin.status} for the admin")
        elif answer.status in (401, 403, 302, 400, 422):
            if answer.normalised(ids) != absent.normalised(ids):
                problems.append(
                    f"{method}: {answer.status} for A's object differs from the answer for a "
                    f"missing one ({absent.status}): existence leaks"
                )
        else:
            problems.append(f"{method}: {answer.status} for client A's object (expected 404)")
        if absent.status not in (answer.status, 404) and answer.status != 405:
            problems.append(f"{method}: {answer.status} for A's object, {absent.status} for none")
    after = state_of_a(a)
    changed = [key for key in before if before[key] != after[key]]
    if changed:
        problems.append(f"the requests changed client A's {changed}")
    return problems


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_client_b_cannot_reach_client_a(route: Route, a_world: AWorld) -> None:
    credentials: dict[str, Any] = (
        {"token": a_world.b_token} if route.is_api else {"user": a_world.world.portal_b}
    )
    problems = isolation_problems(route, a_world, credentials)
    assert not problems, f"{route.template} as client B's portal user:\n" + "\n".join(problems)


# Parameters naming something one user owns (a saved view, a token): another member of
# staff must not reach it either.
USER_OWNED = {"view_id", "saved_view_id", "views/id", "token_id", "tokens/id"}
USER_OWNED_ROUTES = [r for r in ROUTES if any(key in USER_OWNED for key, _ in r.params)]


@pytest.mark.parametrize("route", USER_OWNED_ROUTES, ids=[r.template for r in USER_OWNED_ROUTES])
def test_staff_cannot_reach_another_users_own_objects(route: Route, a_world: AWorld) -> None:
    # The saved view belongs to the technician, the token to client A's portal user.
    other = a_world.world.readonly
    credentials: dict[str, Any] = {"user": other}
    if route.is_api:
        credentials = {"token": core_services.create_api_token(actor=None, user=other, name="r")[1]}
    problems = isolation_problems(route, a_world, credentials)
    assert not problems, f"{route.template} as another staff user:\n" + "\n".join(problems)


# --- the walk as a stranger ---------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_anonymous_visitors_get_nothing(route: Route, a_world: AWorld) -> None:
    samples = {name: SAMPLES[key](a_world) for key, name in route.params if key in SAMPLES}
    if len(samples) != len(route.params):
        pytest.fail(f"{route.template}: add the missing sample values to SAMPLES")
    before = state_of_a(a_world)
    problems = []
    for method in methods_of(route):
        answer = send(route, method, route.fill(samples), a_world)
        if found := leaks(answer):
            problems.append(f"{method}: {answer.status} shows client A's data {found}")
        if route.template in PUBLIC_ROUTES:
            if answer.status >= 500:
                problems.append(f"{method}: server error {answer.status}")
            continue
        if route.is_api or route.template.startswith(AGENT_PREFIX):
            if answer.status not in (401, 405):
                problems.append(f"{method}: {answer.status}, expected 401 without a token")
        elif answer.status == 302:
            if not answer.location.startswith("/login/"):
                problems.append(f"{method}: redirected to {answer.location}, not to sign-in")
        elif answer.status != 405:
            problems.append(f"{method}: {answer.status}, expected a redirect to sign-in")
    assert state_of_a(a_world) == before, "an anonymous request changed client A's data"
    assert not problems, f"{route.template} for an anonymous visitor:\n" + "\n".join(problems)

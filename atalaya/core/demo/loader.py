"""Replaying the demo plan through the service functions, in one transaction.

Every row is written by the same services the UI and API use, with ``now=`` set to the
moment in the plan, so search text, SLA due times and timeline events (with their
before and after) are exactly what real use would have produced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from atalaya.comms import services as comms_services
from atalaya.core import services as core_services
from atalaya.core.demo.billing import load_billing
from atalaya.core.demo.calls import load_calls
from atalaya.core.demo.knowledge import load_knowledge
from atalaya.core.demo.monitoring import load_monitoring
from atalaya.core.demo.people import CLIENTS, DEMO_PASSWORD, STAFF, STAFF_MAIL_DOMAIN
from atalaya.core.demo.plan import (
    DEFAULT_SEED,
    DEFAULT_TICKETS,
    DemoPlan,
    Step,
    ascii_slug,
    build_plan,
)
from atalaya.core.demo.quotes import load_quotes
from atalaya.core.demo.replay import BulkReplayer
from atalaya.core.demo.security_coverage import load_security_coverage
from atalaya.core.demo.security_fixes import load_security_fixes
from atalaya.core.models import Client, Contact, MailDomain, Site, User
from atalaya.mail import services as mail_services
from atalaya.mail.notify import notifications_paused
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import (
    Category,
    Priority,
    Queue,
    SlaPolicy,
    Ticket,
    TicketEvent,
    WorkType,
)

DEMO_CLIENT_NAMES = [spec.name for spec in CLIENTS]

ANNOUNCEMENT_EN = """Dear clients,

Our whole team is working, from home and from the office, and the help desk is open
as usual. Write to us or call us as always: every request becomes a ticket and you
can follow it in the portal.

If you now work from home, ask us about the remote worker bundle (VPN, MFA,
antivirus and backup). And beware of mails asking for your Office 365 password: we
will never ask for it."""

ANNOUNCEMENT_ES = """Estimados clientes:

Todo nuestro equipo sigue trabajando, desde casa y desde la oficina, y el servicio
de soporte está abierto como siempre. Escríbanos o llámenos como de costumbre: cada
petición se convierte en un ticket que puede seguir en el portal.

Si ahora trabaja desde casa, pregúntenos por el paquete de teletrabajo (VPN, MFA,
antivirus y copia de seguridad). Y desconfíe de los correos que le pidan su
contraseña de Office 365: nosotros nunca se la pediremos."""


class DemoPasswordHasher(Argon2PasswordHasher):
    """Argon2 with Django's parameters that hashes each distinct demo password only once.

    Every hash it writes is an ordinary full-strength Argon2 hash; accounts that share a
    demo password share its salt too, which costs nothing since the password is
    published. It saves a second of CPU per account, and is used only by the loader.
    """

    def __init__(self) -> None:
        self._encoded: dict[str, str] = {}

    def encode(self, password: str, salt: str) -> str:
        if password not in self._encoded:
            self._encoded[password] = super().encode(password, salt)
        return self._encoded[password]


class DemoError(Exception):
    """The demo cannot be loaded into this database (say why)."""


@dataclass
class DemoResult:
    tickets: int
    events: int
    contacts: int
    seconds: float


def is_loaded() -> bool:
    """True when the demo's client companies are in the database."""
    return Client.objects.filter(name__in=DEMO_CLIENT_NAMES).count() == len(DEMO_CLIENT_NAMES)


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, password, who) of the demo's accounts, when the demo data is loaded."""
    if not is_loaded():
        return []
    logins = [(s.username, s.password, f"{s.role}, {s.first_name} {s.last_name}") for s in STAFF]
    logins += [(f"portal@{c.domain}", DEMO_PASSWORD, f"portal, {c.name}") for c in CLIENTS]
    existing = set(
        User.objects.filter(username__in=[u for u, _p, _w in logins]).values_list(
            "username", flat=True
        )
    )
    return [login for login in logins if login[0] in existing]


def conflicts() -> list[str]:
    """Demo names already taken in this database by something that is not the demo."""
    usernames = [s.username for s in STAFF] + [f"portal@{c.domain}" for c in CLIENTS]
    taken = list(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    taken += Client.objects.filter(name__in=DEMO_CLIENT_NAMES).values_list("name", flat=True)
    taken += MailDomain.objects.filter(domain__in=[c.domain for c in CLIENTS]).values_list(
        "domain", flat=True
    )
    return sorted(taken)


def load_demo(
    *,
    seed: int = DEFAULT_SEED,
    tickets: int = DEFAULT_TICKETS,
    now: datetime | None = None,
    via_services: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Write the demo (staff, clients, contacts, portal users, tickets) in one transaction.

    People are written by the core services. Ticket lives are replayed in bulk by
    replay.py, or one service call per step with ``via_services`` (ten times slower;
    the test that proves both give the same rows uses it). Raises DemoError when any
    demo name is already taken, so a half-demo never mixes with real data; callers
    check ``is_loaded()`` first to stay idempotent.
    """
    started = time.monotonic()
    taken = conflicts()
    if taken:
        raise DemoError("these demo names already exist: " + ", ".join(taken[:8]))
    targets = {
        p.priority: (p.first_response_minutes, p.resolution_minutes)
        for p in SlaPolicy.objects.all()
    }
    missing = set(Priority.values) - set(targets)
    if missing or not Category.objects.exists():
        raise DemoError("SLA policies or categories are missing; run `atalaya migrate` first")
    plan = build_plan(
        seed=seed,
        now=now or timezone.now(),
        tickets=tickets,
        targets=targets,
        autoclose_days=settings.TICKET_AUTOCLOSE_DAYS,
    )
    # Demo passwords ("demo", "admin") are weak on purpose; password validators are off
    # only here, while the demo loader writes its own accounts.
    hashers = [f"{__name__}.DemoPasswordHasher", *settings.PASSWORD_HASHERS]
    # The replayed history is months old: none of it may queue mail to anyone.
    with (
        override_settings(AUTH_PASSWORD_VALIDATORS=[], PASSWORD_HASHERS=hashers),
        notifications_paused(),
        transaction.atomic(),
    ):
        loader = _Loader(plan, progress or (lambda _message: None))
        loader.people()
        if via_services:
            loader.ticket_lives()
        else:
            replayer = BulkReplayer(loader)
            plans = {t.key: t for t in plan.tickets}
            for step in plan.steps:
                if step.kind == "create":
                    replayer.create(plans[step.ticket], step.at)
                else:
                    replayer.apply(step)
            replayer.save(loader.progress)
        loader.mail()
        load_monitoring(loader, seed)
        load_billing(loader, seed)
        load_security_coverage(loader, seed)
        load_security_fixes(loader, seed)
        load_knowledge(loader, seed)
        load_quotes(loader, seed)
        load_calls(loader, seed)
    events = TicketEvent.objects.filter(ticket__client__name__in=DEMO_CLIENT_NAMES).count()
    return DemoResult(
        tickets=len(plan.tickets),
        events=events,
        contacts=len(plan.contacts),
        seconds=time.monotonic() - started,
    )


class _Loader:
    def __init__(self, plan: DemoPlan, progress: Callable[[str], None]) -> None:
        self.plan = plan
        self.progress = progress
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.sites: dict[tuple[str, str], Site] = {}
        self.contacts: dict[str, Contact] = {}
        self.tickets: dict[int, Ticket] = {}
        self.categories = {c.slug: c for c in Category.objects.all()}
        self.queues = {q.slug: q for q in Queue.objects.all()}
        self.work_types = {w.slug: w for w in WorkType.objects.all()}

    def people(self) -> None:
        for member in STAFF:
            local = f"{ascii_slug(member.first_name)}.{ascii_slug(member.last_name)}"
            self.users[member.username] = core_services.create_staff_user(
                actor=None,
                username=member.username,
                password=member.password,
                role=member.role,
                email=f"{local}@{STAFF_MAIL_DOMAIN}",
                first_name=member.first_name,
                last_name=member.last_name,
                language=member.language,
            )
        for client_plan in self.plan.clients:
            spec = client_plan.spec
            client = core_services.create_client(
                actor=None,
                name=spec.name,
                mail_domains=[spec.domain],
                legal_name=spec.legal_name,
                language=spec.language,
                time_zone=spec.time_zone,
                working_days=spec.working_days,
                workday_starts_at=spec.starts,
                workday_ends_at=spec.ends,
                notes=spec.notes,
                created_at=client_plan.created_at,
            )
            core_services.add_holidays(actor=None, client=client, days=client_plan.holidays)
            self.clients[spec.key] = client
            for name, address in spec.sites:
                self.sites[spec.key, name] = core_services.add_site(
                    actor=None,
                    client=client,
                    name=name,
                    address=address,
                    time_zone=spec.time_zone,
                    created_at=client_plan.created_at,
                )
        for contact_plan in self.plan.contacts:
            home = contact_plan.clients[0]
            contact = core_services.create_contact(
                actor=None,
                clients=[self.clients[key] for key in contact_plan.clients],
                name=contact_plan.name,
                email=contact_plan.email,
                site=self.sites.get((home, contact_plan.site or "")),
                language=contact_plan.language,
                time_zone=contact_plan.time_zone,
                created_at=contact_plan.created_at,
            )
            self.contacts[contact_plan.key] = contact
            if contact_plan.portal_username:
                self.users[contact_plan.portal_username] = core_services.create_portal_user(
                    actor=None,
                    contact=contact,
                    username=contact_plan.portal_username,
                    password=DEMO_PASSWORD,
                )
        self.progress(
            f"{len(self.users)} accounts, {len(self.clients)} clients, "
            f"{len(self.contacts)} contacts"
        )

    def mail(self) -> None:
        """The support mailbox, and the announcement every client got in the surge.

        Its mails stay queued until ATALAYA_SMTP_URL is set; the demo's addresses are
        all under .example, which no mail server delivers to.
        """
        admin = self.users["admin"]
        mail_services.create_mailbox(
            actor=admin,
            address=f"soporte@{STAFF_MAIL_DOMAIN}",
            name="Soporte",
            queue="helpdesk",
        )
        sent_at = self.plan.now - timedelta(days=3)
        announcement = comms_services.create_announcement(
            actor=admin,
            subject_en="We are open and working",
            subject_es="Seguimos abiertos y trabajando",
            body_en=ANNOUNCEMENT_EN,
            body_es=ANNOUNCEMENT_ES,
            # A month from today at midnight: the banner shows whenever the demo is loaded.
            expires_at=(max(self.plan.now, timezone.now()) + timedelta(days=30)).replace(
                hour=0, minute=0, second=0, microsecond=0
            ),
        )
        comms_services.send_announcement(actor=admin, announcement=announcement, now=sent_at)

    def ticket_lives(self) -> None:
        plans = {t.key: t for t in self.plan.tickets}
        for n, step in enumerate(self.plan.steps, 1):
            if step.kind == "create":
                self.create(plans[step.ticket], step)
            else:
                self.apply(step)
            if n % 2000 == 0:
                self.progress(f"{n} of {len(self.plan.steps)} ticket steps")

    def create(self, plan: Any, step: Step) -> None:
        self.tickets[plan.key] = ticket_services.create_ticket(
            actor=self.users[plan.creator],
            client=self.clients[plan.client],
            subject=plan.subject,
            body=plan.body,
            contact=self.contacts[plan.contact],
            site=self.sites.get((plan.client, plan.site or "")),
            queue=self.queues.get(plan.queue or ""),
            category=self.categories[plan.category],
            priority=plan.priority,
            assignee=self.users[plan.assignee] if plan.assignee else None,
            now=step.at,
        )

    def _fresh(self, key: int) -> Ticket:
        # Loaded anew for every step, as a request would: a long-lived instance carries
        # stale cached relations (its search document, say) from earlier calls.
        return Ticket.objects.get(pk=self.tickets[key].pk)

    def apply(self, step: Step) -> None:
        ticket = self._fresh(step.ticket)
        actor = self.users.get(step.actor)
        at = step.at
        if step.kind == "autoclose":
            ticket_services.close_resolved_ticket(ticket, now=at)
            return
        assert actor is not None, step
        if step.kind == "assign":
            assignee = self.users[step.value]
            ticket_services.assign_ticket(ticket, actor=actor, assignee=assignee, now=at)
        elif step.kind == "fields":
            queue = self.queues[step.value]
            ticket_services.update_ticket(ticket, actor=actor, queue=queue, now=at)
        elif step.kind == "reply":
            ticket_services.add_reply(ticket, actor=actor, body=step.body, now=at)
        elif step.kind == "note":
            ticket_services.add_note(ticket, actor=actor, body=step.body, now=at)
        elif step.kind == "status":
            ticket_services.change_status(ticket, actor=actor, status=step.value, now=at)
        elif step.kind == "priority":
            ticket_services.change_priority(ticket, actor=actor, priority=step.value, now=at)
        elif step.kind == "time":
            ticket_services.log_time(
                ticket,
                actor=actor,
                minutes=step.value,
                note=step.body,
                now=at,
                is_billable=step.extra["is_billable"],
                work_type=self.work_types.get(step.extra["work_type"]),
            )
        elif step.kind == "merge":
            ticket_services.merge_tickets(ticket, self._fresh(step.value), actor=actor, now=at)
        elif step.kind == "link":
            ticket_services.link_tickets(ticket, self._fresh(step.value), actor=actor, now=at)
        else:  # pragma: no cover - the plan only makes the kinds above
            raise ValueError(f"unknown demo step {step.kind!r}")

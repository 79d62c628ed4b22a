"""Demo call log: a phone system, the technicians' extensions, contacts' phone numbers
and a dozen calls over the last weeks, each filed as a ticket or a note on one.

Everything through the services (core.services.set_contact_phone, calls.services),
dated in the past with ``now=``, so the log reads as real use would have left it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from atalaya.calls import services
from atalaya.calls.models import Direction
from atalaya.core import services as core_services
from atalaya.tickets.models import OPEN_STATUSES, Ticket

NOTES = [
    "Cannot print to the office printer from home",
    "Asks how to connect to the VPN from a new laptop",
    "Outlook keeps asking for the password",
    "Received a suspicious mail about an unpaid invoice",
    "The backup warning shows on her PC again",
    "Wants two more licences of the remote worker bundle",
    "Teams call drops every few minutes",
    "Forgot the password after the holidays",
]
FOLLOW_UPS = [
    "Called to ask how it is going; told them we are on it.",
    "Confirmed it works again after the restart.",
    "Will send a photo of the error message by mail.",
]


def load_calls(loader: Any, seed: int) -> None:
    """A PBX, extensions 201… for the technicians, phones for contacts, twelve calls."""
    rng = random.Random(seed + 7)
    now = loader.plan.now
    services.create_phone_system(actor=None, name="Centralita oficina (Asterisk)")
    technicians = [
        user for name, user in sorted(loader.users.items()) if user.role in ("admin", "technician")
    ]
    services.set_extensions(
        actor=None,
        extensions=[(user, str(201 + n)) for n, user in enumerate(technicians)],
    )
    contacts = list(loader.contacts.values())
    for n, contact in enumerate(contacts):
        # Spanish mobile numbers (6xx), written the various ways people type them.
        digits = f"6{rng.randrange(10_000_000, 99_999_999)}"
        typed = [
            digits,
            f"+34 {digits[:3]} {digits[3:5]} {digits[5:7]} {digits[7:]}",
            f"0034{digits}",
        ][n % 3]
        core_services.set_contact_phone(actor=None, contact=contact, phone=typed)
    if not technicians:
        return
    # Calls about the open tickets of the last weeks: the caller rings about their
    # ticket and the technician adds what was said. (Tickets the demo opens carry a
    # category and business-hours times; a call's own new ticket would have neither.)
    open_tickets = list(
        Ticket.objects.filter(
            client__in=loader.clients.values(),
            contact__isnull=False,
            status__in=OPEN_STATUSES,
            created_at__gte=now - timedelta(days=28),
        )
        .select_related("client", "contact")
        .order_by("created_at", "pk")
    )
    rng.shuffle(open_tickets)
    for n, ticket in enumerate(open_tickets[:12]):
        at = min(ticket.updated_at + timedelta(minutes=rng.randrange(5, 90)), now)
        services.log_call(
            actor=technicians[n % len(technicians)],
            client=ticket.client,
            contact=ticket.contact,
            note=rng.choice(FOLLOW_UPS if n % 2 else NOTES),
            direction=Direction.OUTBOUND if n % 4 == 3 else Direction.INBOUND,
            ticket=ticket,
            started_at=at,
            duration_seconds=rng.randrange(40, 900),
            idempotency_key=f"demo:{seed}:{n}",
            now=at,
        )

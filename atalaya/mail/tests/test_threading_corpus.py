"""Threading on a generated corpus: every reply, in every client's style, finds its ticket.

Atalaya sends a real notification for each ticket (a technician's reply through
tickets.services.add_reply; mail/notify.py puts it in the outbox). The corpus
(corpus.py) writes the replies to those outbox rows as Outlook, Outlook on the web,
Gmail, Apple Mail, Thunderbird and phones send them, replies to replies, reply-all
delivered to two mailboxes, forwards answered by a colleague. Each one is ingested
and must land on its ticket by the strongest rule its marks allow; the second copy
of a reply-all changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import Client, Contact
from atalaya.mail import addressing
from atalaya.mail.inbound import ingest
from atalaya.mail.models import InboundMessage, Mailbox, OutboundMessage, Outcome
from atalaya.mail.tests import corpus
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Ticket, TicketEvent

SECOND_MAILBOX = "helpdesk@atalaya.localhost"
PEOPLE = [
    ("José Muñoz", "es"),
    ("María Peña", "es"),
    ("Begoña Ibáñez", "es"),
    ("Jürgen Müller", "en"),
    ("Zoë Ångström", "en"),
    ("Peter Smith", "en"),
]


@dataclass
class Sent:
    mails: list[corpus.SentMail]
    tickets: dict[int, Ticket]
    mailboxes: dict[str, Mailbox]


def _clients(count: int) -> list[tuple[Client, list[Contact]]]:
    out = []
    for i in range(count):
        domain = f"cliente{i}.example"
        client = core_services.create_client(
            actor=None, name=f"Cliente {i} S.L.", mail_domains=[domain]
        )
        contacts = [
            core_services.create_contact(
                actor=None,
                clients=[client],
                name=name,
                email=f"{name.split()[0].lower().encode('ascii', 'ignore').decode()}{j}@{domain}",
                language=language,
            )
            for j, (name, language) in enumerate(PEOPLE[i % 3 : i % 3 + 3])
        ]
        out.append((client, contacts))
    return out


def send_notifications(world: World, *, clients: int, per_client: int) -> Sent:
    """Tickets whose technician replied: one outbox mail each, the corpus's input."""
    mailboxes = {
        address: Mailbox.objects.create(address=address, name=address.partition("@")[0])
        for address in (addressing.mail_from()[1], SECOND_MAILBOX)
    }
    mails, tickets = [], {}
    for client, contacts in _clients(clients):
        for k in range(per_client):
            contact = contacts[k % len(contacts)]
            ticket = ticket_services.create_ticket(
                actor=world.tech,
                client=client,
                contact=contact,
                subject=["La VPN no conecta", "Printer offline", "Correo lento"][k % 3],
                body="Desde esta mañana falla.",
            )
            ticket_services.add_reply(
                ticket,
                actor=world.tech,
                body="Hemos reiniciado el servidor; pruebe de nuevo, por favor.\n"
                "Si sigue igual, responda a este correo.",
            )
            outbound = OutboundMessage.objects.get(ticket=ticket, to_address=contact.email)
            colleagues = tuple((c.name, c.email) for c in contacts if c.pk != contact.pk)
            mails.append(corpus.SentMail.from_outbound(outbound, colleagues))
            tickets[ticket.number] = ticket
    return Sent(mails, tickets, mailboxes)


def test_the_notification_carries_every_mark(world: World) -> None:
    sent = send_notifications(world, clients=1, per_client=1).mails[0]
    assert f"[#{sent.ticket_number}]" in sent.subject
    assert addressing.ticket_number_in_address(sent.reply_to) == sent.ticket_number
    assert addressing.ticket_number_in_body(sent.body_text) == sent.ticket_number


def test_the_corpus_is_deterministic(world: World) -> None:
    sent = send_notifications(world, clients=1, per_client=2).mails
    first = corpus.reply_corpus(sent, count=40, seed=9)
    again = corpus.reply_corpus(sent, count=40, seed=9)
    assert [m.raw for m in first] == [m.raw for m in again]
    assert {m.style for m in first} == {name for name, _w in corpus.STYLES}


def test_every_reply_lands_on_its_ticket_by_the_expected_rule(world: World) -> None:
    sent = send_notifications(world, clients=6, per_client=5)
    mails = corpus.reply_corpus(sent.mails, count=260, seed=21, second_mailbox=SECOND_MAILBOX)
    events_before = TicketEvent.objects.count()
    wrong = []
    first_copy: dict[str, int | None] = {}
    for mail in mails:
        result = ingest(mail.raw, mailbox=sent.mailboxes[mail.mailbox], now=mail.received_at)
        got = (result.ticket_number, result.matched_rule, result.is_duplicate)
        want = (mail.ticket_number, mail.expected_rule, mail.is_duplicate)
        if mail.is_duplicate:
            # The copy for the second mailbox: the same ledger row, nothing new.
            ok = result.is_duplicate and result.inbound_id == first_copy[mail.message_id]
        else:
            ok = got == want and result.outcome == Outcome.APPENDED and not result.error
            first_copy[mail.message_id] = result.inbound_id
        if not ok:
            wrong.append(f"{mail.style}: want {want}, got {got} {result.outcome} {result.error}")
    assert not wrong, f"{len(wrong)} of {len(mails)} misthreaded:\n" + "\n".join(wrong[:20])

    styles = Counter(m.style for m in mails)
    assert set(styles) == {name for name, _w in corpus.STYLES}
    rules = Counter(m.expected_rule for m in mails)
    assert set(rules) == {
        corpus.IN_REPLY_TO,
        corpus.REFERENCES,
        corpus.SUBJECT_TOKEN,
        corpus.REPLY_ADDRESS,
        corpus.BODY_TOKEN,
    }
    # One event per distinct mail: reply-all delivered twice counts once.
    unique = {addressing.normalize_message_id(m.message_id) for m in mails}
    assert len(unique) == len(mails) - sum(m.is_duplicate for m in mails)
    assert set(first_copy.values()) == set(
        InboundMessage.objects.filter(message_id__in=unique).values_list("pk", flat=True)
    )
    events = set(
        InboundMessage.objects.filter(message_id__in=unique).values_list("event_id", flat=True)
    )
    assert None not in events and len(events) == len(unique)
    assert TicketEvent.objects.count() - events_before >= len(unique)
    assert (
        not TicketEvent.objects.filter(pk__in=events)
        .exclude(ticket__number__in=sent.tickets)
        .exists()
    )


def test_new_requests_open_tickets_and_automatic_mail_opens_none(world: World) -> None:
    sent = send_notifications(world, clients=2, per_client=1)
    senders = [
        (c.name, c.email, c.language) for c in Contact.objects.filter(email__startswith="jos")
    ]
    mails = corpus.new_mail_corpus(
        senders,
        count=40,
        seed=4,
        attachment_share=0.1,
        auto_share=0.1,
        bounce_share=0.1,
        bounced_recipients=[m.to_address for m in sent.mails],
    )
    tickets_before = Ticket.objects.count()
    outcomes = Counter()
    for mail in mails:
        result = ingest(mail.raw, mailbox=sent.mailboxes[mail.mailbox], now=mail.received_at)
        assert result.outcome == mail.expected_outcome, (mail.style, result)
        assert result.is_new_ticket == (mail.expected_outcome == Outcome.CREATED)
        outcomes[result.outcome] += 1
    assert Ticket.objects.count() - tickets_before == outcomes[Outcome.CREATED]
    assert outcomes[Outcome.AUTO_REPLY] and outcomes[Outcome.BOUNCE]


@pytest.mark.parametrize("style", [name for name, _w in corpus.STYLES])
def test_each_style_alone(world: World, style: str) -> None:
    """One reply per style on a fresh ledger: a failure names the style at once."""
    sent = send_notifications(world, clients=1, per_client=2)
    for mail in corpus.reply_corpus(
        sent.mails, count=3, seed=2, styles=[(style, 1)], second_mailbox=SECOND_MAILBOX
    ):
        result = ingest(mail.raw, mailbox=sent.mailboxes[mail.mailbox], now=mail.received_at)
        assert result.ticket_number == mail.ticket_number, (mail.style, result)
        assert result.is_duplicate == mail.is_duplicate
        if not mail.is_duplicate:
            assert result.matched_rule == mail.expected_rule, (mail.style, result)

"""Look-ups of the inbound pipeline: mailboxes, senders, clients and the ticket a mail
threads to (the Message-ID ledger, the subject token, the reply address, the signed
reference in the quoted text). Plain SQL where it runs for every mail (see _rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.db import connection

from atalaya.core.models import STAFF_ROLES, Client, Contact, ContactMembership, MailDomain, User
from atalaya.mail import addressing
from atalaya.mail.models import (
    InboundMessage,
    Mailbox,
    MatchRule,
    OutboundMessage,
)
from atalaya.mail.parse import ParsedMail
from atalaya.tickets.models import Ticket

_TABLES: dict[tuple[str, Any], str] = {}


def _table(model: Any) -> str:
    key = (connection.vendor, model)
    found = _TABLES.get(key)
    if found is None:
        found = _TABLES[key] = str(connection.ops.quote_name(model._meta.db_table))
    return found


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """A plain query. The pipeline's look-ups are raw SQL on purpose, like the ticket
    services' SLA reads: building the ORM queries cost several times running them, and
    ingestion must keep up with a flood (benchmarks/mail.py, 200 mails a second)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _placeholders(values: Any) -> str:
    return ", ".join(["%s"] * len(values))


# --- mailboxes and senders -------------------------------------------------------------------


def _base_address(address: str) -> str:
    """``support+t12@host`` → ``support@host``: plus tags never change the mailbox."""
    local, at, domain = address.lower().partition("@")
    return f"{local.partition('+')[0]}{at}{domain}"


def _atalaya_bases(mailboxes: list[Mailbox]) -> set[str]:
    return {_base_address(addressing.mail_from()[1]), *(m.address for m in mailboxes)}


def _find_mailbox(mail: ParsedMail) -> tuple[Mailbox | None, list[Mailbox]]:
    """The mailbox of the first recipient that is one (envelope first); and all of them."""
    bases = [_base_address(address) for address in mail.recipients][:50]
    if not bases:
        return None, []
    unique = sorted(set(bases))
    found = {
        address: Mailbox(
            pk=pk,
            address=address,
            queue_id=queue_id,
            is_active=bool(active),
            is_trusted_for_staff=bool(trusted),
            is_phishing_report=bool(reports),
        )
        for pk, address, queue_id, active, trusted, reports in _rows(
            "SELECT id, address, queue_id, is_active, is_trusted_for_staff, is_phishing_report"  # noqa: S608
            f" FROM {_table(Mailbox)}"
            f" WHERE address IN ({_placeholders(unique)})",
            unique,
        )
    }
    for base in bases:
        if base in found and found[base].is_active:
            return found[base], list(found.values())
    return None, list(found.values())


def _staff_user(address: str) -> User | None:
    if not address:
        return None
    roles = sorted(STAFF_ROLES)
    found = _rows(
        f"SELECT id FROM {_table(User)} WHERE UPPER(email) = UPPER(%s) AND is_active"  # noqa: S608
        f" AND role IN ({_placeholders(roles)}) ORDER BY id LIMIT 1",
        [address, *roles],
    )
    # Rare (a technician's own mail): only then the whole user.
    return User.objects.get(pk=found[0][0]) if found else None


@dataclass
class Sender:
    """The contact a mail is from, with the clients it is a contact of (ids)."""

    contact: Contact | None
    client_ids: list[int]

    def is_member(self, client_id: int) -> bool:
        return client_id in self.client_ids


def _sender(address: str) -> Sender:
    if not address:
        return Sender(None, [])
    # Stored lowered by core.services; the index on email serves the equality lookup.
    rows = _rows(
        f"SELECT c.id, c.name, c.language, c.time_zone, c.needs_triage, m.client_id"  # noqa: S608
        f" FROM {_table(Contact)} c LEFT JOIN {_table(ContactMembership)} m"
        f" ON m.contact_id = c.id WHERE c.email = %s ORDER BY c.id, m.id LIMIT 50",
        [address],
    )
    return _sender_of_rows(address, rows)


def _staff_and_sender(address: str) -> tuple[User | None, Sender]:
    """``_staff_user`` and ``_sender`` of one address by one query (every mail asks both)."""
    if not address:
        return None, Sender(None, [])
    roles = sorted(STAFF_ROLES)
    # The staff branch first: PostgreSQL types the union's columns from it, and its NULLs
    # take the contact branch's types. Each branch keeps its own ORDER BY and LIMIT.
    rows = _rows(
        f"SELECT 0, s.id, NULL, NULL, NULL, NULL, NULL, NULL FROM"  # noqa: S608
        f" (SELECT id FROM {_table(User)} WHERE UPPER(email) = UPPER(%s) AND is_active"
        f" AND role IN ({_placeholders(roles)}) ORDER BY id LIMIT 1) s"
        f" UNION ALL SELECT 1, p.id, p.name, p.language, p.time_zone, p.needs_triage,"
        f" p.client_id, p.membership_id FROM"
        f" (SELECT c.id, c.name, c.language, c.time_zone, c.needs_triage, m.client_id,"
        f" m.id AS membership_id FROM {_table(Contact)} c LEFT JOIN {_table(ContactMembership)} m"
        f" ON m.contact_id = c.id WHERE c.email = %s ORDER BY c.id, m.id LIMIT 50) p"
        f" ORDER BY 1, 2, 8",
        [address, *roles, address],
    )
    staff_ids = [row[1] for row in rows if row[0] == 0]
    contacts = [row[1:7] for row in rows if row[0] == 1]
    # Rare (a technician's own mail): only then the whole user.
    staff = User.objects.get(pk=staff_ids[0]) if staff_ids else None
    return staff, _sender_of_rows(address, contacts)


def _sender_of_rows(address: str, rows: list[tuple[Any, ...]]) -> Sender:
    """The Sender of the contact rows (id, name, language, zone, triage, client id)."""
    if not rows:
        return Sender(None, [])
    by_contact: dict[int, list[int]] = {}
    details: dict[int, tuple[Any, ...]] = {}
    for pk, name, language, time_zone, needs_triage, client_id in rows:
        by_contact.setdefault(pk, [])
        details[pk] = (name, language, time_zone, needs_triage)
        if client_id is not None:
            by_contact[pk].append(client_id)
    # A contact of a client wins over an earlier triage leftover with the same address.
    pk = min(by_contact, key=lambda k: (not by_contact[k], k))
    name, language, time_zone, needs_triage = details[pk]
    contact = Contact(
        pk=pk,
        name=name,
        email=address,
        language=language,
        time_zone=time_zone,
        needs_triage=bool(needs_triage),
    )
    contact._state.adding = False
    return Sender(contact, by_contact[pk])


def _client_of_domain(address: str) -> Client | None:
    domain = address.rpartition("@")[2]
    found = MailDomain.objects.filter(domain=domain).select_related("client").first()
    return found.client if found else None


def _new_contact(mail: ParsedMail, client: Client | None, now: datetime) -> Contact:
    """A contact for a sender nobody knew, waiting for a technician to confirm it."""
    name = mail.from_name or mail.from_address.partition("@")[0] or mail.from_address
    contact = Contact(
        name=name[:200],
        email=mail.from_address[:254],
        language=client.language if client else "es",
        needs_triage=True,
        created_at=now,
    )
    if client is not None:
        contact.time_zone = client.time_zone
    contact.save()
    if client is not None:
        ContactMembership.objects.create(contact=contact, client=client)
    return contact


# --- matching ------------------------------------------------------------------------------


@dataclass
class Sent:
    """The outbox row a reply names: which client, ticket and announcement it was."""

    pk: int
    client_id: int
    ticket_id: int | None
    announcement_id: int | None


@dataclass
class Match:
    rule: str
    value: str
    ticket: Ticket | None = None
    outbound: Sent | None = None

    @property
    def is_weak(self) -> bool:
        return self.rule in (MatchRule.SUBJECT_TOKEN, MatchRule.REPLY_ADDRESS)


def _survivor(ticket: Ticket) -> Ticket:
    """A merged ticket's mail goes to the ticket it was merged into."""
    for _hop in range(10):
        if not ticket.merged_into_id:
            break
        survivor = _load_ticket("id", ticket.merged_into_id)
        if survivor is None:
            break
        ticket = survivor
    return ticket


def _ticket_by_number(number: int | None) -> Ticket | None:
    if number is None:
        return None
    return _load_ticket("number", number)


_TICKET_READERS: dict[str, tuple[str, list[str], list[tuple[Any, list[Any]]]]] = {}


def _ticket_reader() -> tuple[str, list[str], list[tuple[Any, list[Any]]]]:
    """The columns of a ticket and each one's converters (what the ORM's compiler applies
    to a row: aware datetimes on SQLite, and so on), worked out once per backend."""
    found = _TICKET_READERS.get(connection.vendor)
    if found is None:
        fields = list(Ticket._meta.concrete_fields)
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
        converters = []
        for field in fields:
            col = field.get_col(Ticket._meta.db_table)
            converters.append(
                (col, connection.ops.get_db_converters(col) + field.get_db_converters(connection))
            )
        sql = f"SELECT {columns} FROM {_table(Ticket)}"  # noqa: S608
        found = _TICKET_READERS[connection.vendor] = (sql, [f.attname for f in fields], converters)
    return found


def _load_ticket(column: str, value: int) -> Ticket | None:
    """One ticket by id or number, as a plain query (no ORM query to build; its client
    is loaded only if a status move needs its calendar)."""
    assert column in ("id", "number")
    sql, names, converters = _ticket_reader()
    rows = _rows(f"{sql} WHERE {column} = %s", [value])
    if not rows:
        return None
    values = list(rows[0])
    for index, (col, functions) in enumerate(converters):
        for function in functions:
            values[index] = function(values[index], col, connection)
    return Ticket.from_db(connection.alias, names, values)


def _match_ledger(mail: ParsedMail) -> Match | None:
    """In-Reply-To first, then References newest first: both ledgers, two queries."""
    ordered: list[tuple[str, str]] = [(MatchRule.IN_REPLY_TO, i) for i in mail.in_reply_to]
    ordered += [(MatchRule.REFERENCES, i) for i in reversed(mail.references)]
    ids = {value for _rule, value in ordered if value != mail.message_id}
    if not ids:
        return None
    ids_list = sorted(ids)[:200]
    marks = _placeholders(ids_list)
    # Both ledgers by one query; the outbox's branch first, so PostgreSQL types the
    # columns from it (the received mail's NULLs take those types).
    inbound: dict[str, int] = {}
    outbound: dict[str, Sent] = {}
    for kind, message_id, pk, client_id, ticket_id, announcement_id in _rows(
        f"SELECT 1, message_id, id, client_id, ticket_id, announcement_id"  # noqa: S608
        f" FROM {_table(OutboundMessage)} WHERE message_id IN ({marks})"
        f" UNION ALL SELECT 0, message_id, NULL, NULL, ticket_id, NULL"
        f" FROM {_table(InboundMessage)} WHERE message_id IN ({marks}) AND ticket_id IS NOT NULL",
        ids_list + ids_list,
    ):
        if kind == 1:
            outbound[message_id] = Sent(pk, client_id, ticket_id, announcement_id)
        else:
            inbound[message_id] = ticket_id
    for rule, value in ordered:
        ticket_id = inbound.get(value)
        sent = outbound.get(value)
        if ticket_id is None and sent is not None:
            ticket_id = sent.ticket_id
        if ticket_id is not None:
            ticket = _load_ticket("id", ticket_id)
            if ticket is not None:
                return Match(rule, value, ticket=ticket, outbound=sent)
        elif sent is not None and sent.announcement_id is not None:
            return Match(MatchRule.ANNOUNCEMENT, value, outbound=sent)
    return None


def _match(mail: ParsedMail, mailboxes: list[Mailbox]) -> Match:
    found = _match_ledger(mail)
    if found is not None:
        return found
    number = addressing.ticket_number_in_subject(mail.subject)
    ticket = _ticket_by_number(number)
    if ticket is not None:
        return Match(MatchRule.SUBJECT_TOKEN, addressing.subject_token(ticket.number), ticket)
    bases = _atalaya_bases(mailboxes)
    for address in mail.recipients:
        number = addressing.ticket_number_in_address(address)
        if number is not None and _base_address(address) in bases:
            ticket = _ticket_by_number(number)
            if ticket is not None:
                return Match(MatchRule.REPLY_ADDRESS, address, ticket)
    number = addressing.ticket_number_in_body(mail.quoted_text or mail.text)
    ticket = _ticket_by_number(number)
    if ticket is not None:
        return Match(MatchRule.BODY_TOKEN, addressing.body_token(ticket.number), ticket)
    return Match(MatchRule.NEW, "")


def _pick_client(client_ids: list[int], mail: ParsedMail, match: Match) -> Client:
    """The client of a contact at several: the announcement's, else the domain's, else the first."""
    chosen = client_ids[0]
    if match.outbound is not None and match.outbound.client_id in client_ids:
        chosen = match.outbound.client_id
    elif len(client_ids) > 1:
        domain = mail.from_address.rpartition("@")[2]
        owner = MailDomain.objects.filter(domain=domain, client_id__in=client_ids).first()
        if owner is not None:
            chosen = owner.client_id
    return _client(chosen)


def _as_time(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _client(pk: int) -> Client:
    """The client fields a new ticket needs (its calendar), by one plain query."""
    found = _rows(
        f"SELECT id, name, language, time_zone, working_days, workday_starts_at,"  # noqa: S608
        f" workday_ends_at FROM {_table(Client)} WHERE id = %s",
        [pk],
    )
    if not found:
        raise Client.DoesNotExist(pk)
    pk, name, language, time_zone, days, starts, ends = found[0]
    client = Client(
        pk=pk,
        name=name,
        language=language,
        time_zone=time_zone,
        working_days=days,
        workday_starts_at=_as_time(starts),
        workday_ends_at=_as_time(ends),
    )
    client._state.adding = False
    return client

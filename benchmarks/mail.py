"""Mail channel figures: ingestion rate, threading on a reply corpus, announcement queueing,
SMTP delivery.

Seeds a dedicated database with clients, their contacts and tickets on which a
technician replied (each reply's notification goes to the outbox, through the real
services and mail/notify.py), then measures in this one process:

* ``mail_threading_correct_pct`` — a generated corpus of replies to those notifications
  (atalaya/mail/tests/corpus.py: Outlook, Outlook on the web, Gmail, Apple Mail,
  Thunderbird, phones, replies to replies, reply-all delivered to two mailboxes,
  forwards) is ingested; a reply is correct when it lands on its ticket by the expected
  rule, a second delivery when it is a duplicate of the first;
* ``mail_ingest_per_s`` — sequential ``ingest`` calls on a mix of new requests (about
  40 %), replies (50 %), attachments (10 %) and auto-replies and bounces;
* ``announcement_queue_10k_s`` — ``send_announcement`` to 10,000 contacts;
* ``smtp_delivery_per_s`` — ``deliver_due`` to an aiosmtpd server on 127.0.0.1 started
  here, which counts what it receives (and must receive every mail).

The database follows ``ATALAYA_DATABASE_URL``: on PostgreSQL a database ``bench_mail``
on that server (dropped and created here), otherwise ``var/bench/mail/mail.sqlite3``.
Its data directory (raw mail, attachments, the job store) is ``var/bench/mail/``.

    .venv/bin/python benchmarks/mail.py
    .venv/bin/python benchmarks/mail.py --ingest 500 --replies 1000 --profile
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mail \
        .venv/bin/python benchmarks/mail.py
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import random
import re
import shutil
import socket
import sys
import threading
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DIR = ROOT / "var" / "bench" / "mail"
DB_NAME = "bench_mail"
SUPPORT = "support@atalaya.localhost"
SECOND_MAILBOX = "helpdesk@atalaya.localhost"


def log(message: str) -> None:
    print(f"# {message}", flush=True)


def result(name: str, value: float, unit: str) -> None:
    print(f"RESULT {name}={value:.1f} {unit}", flush=True)


# --- the database ---------------------------------------------------------------------


def configure_database() -> str:
    """Point Django at a fresh bench database and data directory before it starts."""
    base = os.environ.get("ATALAYA_DATABASE_URL", "")
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["ATALAYA_DATA_DIR"] = str(BENCH_DIR)
    os.environ["ATALAYA_MEDIA_ROOT"] = str(BENCH_DIR / "media")
    # Jobs (the delivery kick after queueing) go to the bench's own job store, not run.
    os.environ["ATALAYA_JOBS_IMMEDIATE"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(base)
        admin_url = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        url = urlunparse(parsed._replace(path=f"/{DB_NAME}"))
    else:
        url = f"sqlite:///{BENCH_DIR / 'mail.sqlite3'}"
    os.environ["ATALAYA_DATABASE_URL"] = url
    return url


# --- profiling ------------------------------------------------------------------------


@contextmanager
def profiled(enabled: bool, label: str, top: int) -> Iterator[None]:
    """cProfile the block and print its top functions (own time, then cumulative)."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        dump = BENCH_DIR / f"profile_{label}.pstats"
        profiler.dump_stats(dump)
        log(f"profile of {label} written to {dump.relative_to(ROOT)}")
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats(order).print_stats(top)
            log(f"profile of {label}, by {order}:")
            for line in out.getvalue().splitlines():
                if line.strip() and not line.startswith(("   Ordered by", "         ")):
                    print(f"#   {line}")
                elif "function calls" in line:
                    print(f"#   {line.strip()}")


# --- seeding --------------------------------------------------------------------------

FIRST = ["Ana", "José", "María", "Begoña", "Íñigo", "Lucía", "Jürgen", "Zoë", "Peter", "Núria"]
LAST = ["Muñoz", "Peña", "Ibáñez", "García", "López", "Müller", "Smith", "Zárate", "Ruiz"]
TICKET_SUBJECTS = [
    "La VPN no conecta desde casa",
    "Printer on the second floor offline",
    "El correo va muy lento",
    "Cannot open the shared drive",
    "Alta de usuario nuevo",
    "Teams se cierra solo",
]
STAFF_REPLIES = [
    "Hemos reiniciado el servidor de VPN; pruebe de nuevo, por favor.\n"
    "Si sigue igual, responda a este correo.",
    "We have restarted the print spooler. Could you try again and tell us?",
    "Hemos ampliado el buzón a 50 GB; debería ir más rápido a partir de ahora.",
    "The share was remapped; please sign out and in again.",
]


class World:
    """What the seed made: people, mailboxes, tickets and the notifications sent."""

    def __init__(self) -> None:
        self.admin: Any = None
        self.tech: Any = None
        self.mailboxes: dict[str, Any] = {}
        self.clients: list[Any] = []
        self.contacts: dict[int, list[Any]] = {}
        self.sent: list[Any] = []


def seed(args: argparse.Namespace, rng: random.Random) -> World:
    from atalaya.core import services as core_services
    from atalaya.mail import services as mail_services
    from atalaya.mail.models import OutboundMessage
    from atalaya.mail.tests.corpus import SentMail
    from atalaya.tickets import services as ticket_services

    # full_clean() of clients and contacts validates the time zone against
    # zoneinfo.available_timezones(), a walk of the zoneinfo tree (~20 ms) each time.
    zoneinfo.available_timezones = functools.lru_cache(maxsize=1)(zoneinfo.available_timezones)
    started = time.perf_counter()
    world = World()
    world.admin = core_services.create_staff_user(
        actor=None, username="admin", password="bench-admin-pw", role="admin"
    )
    world.tech = core_services.create_staff_user(
        actor=None, username="tecnico", password="bench-tech-pw", role="technician"
    )
    for address in (SUPPORT, SECOND_MAILBOX):
        world.mailboxes[address] = mail_services.create_mailbox(actor=None, address=address)
    for i in range(args.clients):
        client = core_services.create_client(
            actor=None,
            name=f"Cliente {i} S.L.",
            language="es" if i % 4 else "en",
            mail_domains=[f"cliente{i}.example"],
        )
        world.clients.append(client)
        world.contacts[client.pk] = [
            core_services.create_contact(
                actor=None,
                clients=[client],
                name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                email=f"c{j}@cliente{i}.example",
                language=client.language if rng.random() < 0.85 else rng.choice(["es", "en"]),
            )
            for j in range(args.contacts_per_client)
        ]
    log(
        f"{args.clients} clients, {args.clients * args.contacts_per_client} contacts in "
        f"{time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    for k in range(args.tickets):
        client = world.clients[k % len(world.clients)]
        contact = rng.choice(world.contacts[client.pk])
        ticket = ticket_services.create_ticket(
            actor=world.tech,
            client=client,
            contact=contact,
            subject=rng.choice(TICKET_SUBJECTS),
            body="Desde esta mañana no funciona.",
        )
        ticket_services.add_reply(ticket, actor=world.tech, body=rng.choice(STAFF_REPLIES))
    rows = list(
        OutboundMessage.objects.filter(kind="reply", ticket__isnull=False)
        .select_related("ticket", "contact")
        .order_by("id")
    )
    if len(rows) < args.tickets:
        raise SystemExit(
            f"only {len(rows)} reply notifications in the outbox for {args.tickets} staff "
            "replies: is mail/notify.py connected to tickets.signals.staff_replied?"
        )
    for row in rows:
        people = world.contacts.get(row.client_id, [])
        colleagues = [(c.name, c.email) for c in people if c.email != row.to_address][:4]
        world.sent.append(SentMail.from_outbound(row, colleagues))
    log(
        f"{args.tickets} tickets with a technician's reply, {len(rows)} notifications queued "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return world


# --- threading ------------------------------------------------------------------------


def run_threading(args: argparse.Namespace, world: World) -> datetime:
    from atalaya.mail.inbound import ingest
    from atalaya.mail.tests import corpus

    mails = corpus.reply_corpus(
        world.sent, count=args.replies, seed=31, second_mailbox=SECOND_MAILBOX
    )
    styles = Counter(m.style for m in mails)
    log(
        f"threading corpus: {len(mails)} deliveries of {args.replies} replies, "
        f"{len(styles)} styles: " + ", ".join(f"{s} {n}" for s, n in sorted(styles.items()))
    )
    correct, wrong = 0, []
    per_style: Counter[str] = Counter()
    first_copy: dict[str, int | None] = {}
    started = time.perf_counter()
    for mail in mails:
        got = ingest(mail.raw, mailbox=world.mailboxes[mail.mailbox], now=mail.received_at)
        if mail.is_duplicate:
            ok = got.is_duplicate and got.inbound_id == first_copy.get(mail.message_id)
        else:
            first_copy[mail.message_id] = got.inbound_id
            ok = (
                got.ticket_number == mail.ticket_number
                and got.matched_rule == mail.expected_rule
                and not got.is_duplicate
                and got.outcome == "appended"
            )
        if ok:
            correct += 1
        else:
            per_style[mail.style] += 1
            wrong.append(
                f"{mail.style}: want #{mail.ticket_number} by {mail.expected_rule}"
                f"{' (duplicate)' if mail.is_duplicate else ''}, got "
                f"#{got.ticket_number} by {got.matched_rule or '-'} {got.outcome}"
                f"{' duplicate' if got.is_duplicate else ''} {got.error[:80]}"
            )
    elapsed = time.perf_counter() - started
    log(f"threading corpus ingested in {elapsed:.1f} s ({len(mails) / elapsed:.0f}/s)")
    for line in wrong[:25]:
        log(f"  wrong: {line}")
    if per_style:
        log("wrong per style: " + ", ".join(f"{s} {n}" for s, n in per_style.most_common()))
    result("mail_threading_correct_pct", 100.0 * correct / len(mails), "pct")
    return max(m.received_at for m in mails if m.received_at) + timedelta(minutes=5)


# --- ingestion rate -------------------------------------------------------------------


def ingest_mix(args: argparse.Namespace, world: World, start: datetime) -> list[Any]:
    """The mix: ~40 % new requests, ~50 % replies, ~10 % with attachments, a few automatic."""
    from atalaya.mail.tests import corpus

    n = args.ingest
    senders = [(c.name, c.email, c.language) for people in world.contacts.values() for c in people]
    new = corpus.new_mail_corpus(
        senders,
        count=round(n * 0.45),
        seed=41,
        attachment_share=0.18,
        html_only_share=0.08,
        auto_share=0.06,
        bounce_share=0.04,
        bounced_recipients=[s.to_address for s in world.sent[:50]],
        start=start,
    )
    replies = corpus.reply_corpus(
        world.sent,
        count=round(n * 0.5),
        seed=43,
        second_mailbox=SECOND_MAILBOX,
        attachment_share=0.05,
        start=start,
    )
    # Interleaved at random, each list in its order (a reply to a reply after its parent).
    rng = random.Random(47)
    mix: list[Any] = []
    i = j = 0
    while i < len(new) or j < len(replies):
        left = len(new) - i
        if j >= len(replies) or (left and rng.random() < left / (left + len(replies) - j)):
            mix.append(new[i])
            i += 1
        else:
            mix.append(replies[j])
            j += 1
    return mix


def category(mail: Any) -> str:
    if mail.style in ("auto_reply", "bounce"):
        return "automatic"
    if mail.attachment_bytes:
        return "attachment"
    return "new" if mail.ticket_number is None else "reply"


def run_ingest(args: argparse.Namespace, world: World, start: datetime) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from atalaya.mail.inbound import ingest
    from atalaya.mail.parse import parse_message

    t0 = time.perf_counter()
    mix = ingest_mix(args, world, start)
    kinds = Counter(category(m) for m in mix)
    size = sum(len(m.raw) for m in mix)
    log(
        f"ingest mix of {len(mix)} mails, {size / 1e6:.0f} MB, generated in "
        f"{time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {100 * v / len(mix):.0f} %" for k, v in sorted(kinds.items()))
    )
    # Arrivals 6 s apart on the simulated clock (a busy desk, 600 mails an hour), so the
    # loop check sees the rates real senders have; the wall clock is what is measured.
    gap = timedelta(seconds=6)
    clock = iter(start + gap * k for k in range(len(mix) + 10))
    # Warm-up: the first mails of each kind, with their queries counted.
    probes: list[Any] = []
    for kind in sorted(kinds):
        probes += [m for m in mix if category(m) == kind][: max(1, args.warmup // len(kinds))]
    probe_ids = {id(m) for m in probes}
    shown: set[str] = set()
    for mail in probes:
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            ingest(mail.raw, mailbox=world.mailboxes[mail.mailbox], now=next(clock))
            ms = (time.perf_counter() - t) * 1000
        db_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
        log(
            f"  warm-up {category(mail)} ({mail.style}, {len(mail.raw) // 1000} KB): "
            f"{ms:.1f} ms, {len(ctx.captured_queries)} queries, {db_ms:.1f} ms in the database"
        )
        if category(mail) not in shown:
            # The slowest queries of the first mail of each kind, for whoever tunes them.
            shown.add(category(mail))
            slowest = sorted(ctx.captured_queries, key=lambda q: float(q["time"]), reverse=True)
            for q in slowest[:3]:
                log(f"      {float(q['time']) * 1000:6.1f} ms  {q['sql'][:240]}")
    timed = [m for m in mix if id(m) not in probe_ids]
    per_kind: dict[str, list[float]] = {}
    outcomes: Counter[str] = Counter()
    misthreaded = 0
    with profiled(args.profile, "ingest", args.profile_top):
        started = time.perf_counter()
        for mail in timed:
            t = time.perf_counter()
            got = ingest(mail.raw, mailbox=world.mailboxes[mail.mailbox], now=next(clock))
            per_kind.setdefault(category(mail), []).append(time.perf_counter() - t)
            outcomes["duplicate" if got.is_duplicate else str(got.outcome)] += 1
            if mail.ticket_number is not None and got.ticket_number != mail.ticket_number:
                misthreaded += 1
        elapsed = time.perf_counter() - started
    # The parser alone on the same mails, to tell its share from the database's.
    t = time.perf_counter()
    for mail in timed:
        parse_message(mail.raw)
    parse_s = time.perf_counter() - t
    log("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    if misthreaded:
        log(f"{misthreaded} replies of the mix did not land on their ticket")
    for kind, samples in sorted(per_kind.items()):
        samples.sort()
        log(
            f"  {kind}: {len(samples)} mails, mean {1000 * sum(samples) / len(samples):.1f} ms, "
            f"p95 {1000 * samples[int(len(samples) * 0.95)]:.1f} ms"
        )
    log(
        f"parse_message alone: {1000 * parse_s / len(timed):.1f} ms a mail, "
        f"{100 * parse_s / elapsed:.0f} % of the ingest time"
    )
    log(f"{len(timed)} mails ingested in {elapsed:.1f} s")
    result("mail_ingest_per_s", len(timed) / elapsed, "per_s")


# --- announcements --------------------------------------------------------------------


def run_announcement(args: argparse.Namespace, world: World) -> Any:
    from django.db import transaction

    from atalaya.comms import services as comms_services
    from atalaya.comms.models import Audience
    from atalaya.core.models import Client, Contact, ContactMembership, MailDomain
    from atalaya.mail.models import OutboundMessage

    n = args.announce
    per_client = 250
    rng = random.Random(53)
    started = time.perf_counter()
    with transaction.atomic():
        clients = Client.objects.bulk_create(
            [
                Client(name=f"Difusión {k} S.A.", language="es" if k % 3 else "en")
                for k in range((n + per_client - 1) // per_client)
            ]
        )
        clients = list(Client.objects.filter(name__startswith="Difusión ").order_by("id"))
        MailDomain.objects.bulk_create(
            [MailDomain(client=c, domain=f"difusion{k}.example") for k, c in enumerate(clients)]
        )
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    email=f"p{i}@difusion{i // per_client}.example",
                    language=rng.choice(["es", "es", "en"]),
                )
                for i in range(n)
            ],
            batch_size=2000,
        )
        if any(c.pk is None for c in contacts):
            contacts = list(Contact.objects.filter(email__contains="@difusion").order_by("id"))
        ContactMembership.objects.bulk_create(
            [
                ContactMembership(
                    contact=c,
                    client=clients[i // per_client],
                    is_decision_maker=rng.random() < 0.2,
                    is_technical=rng.random() < 0.2,
                )
                for i, c in enumerate(contacts)
            ],
            batch_size=2000,
        )
    log(
        f"{n} contacts across {len(clients)} clients seeded with bulk_create in "
        f"{time.perf_counter() - started:.1f} s"
    )
    announcement = comms_services.create_announcement(
        actor=world.admin,
        subject_en="We are open and working",
        subject_es="Seguimos abiertos y trabajando",
        body_en="Our whole team works remotely and answers as usual.\n\nThe Atalaya team",
        body_es="Todo el equipo trabaja en remoto y responde como siempre.\n\nEl equipo",
        audience=Audience.CHOSEN_CLIENTS,
        clients=clients,
    )
    with profiled(args.profile, "send_announcement", args.profile_top):
        started = time.perf_counter()
        sent = comms_services.send_announcement(actor=world.admin, announcement=announcement)
        elapsed = time.perf_counter() - started
    queued = OutboundMessage.objects.filter(announcement=announcement).count()
    if sent is None or queued != n:
        raise SystemExit(f"announcement queued {queued} mails for {n} contacts ({sent})")
    log(f"{queued} announcement mails queued for {sent.clients} clients in {elapsed:.2f} s")
    name = "announcement_queue_10k_s" if n == 10_000 else f"announcement_queue_{n}_s"
    result(name, elapsed, "s")
    return announcement


# --- SMTP delivery --------------------------------------------------------------------


class CountingHandler:
    """The aiosmtpd handler: accepts, discards, and keeps each Message-ID (for the check)."""

    def __init__(self) -> None:
        self.count = 0
        self.message_ids: set[str] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        head = bytes(envelope.original_content or envelope.content).partition(b"\r\n\r\n")[0]
        found = re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", head)
        with self.lock:
            self.count += len(envelope.rcpt_tos)
            if found:
                self.message_ids.add(found.group(1).decode())
        return "250 2.0.0 Accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_smtp(args: argparse.Namespace) -> None:
    from aiosmtpd.controller import Controller
    from django.conf import settings

    from atalaya.mail import outbox
    from atalaya.mail.models import OutboundMessage

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.SMTP_URL = f"smtp://127.0.0.1:{port}"
        # The announcement throttle (ANNOUNCEMENT_RATE_PER_S, 50/s by default) is the
        # admin's choice of pace; lifted here to measure what one worker can deliver.
        settings.ANNOUNCEMENT_RATE_PER_S = 0
        due = OutboundMessage.objects.filter(status="queued")
        if args.smtp_count:
            keep = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True))
            OutboundMessage.objects.filter(pk__in=keep[args.smtp_count :]).update(
                status="cancelled"
            )
        queued = OutboundMessage.objects.filter(status="queued").count()
        kinds = Counter(
            OutboundMessage.objects.filter(status="queued").values_list("kind", flat=True)
        )
        log(f"{queued} queued mails to deliver: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
        sent = skipped = failed = 0
        with profiled(args.profile, "deliver_due", args.profile_top):
            started = time.perf_counter()
            while True:
                report = outbox.deliver_due(limit=args.smtp_batch)
                sent += report.sent
                skipped += report.skipped_failing
                failed += report.failed
                if report.errors:
                    log(f"delivery errors: {report.errors[:3]}")
                if not report.claimed:
                    break
            elapsed = time.perf_counter() - started
        # aiosmtpd answers before the handler's count is read: wait for the last ones.
        deadline = time.monotonic() + 5
        while handler.count < sent and time.monotonic() < deadline:
            time.sleep(0.01)
        ids = set(
            OutboundMessage.objects.filter(status="sent").values_list("message_id", flat=True)
        )
        log(
            f"{sent} sent in {elapsed:.1f} s, {skipped} not tried (the address bounced in "
            f"the ingest mix); the server received {handler.count}"
        )
        if (
            handler.count != sent
            or sent + skipped != queued
            or failed != skipped
            or ids != handler.message_ids
        ):
            raise SystemExit(
                f"delivery check failed: {queued} queued, {sent} reported sent, {failed} "
                f"failed ({skipped} to failing addresses), {handler.count} received, "
                f"{len(ids ^ handler.message_ids)} Message-IDs differ"
            )
        result("smtp_delivery_per_s", sent / elapsed, "per_s")
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--contacts-per-client", type=int, default=8)
    parser.add_argument(
        "--tickets", type=int, default=400, help="tickets with a notification to reply to"
    )
    parser.add_argument("--replies", type=int, default=1200, help="replies in the threading corpus")
    parser.add_argument("--ingest", type=int, default=3000, help="mails in the ingestion mix")
    parser.add_argument(
        "--warmup", type=int, default=20, help="mails ingested first, their queries counted"
    )
    parser.add_argument("--announce", type=int, default=10_000, help="announcement recipients")
    parser.add_argument(
        "--smtp-count", type=int, default=0, help="deliver at most this many (0: all queued)"
    )
    parser.add_argument("--smtp-batch", type=int, default=500, help="deliver_due's limit per run")
    parser.add_argument(
        "--only", default="threading,ingest,announce,smtp", help="comma list of the sections"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print the top of a cProfile of each section"
    )
    parser.add_argument("--profile-top", type=int, default=30)
    args = parser.parse_args()
    sections = {s.strip() for s in args.only.split(",") if s.strip()}

    url = configure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    log(f"database {connection.vendor} {url.rsplit('/', 1)[-1]}")
    call_command("migrate", verbosity=0)
    world = seed(args, random.Random(17))
    start = max(s.sent_at for s in world.sent) + timedelta(minutes=5)
    if "threading" in sections:
        start = run_threading(args, world)
    if "ingest" in sections:
        run_ingest(args, world, start)
    if "announce" in sections:
        run_announcement(args, world)
    if "smtp" in sections:
        run_smtp(args)


if __name__ == "__main__":
    main()

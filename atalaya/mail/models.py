"""The mail channel: mailboxes, the ledger of received mail, the outbox, templates.

Every mail received is one ``InboundMessage`` row keyed by its Message-ID, whatever
became of it (a new ticket, a reply, an auto-reply that was ignored, a dead letter),
with its raw bytes kept on disk. Every mail sent is one ``OutboundMessage`` row of the
outbox, per recipient, with its own Message-ID. Together they are the Message-ID
ledger that threads replies: an In-Reply-To or References header names one of them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Contact, Role


class ImapSecurity(models.TextChoices):
    IMAPS = "imaps", _("IMAPS (TLS from the start)")
    STARTTLS = "starttls", _("STARTTLS")
    PLAIN = "plain", _("None (only on a trusted network)")


class Mailbox(models.Model):
    """An address Atalaya receives mail at; its mail lands in one queue.

    Mail arrives piped from the MTA (``atalaya mail ingest``) or fetched over IMAP when
    ``imap_host`` is set. ``is_trusted_for_staff`` says the MSP's own mail server
    vouches for senders here (an internal address): only through such a mailbox does a
    mail from a staff address count as a technician's reply.
    """

    address = models.EmailField(unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    queue = models.ForeignKey(
        "tickets.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    is_trusted_for_staff = models.BooleanField(default=False)
    # The "report phishing" address: a forwarded mail becomes a ticket of the sender's
    # client with the verdict of every link in it (security/phishing).
    is_phishing_report = models.BooleanField(default=False)
    imap_host = models.CharField(max_length=253, blank=True, default="")
    imap_port = models.PositiveIntegerField(null=True, blank=True)
    imap_security = models.CharField(
        max_length=10, choices=ImapSecurity.choices, default=ImapSecurity.IMAPS
    )
    imap_username = models.CharField(max_length=200, blank=True, default="")
    # The IMAP server needs the password itself, so it cannot be hashed like our own
    # secrets; it is never shown again once saved.
    imap_password = models.CharField(max_length=200, blank=True, default="")
    imap_folder = models.CharField(max_length=200, default="INBOX")
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # A fetch run claims the mailbox by compare-and-set on this (mail/imap.py), so two
    # workers never fetch it at once; a claim older than the lease is a crashed run's.
    fetch_claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.address

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.address = self.address.strip().lower()
        super().save(*args, **kwargs)

    @property
    def fetches_imap(self) -> bool:
        return bool(self.imap_host)


class Outcome(models.TextChoices):
    CREATED = "created", _("Opened a ticket")
    APPENDED = "appended", _("Added to a ticket")
    TRIAGE = "triage", _("Waiting for triage")
    AUTO_REPLY = "auto_reply", _("Auto-reply, ignored")
    BOUNCE = "bounce", _("Bounce")
    LOOP = "loop", _("Mail loop, ignored")
    DEAD_LETTER = "dead_letter", _("Could not be processed")


class MatchRule(models.TextChoices):
    """How a received mail found its ticket, strongest first (the order they are tried)."""

    IN_REPLY_TO = "in_reply_to", _("In-Reply-To")
    REFERENCES = "references", _("References")
    SUBJECT_TOKEN = "subject_token", _("ticket number in the subject")
    REPLY_ADDRESS = "reply_address", _("the ticket's reply address")
    BODY_TOKEN = "body_token", _("the reference in the quoted text")
    ANNOUNCEMENT = "announcement", _("reply to an announcement")
    NEW = "new", _("no match: new ticket")
    MOVED = "moved", _("moved by a technician")


class InboundMessageQuerySet(models.QuerySet["InboundMessage"]):
    def visible_to(self, user: Any) -> InboundMessageQuerySet:
        """Raw received mail is for MSP staff only (a dead letter may belong to anyone)."""
        if user is not None and getattr(user, "is_msp_staff", False):
            return self.all()
        return self.none()

    def dead_letters(self) -> InboundMessageQuerySet:
        return self.filter(outcome=Outcome.DEAD_LETTER)


class InboundMessage(models.Model):
    """One mail received, once: the Message-ID is unique, so a mail fetched twice or
    delivered to two mailboxes (reply-all with CC) is recognised and changes nothing.

    ``raw`` keeps the exact bytes, so a dead letter can be processed again and nothing
    a client sent is lost. A mail without a Message-ID gets one made from its bytes.
    """

    message_id = models.CharField(max_length=255, unique=True)
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    raw = models.FileField(upload_to="mail/raw/", max_length=300)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    from_address = models.CharField(max_length=254, blank=True, default="", db_index=True)
    from_name = models.CharField(max_length=200, blank=True, default="")
    subject = models.CharField(max_length=250, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    matched_rule = models.CharField(max_length=16, choices=MatchRule.choices, blank=True)
    # What matched: the Message-ID, the token or the address, for "matched by …".
    matched_value = models.CharField(max_length=255, blank=True, default="")
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inbound_messages",
    )
    event = models.ForeignKey(
        "tickets.TicketEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A staff address through an untrusted mailbox, a stranger on a client's ticket.
    is_flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=250, blank=True, default="")
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1)

    objects = InboundMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["outcome", "-received_at"], name="inbound_outcome_received"),
            models.Index(fields=["client", "-received_at"], name="inbound_client_received"),
        ]

    def __str__(self) -> str:
        return f"<{self.message_id}> {self.outcome}"


class Delivery(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")
    CANCELLED = "cancelled", _("Cancelled")


class OutboundKind(models.TextChoices):
    REPLY = "reply", _("Reply to the client")
    RESOLVED = "resolved", _("Ticket resolved")
    ASSIGNED = "assigned", _("Ticket assigned")
    SLA_DUE = "sla_due", _("SLA due soon")
    ANNOUNCEMENT = "announcement", _("Announcement")
    INVOICE = "invoice", _("Invoice")
    SECURITY = "security", _("Security notice")
    AWARENESS = "awareness", _("Awareness tip")
    QUOTE = "quote", _("Quote")
    REPORT = "report", _("Monthly report")


class OutboundMessageQuerySet(models.QuerySet["OutboundMessage"]):
    def visible_to(self, user: Any) -> OutboundMessageQuerySet:
        """Staff see the whole outbox; a client's user the mail sent to their clients."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.filter(
                client__in=Client.objects.visible_to(user), contact_id=user.contact_id
            )
        return self.none()

    def due(self, now: Any) -> OutboundMessageQuerySet:
        return self.filter(status=Delivery.QUEUED, next_attempt_at__lte=now)


class OutboundMessage(models.Model):
    """One mail to one recipient, written in the same transaction as the change that
    caused it and sent later by a worker (DESIGN.md's outbox).

    ``idempotency_key`` is unique: the same cause never queues two mails. A worker
    claims a row by compare-and-set on ``claimed_at``; a claim older than the lease is
    taken over, and since the Message-ID is fixed at queue time a mail re-sent after a
    crash is the same mail to every receiver (and to Atalaya's own ledger).
    """

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=OutboundKind.choices)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="outbound_messages")
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outbound_messages",
    )
    event = models.ForeignKey(
        "tickets.TicketEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    announcement = models.ForeignKey(
        "comms.Announcement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_address = models.EmailField()
    to_name = models.CharField(max_length=200, blank=True, default="")
    language = models.CharField(max_length=5, default="en")
    from_address = models.CharField(max_length=300)
    reply_to = models.CharField(max_length=300, blank=True, default="")
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True, default="")
    message_id = models.CharField(max_length=255, unique=True)
    in_reply_to = models.CharField(max_length=255, blank=True, default="")
    references = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # Set when the mail has OutboundAttachment rows, so building the many plain mails
    # costs no query for attachments they do not have.
    has_attachments = models.BooleanField(default=False)

    objects = OutboundMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's scan: queued rows whose time has come, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                name="outbound_due",
                condition=models.Q(status="queued"),
            ),
            models.Index(fields=["ticket", "created_at"], name="outbound_ticket_created"),
            models.Index(fields=["client", "-created_at"], name="outbound_client_created"),
            models.Index(fields=["announcement", "status"], name="outbound_announcement"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address} ({self.status})"


class OutboundAttachment(models.Model):
    """A file sent with an outbox mail (an invoice's PDF), stored with the row it belongs to.

    The bytes live in the database, not on disk, so the mail is built from its rows
    alone and a re-send after a crash is byte for byte the same mail.
    """

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    position = models.PositiveIntegerField(default=0)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    content = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["message_id", "position", "id"]

    def __str__(self) -> str:
        return self.filename


class FailingAddress(models.Model):
    """A mail address that bounced: shown on its contact, and not mailed until cleared.

    Not client-owned (one address may be a technician's); staff see it on the contact.
    """

    address = models.CharField(max_length=254, unique=True)
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(default=1)
    # The DSN's status and diagnostic ("5.1.1 user unknown").
    reason = models.CharField(max_length=500, blank=True, default="")
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_failed_at"]

    def __str__(self) -> str:
        return f"{self.address}: {self.reason}"

    @property
    def is_failing(self) -> bool:
        return self.cleared_at is None


class MailTemplate(models.Model):
    """An admin's wording of one notification in one language; the shipped default
    (mail/templates/mail/notify/) applies where there is none.

    Subject and body are Django template text rendered with a small context of plain
    values (ticket number, subject, names, links), never model objects.
    """

    key = models.CharField(max_length=40)
    language = models.CharField(max_length=5)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "language"], name="mail_template_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.language})"

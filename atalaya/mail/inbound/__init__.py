"""The inbound pipeline: one received mail → the ledger, and a ticket, a reply or nothing.

``ingest`` is what ``atalaya mail ingest`` and the IMAP fetcher call. In order:

1. the raw bytes are stored (content-addressed under MEDIA_ROOT) and an
   ``InboundMessage`` row is written for its Message-ID; the unique constraint makes a
   second copy (fetched twice, reply-all to two mailboxes) a duplicate that changes
   nothing, also when two workers race;
2. the mail is parsed (mail/parse.py) and matched to a ticket: the Message-ID ledger
   (In-Reply-To, then References), ``[#1234]`` in the subject, the ticket's reply
   address, the signed reference in the quoted text; else it is a new request;
3. the sender is found: a contact by address, a client by mail domain, else a contact
   waiting for triage; a staff address counts as a technician only through a mailbox
   trusted for staff;
4. auto-replies, bounces and loops are recorded and go no further.

Everything runs in one transaction per mail, the processing in a savepoint: whatever
raises there rolls back and leaves the row as a dead letter with its error and its
bytes, to be processed again from the admin's list. Only a failure to store the mail
at all (the database is down) leaves ``ingest`` as ``MailNotStored``.
"""

from atalaya.mail.inbound.actions import (
    failing_addresses,
    move_mail_message,
    resolve_triage,
    split_mail_message,
)
from atalaya.mail.inbound.pipeline import (
    IngestResult,
    MailNotStored,
    ingest,
    raw_path,
    read_raw,
    reprocess,
)

__all__ = [
    "IngestResult",
    "MailNotStored",
    "failing_addresses",
    "ingest",
    "move_mail_message",
    "raw_path",
    "read_raw",
    "reprocess",
    "resolve_triage",
    "split_mail_message",
]

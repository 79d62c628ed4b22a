"""A client's communication log: every mail in, every mail out, every announcement, in one
timeline, newest first.

Three queries whatever the length (one per source, each reading its (client, time)
index and stopping after ``limit + 1`` rows), merged in Python. Announcement mails are
not listed one by one: the announcement's own row stands for them, with how many of
the client's contacts it reached, and links to its per-recipient delivery status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atalaya.comms.models import AnnouncementClient
from atalaya.core.models import Client
from atalaya.mail.models import InboundMessage, OutboundKind, OutboundMessage


@dataclass(frozen=True)
class LogEntry:
    """One line of the log: ``kind`` is "in", "out" or "announcement"."""

    kind: str
    at: datetime
    subject: str
    address: str = ""
    status: str = ""
    status_label: str = ""
    ticket_number: int | None = None
    announcement_id: Any = None
    recipients: int = 0


@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    # The time to pass as ``before`` for the next (older) page, or None at the end.
    more_before: datetime | None


def communication_log(
    client: Client, *, limit: int = 25, before: datetime | None = None
) -> LogPage:
    """The newest ``limit`` entries of the client's log older than ``before`` (if given)."""
    inbound = InboundMessage.objects.filter(client=client)
    outbound = OutboundMessage.objects.filter(client=client).exclude(kind=OutboundKind.ANNOUNCEMENT)
    reached = AnnouncementClient.objects.filter(client=client)
    if before is not None:
        inbound = inbound.filter(received_at__lt=before)
        outbound = outbound.filter(created_at__lt=before)
        reached = reached.filter(reached_at__lt=before)
    take = limit + 1
    entries: list[LogEntry] = []
    outcome_labels = dict(InboundMessage._meta.get_field("outcome").flatchoices)
    for row in inbound.order_by("-received_at", "-id").values(
        "received_at", "subject", "from_address", "outcome", "ticket__number"
    )[:take]:
        entries.append(
            LogEntry(
                kind="in",
                at=row["received_at"],
                subject=row["subject"],
                address=row["from_address"],
                status=row["outcome"],
                status_label=str(outcome_labels.get(row["outcome"], row["outcome"])),
                ticket_number=row["ticket__number"],
            )
        )
    delivery_labels = dict(OutboundMessage._meta.get_field("status").flatchoices)
    for out_row in outbound.order_by("-created_at", "-id").values(
        "created_at", "subject", "to_address", "status", "ticket__number"
    )[:take]:
        entries.append(
            LogEntry(
                kind="out",
                at=out_row["created_at"],
                subject=out_row["subject"],
                address=out_row["to_address"],
                status=out_row["status"],
                status_label=str(delivery_labels.get(out_row["status"], out_row["status"])),
                ticket_number=out_row["ticket__number"],
            )
        )
    language_subject = "announcement__subject_en"
    for reach_row in reached.order_by("-reached_at", "-id").values(
        "reached_at",
        "recipients",
        "announcement__public_id",
        language_subject,
        "announcement__subject_es",
    )[:take]:
        entries.append(
            LogEntry(
                kind="announcement",
                at=reach_row["reached_at"],
                subject=reach_row[language_subject],
                recipients=reach_row["recipients"],
                announcement_id=reach_row["announcement__public_id"],
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    page = entries[:limit]
    more = len(entries) > limit
    return LogPage(entries=page, more_before=page[-1].at if more and page else None)

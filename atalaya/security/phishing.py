"""The "report phishing" mailbox: a user forwards a suspicious mail, and gets an answer.

A mail that reaches a mailbox marked ``is_phishing_report`` becomes a ticket of the
sender's client as any new mail does (the inbound pipeline). Then, in the same
transaction, every link of the forwarded mail — its text, its HTML with each link's
visible text, and a mail attached as message/rfc822 (how Outlook and Thunderbird
forward "as attachment") — is judged without being opened. The ticket gets an
internal note listing every link with its verdict, score and reasons, a
``PhishingReport`` keeps the judgements, and the user is answered in their language:
dangerous, looks safe, or being checked by a person.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from atalaya.core.models import MailDomain
from atalaya.mail.models import InboundMessage, OutboundKind
from atalaya.mail.outbox import queue_mail
from atalaya.mail.parse import ParsedMail, parse_message
from atalaya.security.links import describe_reason, extract_links, judge_links, worst_verdict
from atalaya.security.links.extract import Link
from atalaya.security.models import PhishingReport, Verdict
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import EventKind, Ticket

log = logging.getLogger(__name__)

MAX_LINKS = 500
# A forwarded mail inside a forwarded mail is looked at; deeper nesting is not.
ATTACHED_MAIL_TYPES = ("message/rfc822",)


def links_of(mail: ParsedMail) -> list[Link]:
    """Every link of the mail and of a mail attached to it, each once, in order."""
    links = extract_links(text=mail.text, html=mail.html, limit=MAX_LINKS)
    for attachment in mail.attachments:
        if (
            attachment.content_type.lower() in ATTACHED_MAIL_TYPES
            or attachment.filename.lower().endswith(".eml")
        ):
            try:
                inner = parse_message(attachment.data)
            except Exception:  # noqa: BLE001 - a broken attachment is no reason to fail the report
                log.warning("attached mail of a phishing report could not be parsed")
                continue
            links += extract_links(text=inner.text, html=inner.html, limit=MAX_LINKS)
    seen: dict[tuple[str, str], Link] = {}
    for link in links:
        seen.setdefault((link.url, link.text), link)
    return list(seen.values())[:MAX_LINKS]


def _note(judged: list[dict[str, Any]], verdict: str) -> str:
    if not judged:
        return _("Phishing report: the mail has no links. A person should look at it.")
    lines = [_("Phishing report: %(verdict)s.") % {"verdict": Verdict(verdict).label}]
    for item in judged:
        reasons = "; ".join(item["explanations"]) or _("no warning sign")
        shown = f" [{item['text'][:80]}]" if item["text"] else ""
        label = Verdict(item["verdict"]).label
        lines.append(f"- {label} ({item['score']:.2f}): {item['url'][:300]}{shown} — {reasons}")
    return "\n".join(lines)


def _answer(verdict: str, subject: str) -> tuple[str, str]:
    if verdict == Verdict.PHISHING:
        lead = _(
            "Thank you for reporting it. This mail is dangerous: do not click its links, do "
            "not open its attachments and delete it. If you already entered a password on "
            "the page it leads to, change it now and tell us by answering this mail."
        )
    elif verdict == Verdict.SUSPICIOUS:
        lead = _(
            "Thank you for reporting it. Some of its links look suspicious, so a technician "
            "is checking it. Until we answer, do not click its links."
        )
    else:
        lead = _(
            "Thank you for reporting it. We found no known warning sign in its links, and "
            "a technician will still look at it. When in doubt, do not click."
        )
    return _("Re: %(subject)s") % {"subject": subject[:200]}, lead + "\n"


def on_report(row: InboundMessage, mail: ParsedMail, *, now: datetime) -> PhishingReport | None:
    """Judge the links of a reported mail, note them on its ticket and answer the user."""
    ticket: Ticket | None = row.ticket
    if ticket is None or row.contact is None or row.client_id is None:
        return None
    contact = row.contact
    own = list(MailDomain.objects.filter(client_id=row.client_id).values_list("domain", flat=True))
    links = links_of(mail)
    judgements = judge_links(links, own_domains=own)
    verdict = worst_verdict(judgements) if judgements else Verdict.SUSPICIOUS
    judged = [
        {
            **j.as_dict(),
            "text": link.text,
            "explanations": [describe_reason(code) for code in j.reasons],
        }
        for link, j in zip(links, judgements, strict=False)
    ]
    ticket_services.timeline_event(
        ticket,
        EventKind.NOTE,
        None,
        now=now,
        body=_note(judged, verdict)[: ticket_services.MAX_BODY_LENGTH],
        data={"links": [{k: v for k, v in item.items() if k != "explanations"} for item in judged]},
    ).save()
    answer = None
    if contact.email:
        with translation.override(contact.language or "es"):
            subject, body = _answer(verdict, mail.subject or "")
        answer = queue_mail(
            key=f"phishing-answer:{row.message_id}",
            kind=OutboundKind.SECURITY,
            client=ticket.client,
            ticket=ticket,
            contact=contact,
            to_address=contact.email,
            to_name=contact.name,
            language=contact.language,
            subject=subject,
            body_text=body,
            in_reply_to=mail.message_id,
            now=now,
        )
    return PhishingReport.objects.create(
        client_id=row.client_id,
        contact=contact,
        ticket=ticket,
        inbound=row,
        verdict=verdict,
        links=[{k: v for k, v in item.items() if k != "explanations"} for item in judged],
        answer=answer,
        created_at=now,
    )


def note_dangerous_links(row: InboundMessage, mail: ParsedMail, *, now: datetime) -> None:
    """Any mail that reached a ticket: when a link in it is suspicious or phishing, an
    internal note warns the technician before they click (links judged fine say nothing)."""
    if row.ticket is None or row.client_id is None:
        return
    links = links_of(mail)
    if not links:
        return
    own = list(MailDomain.objects.filter(client_id=row.client_id).values_list("domain", flat=True))
    judged = [
        {
            **j.as_dict(),
            "text": link.text,
            "explanations": [describe_reason(code) for code in j.reasons],
        }
        for link, j in zip(links, judge_links(links, own_domains=own), strict=False)
        # The model's hunch alone is too often wrong to put a warning on a client's
        # ordinary mail; a rule or a feed must back it.
        if j.verdict != Verdict.OK and j.reasons != ["model"]
    ]
    if not judged:
        return
    verdict = (
        Verdict.PHISHING
        if any(i["verdict"] == Verdict.PHISHING for i in judged)
        else Verdict.SUSPICIOUS
    )
    body = _("Careful: this mail has links that look dangerous (%(verdict)s).") % {
        "verdict": Verdict(verdict).label
    }
    lines = [body] + [
        f"- {item['url'][:300]} — {'; '.join(item['explanations'])}" for item in judged[:50]
    ]
    ticket_services.timeline_event(
        row.ticket,
        EventKind.NOTE,
        None,
        now=now,
        body="\n".join(lines)[: ticket_services.MAX_BODY_LENGTH],
        data={"links": [{k: v for k, v in i.items() if k != "explanations"} for i in judged]},
    ).save()


def handle_received_mail(
    row: InboundMessage, mail: ParsedMail, *, is_new_ticket: bool, now: datetime
) -> None:
    """The pipeline's hook, for every mail that reached a ticket: a report to the
    phishing mailbox is judged and answered, any other mail's dangerous links are
    noted. A judgement that fails is logged, never costs the mail its ticket."""
    try:
        with transaction.atomic():
            # A new mail to the report address is a report; a reply on a report's
            # ticket (the user answering us) is an ordinary mail.
            if is_new_ticket and row.mailbox is not None and row.mailbox.is_phishing_report:
                on_report(row, mail, now=now)
            else:
                note_dangerous_links(row, mail, now=now)
    except Exception:  # noqa: BLE001 - the ticket and the mail stay; a person still sees them
        log.exception("the links of %s could not be judged", row.message_id)

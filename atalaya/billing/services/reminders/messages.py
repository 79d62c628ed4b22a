"""The words of each reminder, in the recipient's language: friendly first, firm only later.

Plain format strings, not templates: a run renders tens of thousands of previews, and
each is rendered with the recipient's language active (grouped by language, so the
catalogue is switched once per language, not once per message).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext

from atalaya.billing.models import ReminderChannel, ReminderKind
from atalaya.billing.services.reminders.decision import Level, money_text


@dataclass
class MessageFacts:
    code: str
    client_name: str
    total: Decimal
    open_balance: Decimal
    currency: str
    due_date: date
    days_overdue: int
    sender: str
    after_return: bool = False


# A run renders tens of thousands of messages from a dozen sentences: each sentence is
# looked up in the catalogue once per language (gettext's own lookup showed as a third
# of the proposal's time), and each due date formatted once per language.
_TRANSLATED: dict[tuple[str, str], str] = {}
_DATES: dict[tuple[str, date], str] = {}
# The language ``rendering`` switched to: Django's get_language goes through asgiref's
# Local, which cost more than the rendering itself at this volume.
_current = threading.local()


@contextmanager
def rendering(language: str) -> Iterator[None]:
    """Render messages in ``language`` (activates it, and remembers it cheaply)."""
    previous = getattr(_current, "language", None)
    with translation.override(language):
        _current.language = get_language() or language
        try:
            yield
        finally:
            _current.language = previous


def _language() -> str:
    return getattr(_current, "language", None) or get_language() or ""


def _(message: str) -> str:
    key = (_language(), message)
    found = _TRANSLATED.get(key)
    if found is None:
        found = _TRANSLATED[key] = gettext(message)
    return found


def _short_date(value: date) -> str:
    key = (_language(), value)
    found = _DATES.get(key)
    if found is None:
        found = _DATES[key] = date_format(value, "SHORT_DATE_FORMAT")
    return found


def staff_language() -> str:
    """Tasks are read by the MSP's people: the install's language."""
    return str(settings.LANGUAGE_CODE or "en")[:2]


def render(level: Level, m: MessageFacts) -> tuple[str, str]:
    """(subject, body) of the message ``level`` sends, in the active language."""
    values: dict[str, Any] = {
        "code": m.code,
        "client": m.client_name,
        "total": money_text(m.total, m.currency, _language()),
        "balance": money_text(m.open_balance, m.currency, _language()),
        "due": _short_date(m.due_date),
        "days": m.days_overdue,
        "sender": m.sender or _("Your IT provider"),
    }
    if level.channel == ReminderChannel.TASK or level.kind == ReminderKind.CALL:
        subject = _("Call %(client)s about invoice %(code)s") % values
        body = (
            _(
                "Invoice %(code)s of %(client)s: %(balance)s open of %(total)s, due on %(due)s "
                "(%(days)s days ago). The written reminders have not brought a payment.\n\n"
                "Please call the client: ask how they are, whether anything is wrong with the "
                "invoice, and agree a way forward. Note what was agreed on this ticket."
            )
            % values
        )
        return subject, body
    if level.kind == ReminderKind.FRIENDLY:
        subject = _("A friendly note about invoice %(code)s") % values
        if m.after_return:
            opening = (
                _(
                    "Our direct debit for invoice %(code)s (%(total)s) came back from your bank, "
                    "so %(balance)s is still open. This happens, and it is easily put right."
                )
                % values
            )
        else:
            opening = (
                _(
                    "Our records show that invoice %(code)s of %(total)s, due on %(due)s, still "
                    "has %(balance)s open (%(days)s days since the due date)."
                )
                % values
            )
        body = (
            _("Hello,")
            + "\n\n"
            + opening
            + "\n\n"
            + _(
                "If you have already paid, thank you, and please ignore this note: payments "
                "sometimes cross. If anything about the invoice is not right, just reply and "
                "we will sort it out together."
            )
            + "\n\n"
            + _("Kind regards,")
            + "\n"
            + values["sender"]
        )
        return subject, body
    if level.kind == ReminderKind.REMINDER:
        subject = _("Reminder: invoice %(code)s is overdue") % values
        body = (
            _("Hello,")
            + "\n\n"
            + _(
                "Invoice %(code)s of %(total)s was due on %(due)s and %(balance)s is still "
                "open (%(days)s days overdue). Could you please arrange the payment?"
            )
            % values
            + "\n\n"
            + _(
                "If you have paid in the meantime, thank you, and please ignore this message. "
                "If there is a problem, reply to this mail and we will find a solution."
            )
            + "\n\n"
            + _("Kind regards,")
            + "\n"
            + values["sender"]
        )
        return subject, body
    subject = _("Invoice %(code)s: payment overdue") % values
    body = (
        _("Hello,")
        + "\n\n"
        + _(
            "Despite our earlier reminders, invoice %(code)s of %(total)s, due on %(due)s, "
            "still has %(balance)s open (%(days)s days overdue). Please pay it within the "
            "next 7 days, or contact us so we can agree how to proceed."
        )
        % values
        + "\n\n"
        + _("If you have paid in the meantime, please ignore this message.")
        + "\n\n"
        + _("Kind regards,")
        + "\n"
        + values["sender"]
    )
    return subject, body

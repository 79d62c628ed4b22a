"""Template helpers of the ticket UI: labels and badges for status, priority, SLA and events.

Everything here builds HTML with format_html, so values that came from users are escaped.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from atalaya.tickets.models import (
    Category,
    Priority,
    Status,
    Ticket,
    TicketEvent,
    display_name,
)

register = template.Library()


def _sla_labels() -> dict[str, str]:
    return {
        "breached": _("Breached"),
        "due_soon": _("Due soon"),
        "paused": _("Paused"),
        "ok": _("On time"),
        "none": _("No SLA"),
    }


@register.filter
def status_label(value: Any) -> str:
    try:
        return str(Status(value).label)
    except ValueError:
        return "" if value is None else str(value)


@register.filter
def priority_label(value: Any) -> str:
    try:
        return str(Priority(value).label)
    except ValueError:
        return "" if value is None else str(value)


@register.filter
def priority_badge(value: Any) -> SafeString:
    return format_html('<span class="badge prio-{}">{}</span>', value, priority_label(value))


@register.filter
def status_badge(value: Any) -> SafeString:
    return format_html('<span class="badge status-{}">{}</span>', value, status_label(value))


@register.simple_tag
def sla_badge(ticket: Ticket, now: Any = None) -> SafeString:
    """The SLA state of the ticket as a coloured badge (``now`` shared across a page)."""
    state = ticket.sla_state(now or timezone.now())
    return format_html(
        '<span class="badge sla-{}">{}</span>', state, _sla_labels().get(state, state)
    )


@register.filter
def sla_label(state: str) -> str:
    return _sla_labels().get(state, state)


@register.filter
def category_name(category: Category | None) -> str:
    if category is None:
        return ""
    return category.localized_name(get_language() or "en")


@register.filter
def seeded_name(name: str | None) -> str:
    """A queue's or work type's name, in the viewer's language if the install created it."""
    return display_name(name)


_FIELD_LABELS = {
    "status": gettext_lazy("Status"),
    "priority": gettext_lazy("Priority"),
    "assignee": gettext_lazy("Assignee"),
    "subject": gettext_lazy("Subject"),
    "site": gettext_lazy("Site"),
    "contact": gettext_lazy("Contact"),
    "queue": gettext_lazy("Queue"),
    "category": gettext_lazy("Category"),
}


@register.filter
def event_changes(event: TicketEvent) -> list[tuple[str, str, str]]:
    """(field, before, after) triples of a change event, with status and priority labelled."""
    rows = []
    for field, pair in event.changes.items():
        before, after = (list(pair) + [None, None])[:2]
        if field == "status":
            before, after = status_label(before), status_label(after)
        elif field == "priority":
            before, after = priority_label(before), priority_label(after)
        elif field == "queue":
            before, after = display_name(before), display_name(after)
        label = str(_FIELD_LABELS.get(field, field))
        rows.append(
            (
                label,
                "—" if before in (None, "") else str(before),
                "—" if after in (None, "") else str(after),
            )
        )
    return rows

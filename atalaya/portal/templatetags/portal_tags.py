"""Template filters of the client portal: ticket status in words a client understands."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from atalaya.tickets.models import Status

register = template.Library()

# The technicians' statuses describe the MSP's workflow; a client wants to know
# whose move it is, so the portal says that instead.
PLAIN_STATUS: dict[str, Any] = {
    Status.NEW: _("Received"),
    Status.OPEN: _("We are working on it"),
    Status.WAITING_CLIENT: _("Waiting for your reply"),
    Status.WAITING_THIRD_PARTY: _("Waiting for a supplier"),
    Status.RESOLVED: _("Resolved"),
    Status.CLOSED: _("Closed"),
}

STATUS_HELP: dict[str, Any] = {
    Status.NEW: _("We have your request and a technician will pick it up soon."),
    Status.OPEN: _("A technician is dealing with your request."),
    Status.WAITING_CLIENT: _("We need something from you: please read our last message and reply."),
    Status.WAITING_THIRD_PARTY: _(
        "We are waiting for a supplier or manufacturer and will keep you informed."
    ),
    Status.RESOLVED: _("We think this is solved. Reply if it is not, and the request reopens."),
    Status.CLOSED: _("This request is closed. Reply if you need more help and it reopens."),
}


@register.filter
def portal_status(value: str) -> str:
    """The client-facing name of a ticket status code."""
    return str(PLAIN_STATUS.get(value, value))


@register.filter
def portal_status_help(value: str) -> str:
    """One sentence telling the client what the status means for them."""
    return str(STATUS_HELP.get(value, ""))


@register.filter
def status_after(event: object) -> str:
    """The status a status-change event moved the ticket to."""
    changes = getattr(event, "changes", {}) or {}
    pair = changes.get("status") or [None, None]
    return str(pair[-1] or "")

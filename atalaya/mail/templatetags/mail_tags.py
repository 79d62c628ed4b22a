"""Template tags of the mail channel, used by the ticket page."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("mail/_ticket_deliveries.html")
def ticket_mail_panel(ticket: Any, viewer: Any) -> dict[str, Any]:
    """The ticket's outgoing mail, one row per recipient with its delivery status."""
    return {"ticket": ticket, "deliveries": []}

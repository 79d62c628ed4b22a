"""Template tags of the mail channel, used by the ticket page."""

from __future__ import annotations

from typing import Any

from django import template

from atalaya.mail.models import OutboundMessage

register = template.Library()

# The ticket page shows this many mails at most; the outbox has the rest.
PANEL_LIMIT = 100


@register.inclusion_tag("mail/_ticket_deliveries.html")
def ticket_mail_panel(ticket: Any, viewer: Any) -> dict[str, Any]:
    """The ticket's outgoing mail, one row per recipient with its delivery status (one query)."""
    rows = list(
        OutboundMessage.objects.visible_to(viewer)
        .filter(ticket_id=ticket.pk)
        .only(
            "to_address",
            "to_name",
            "kind",
            "status",
            "attempts",
            "sent_at",
            "last_error",
            "created_at",
        )
        .order_by("created_at", "id")[: PANEL_LIMIT + 1]
    )
    return {"ticket": ticket, "deliveries": rows[:PANEL_LIMIT], "more": len(rows) > PANEL_LIMIT}

"""Template tags of received mail on the ticket timeline and on the client's contacts."""

from __future__ import annotations

from typing import Any

from django import template

from atalaya.mail.models import InboundMessage, MatchRule

register = template.Library()

# Rules whose value is a Message-ID, shown in angle brackets as in the header.
_ID_RULES = {MatchRule.IN_REPLY_TO, MatchRule.REFERENCES, MatchRule.ANNOUNCEMENT}


@register.simple_tag
def mail_index(events: list[Any]) -> dict[str, dict[int, Any]]:
    """For a timeline: each mail event's received mail, and which were moved where.

    One query whatever the number of events (the received mail of the mail events);
    the moves are read from the MOVED events already in the list.
    """
    mail_events = [e.pk for e in events if isinstance(e.data, dict) and "mail" in e.data]
    inbound: dict[int, int] = {}
    if mail_events:
        inbound = dict(
            InboundMessage.objects.filter(event_id__in=mail_events).values_list("event_id", "pk")
        )
    moved: dict[int, dict[str, Any]] = {}
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind == "moved" and data.get("moved_event"):
            number = data.get("moved_to") or data.get("split_to")
            moved[data["moved_event"]] = {"number": number, "split": "split_to" in data}
    return {"inbound": inbound, "moved": moved}


@register.inclusion_tag("mail/_event_mail.html", takes_context=True)
def mail_event(context: Any, event: Any, index: dict[str, dict[int, Any]]) -> dict[str, Any]:
    """How a mail event came: "matched by In-Reply-To <…>", the flag, quoted history,
    files not stored, and the move and split forms for technicians."""
    data = event.data if isinstance(event.data, dict) else {}
    mail = data.get("mail") or {}
    rule = mail.get("matched_by", "")
    value = mail.get("matched_value", "")
    try:
        label = MatchRule(rule).label if rule else ""
    except ValueError:
        label = rule
    user = context.get("user")
    return {
        "event": event,
        "mail": mail,
        "rule": rule,
        "rule_label": label,
        "value": f"<{value}>" if value and rule in _ID_RULES else value,
        "inbound_id": index.get("inbound", {}).get(event.pk),
        "moved": index.get("moved", {}).get(event.pk),
        "moved_from": data.get("moved_from"),
        "can_write": bool(user and getattr(user, "can_write_tickets", False)),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def failing_addresses(memberships: list[Any]) -> set[str]:
    """The contacts' addresses that bounced (one query), for the contact list's badge."""
    from atalaya.mail.inbound import failing_addresses as failing

    return failing([m.contact.email for m in memberships if m.contact.email])

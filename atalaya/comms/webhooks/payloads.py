"""What each event tells a webhook: as little as a chat message or a post needs.

Never internal notes, message bodies, amounts or contacts' addresses: a webhook may
post to a public social network. Each builder takes the domain object the hook has in
hand and reads only fields already loaded or one foreign key away.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse


def absolute(path: str) -> str:
    """A link into Atalaya for the receiver (SITE_URL is the install's public address)."""
    return settings.SITE_URL.rstrip("/") + path


def ticket(obj: Any) -> dict[str, Any]:
    return {
        "number": obj.number,
        "subject": obj.subject,
        "client": obj.client.name,
        "priority": obj.priority,
        "url": absolute(reverse("tickets:detail", args=[obj.number])),
    }


def alert(obj: Any) -> dict[str, Any]:
    device = obj.device
    return {
        "device": (device.display_name or device.hostname) if device is not None else None,
        "site": obj.site.name,
        "client": obj.client.name,
        "check": obj.kind,
        "target": obj.target,
        "severity": obj.severity,
        "url": absolute(reverse("monitoring:alert_detail", args=[obj.public_id])),
    }


def payment_reminder(item: Any) -> dict[str, Any]:
    """A reminder item that was just sent (billing.ReminderItem)."""
    return {
        "invoice": item.invoice.code,
        "client": item.client.name,
        "step": item.step,
        "channel": item.channel,
    }


def fix_reminder(reminder: Any) -> dict[str, Any]:
    """A temporary-fix reminder stage just sent (security.TemporaryFixReminder)."""
    fix = reminder.fix
    return {
        "fix": fix.title,
        "client": fix.client.name,
        "stage": reminder.stage,
        "revert_by": reminder.revert_by.isoformat(),
        "url": absolute(reverse("security:fix_detail", args=[fix.public_id])),
    }


def announcement(obj: Any) -> dict[str, Any]:
    path = reverse("public:detail", args=[obj.public_id])
    return {
        "subject": {"en": obj.subject_en, "es": obj.subject_es},
        "url": {"en": absolute(f"{path}?lang=en"), "es": absolute(f"{path}?lang=es")},
        "published_at": obj.sent_at.isoformat() if obj.sent_at else None,
        "expires_at": obj.expires_at.isoformat() if obj.expires_at else None,
    }


# The model each event's hook passes, by model name, for emit_event's convenience.
BUILDERS = {
    "ticket": ticket,
    "alert": alert,
    "reminderitem": payment_reminder,
    "temporaryfixreminder": fix_reminder,
    "announcement": announcement,
}


def payload_of(data: Any) -> dict[str, Any]:
    """``data`` itself when it is a dict, else the payload of the domain object."""
    if isinstance(data, dict):
        return data
    builder = BUILDERS.get(type(data).__name__.lower())
    if builder is None:
        raise TypeError(f"no webhook payload for {type(data).__name__}")
    return builder(data)

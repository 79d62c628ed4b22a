"""Who receives a client's billing mail: one rule for invoices, debit notices and hours."""

from __future__ import annotations

from dataclasses import dataclass

from atalaya.billing.models import BillingProfile
from atalaya.core.models import Client, Contact, ContactMembership


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str
    language: str
    contact: Contact | None


def billing_recipients(client: Client, *, language: str | None = None) -> list[Recipient]:
    """The client's invoice e-mail (in ``language``, else the client's), or else each
    contact flagged as a billing contact that has an address, in their own language.

    The reminder proposal reads the same rule for many clients at once
    (``reminders.decision.load_recipients``).
    """
    profile = BillingProfile.objects.filter(client=client).first()
    if profile is not None and profile.invoice_email:
        return [Recipient(profile.invoice_email, client.name, language or client.language, None)]
    memberships = (
        ContactMembership.objects.filter(client=client, is_billing=True, contact__email__gt="")
        .select_related("contact")
        .order_by("contact__name", "pk")
    )
    return [
        Recipient(m.contact.email, m.contact.name, m.contact.language or client.language, m.contact)
        for m in memberships
    ]

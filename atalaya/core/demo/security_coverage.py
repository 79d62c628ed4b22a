"""Demo data of protection coverage and awareness, written through the services.

For each demo client: MFA attested for about two thirds of its user contacts, the
antivirus and backup of some devices attested (the rest left as gaps to show), and
one awareness campaign (paused) that has sent its first tip to a couple of users,
one of whom acknowledged it. The demo's tip mails are cancelled in the outbox, so no demo
mail ever leaves even when SMTP is configured.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from atalaya.core.models import ContactMembership
from atalaya.mail.outbox import cancel_message
from atalaya.monitoring.models import Device
from atalaya.security import awareness, coverage


def load_security_coverage(loader: Any, seed: int) -> dict[str, int]:
    """Attestations and a campaign with a few deliveries for every demo client."""
    started = time.monotonic()
    rng = random.Random(f"security-coverage:{seed}")
    actor = loader.users["admin"]
    now = loader.plan.now
    today = now.date()
    counts = {"attestations": 0, "campaigns": 0, "deliveries": 0}
    tips = awareness.ensure_builtin_tips()
    for key in sorted(loader.clients):
        client = loader.clients[key]
        members = list(
            ContactMembership.objects.filter(client=client, is_user=True)
            .select_related("contact")
            .order_by("contact__pk")
        )
        for membership in members:
            if rng.random() < 0.67:
                coverage.attest(
                    actor=actor,
                    client=client,
                    kind="mfa",
                    contact=membership.contact,
                    product="Microsoft Authenticator",
                    valid_until=today + timedelta(days=rng.choice((30, 90, 180))),
                    today=today,
                )
                counts["attestations"] += 1
        for device in Device.objects.filter(client=client).order_by("pk")[:6]:
            for kind, product in (("antivirus", "ESET Endpoint"), ("backup", "Veeam Agent")):
                if rng.random() < 0.5:
                    coverage.attest(
                        actor=actor,
                        client=client,
                        kind=kind,
                        device=device,
                        product=product,
                        valid_until=today + timedelta(days=90),
                        today=today,
                    )
                    counts["attestations"] += 1
        campaign = awareness.create_campaign(
            actor=actor,
            client=client,
            name="Consejos de seguridad" if client.language == "es" else "Security tips",
            starts_on=today - timedelta(days=7),
            every_days=7,
        )
        counts["campaigns"] += 1
        sent_at = now - timedelta(days=7)
        for n, membership in enumerate(m for m in members if m.contact.email):
            if n >= 2:
                break
            delivery = awareness.deliver_tip(campaign, tips[0], membership.contact, now=sent_at)
            if delivery is None:
                continue
            if delivery.outbound is not None:
                cancel_message(delivery.outbound, actor=None)
            if n == 0:
                awareness.acknowledge(delivery, now=sent_at + timedelta(hours=3))
            counts["deliveries"] += 1
        # Paused: the scheduler must not mail the demo's contacts the rest of the tips.
        awareness.set_campaign_active(actor=actor, campaign=campaign, is_active=False)
    loader.progress(
        f"{counts['attestations']} attestations, {counts['campaigns']} awareness campaigns "
        f"in {time.monotonic() - started:.1f} s"
    )
    return counts

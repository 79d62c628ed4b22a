"""Awareness campaigns: builtin tips, campaigns per client, sending, ack and opt-out.

A campaign sends its tips in order, one every ``every_days``, to each of the client's
user contacts in their language, through the outbox. Each delivery carries one
random token (stored hashed) used by two public links: acknowledge and opt out. Both
pages act only on POST, so a mail scanner prefetching links changes nothing.
Sending is idempotent: one ``AwarenessDelivery`` per campaign, contact and tip, and
the outbox key is derived from the same three.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Contact, ContactMembership, User
from atalaya.core.services import record_audit
from atalaya.mail.outbox import queue_mail
from atalaya.security.models import (
    AwarenessCampaign,
    AwarenessDelivery,
    AwarenessOptOut,
    AwarenessTip,
    CampaignTip,
    require_security_writer,
)

OUTBOUND_KIND = "awareness"

# (key, title en, body en, title es, body es). Updated in place by key.
BUILTIN_TIPS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "check-the-sender",
        "Check who really sent it",
        "Before you click, look at the sender's full address, not only the name. "
        "A mail from your bank or from Microsoft that comes from an odd domain is a trap.",
        "Comprueba quién lo envía de verdad",
        "Antes de hacer clic, mira la dirección completa del remitente, no solo el nombre. "
        "Un correo de tu banco o de Microsoft que llega desde un dominio extraño es una trampa.",
    ),
    (
        "hover-links",
        "Look at a link before you open it",
        "Hover over a link (or press and hold on a phone) to see where it really goes. "
        "If the address does not match the company, do not open it.",
        "Mira el enlace antes de abrirlo",
        "Pasa el ratón por encima del enlace (o mantenlo pulsado en el móvil) para ver "
        "adónde lleva. Si la dirección no es la de la empresa, no lo abras.",
    ),
    (
        "password-pages",
        "Never type your password after clicking a mail",
        "A page asking for your Office 365 password after you clicked a link in a mail "
        "is almost always fake. Open the service yourself from your bookmarks.",
        "Nunca escribas tu contraseña tras pulsar un correo",
        "Una página que te pide la contraseña de Office 365 después de pulsar un enlace "
        "de un correo casi siempre es falsa. Abre el servicio tú mismo desde tus favoritos.",
    ),
    (
        "mfa",
        "Turn on two-step sign-in",
        "Two-step sign-in (MFA) stops most account thefts even when the password leaks. "
        "Ask us if your account does not have it yet.",
        "Activa la verificación en dos pasos",
        "La verificación en dos pasos (MFA) frena la mayoría de robos de cuentas aunque se "
        "filtre la contraseña. Pídenos ayuda si tu cuenta aún no la tiene.",
    ),
    (
        "unique-passwords",
        "One password per service",
        "Use a different password for every service and let a password manager remember "
        "them. A leaked password then opens one door, not all of them.",
        "Una contraseña para cada servicio",
        "Usa una contraseña distinta en cada servicio y deja que un gestor de contraseñas "
        "las recuerde. Así una contraseña filtrada abre una puerta, no todas.",
    ),
    (
        "updates",
        "Install updates promptly",
        "Updates close holes that attackers already know. Restart when your computer "
        "asks you to, and keep your phone and browser up to date too.",
        "Instala las actualizaciones pronto",
        "Las actualizaciones cierran agujeros que los atacantes ya conocen. Reinicia cuando "
        "el ordenador te lo pida y mantén también al día el móvil y el navegador.",
    ),
    (
        "shared-pc",
        "Do not share your work computer",
        "At home, keep the work computer for work: no games or downloads for the family. "
        "Lock the screen (Windows+L) whenever you step away.",
        "No compartas el ordenador del trabajo",
        "En casa, usa el ordenador del trabajo solo para trabajar: nada de juegos ni "
        "descargas de la familia. Bloquea la pantalla (Windows+L) cuando te levantes.",
    ),
    (
        "urgent-payments",
        "Urgent payment requests: call to check",
        "A mail asking for an urgent transfer or new bank details, even from your boss, "
        "must be confirmed by phone on a number you already know.",
        "Pagos urgentes: llama para comprobarlo",
        "Un correo que pide una transferencia urgente o cambiar una cuenta bancaria, aunque "
        "parezca de tu jefe, se confirma por teléfono en un número que ya conozcas.",
    ),
    (
        "report-phishing",
        "Report suspicious mail",
        "Forward any suspicious mail to your IT team's report address and delete it. "
        "Reporting a false alarm is always better than clicking.",
        "Avisa de los correos sospechosos",
        "Reenvía cualquier correo sospechoso a la dirección de avisos de tu equipo de "
        "informática y bórralo. Avisar de una falsa alarma siempre es mejor que pulsar.",
    ),
    (
        "backups",
        "Keep your files where they are backed up",
        "Save work files in the shared folders or the cloud storage we back up, not only "
        "on the desktop or a USB stick.",
        "Guarda los archivos donde hay copia",
        "Guarda los archivos de trabajo en las carpetas compartidas o en la nube de la que "
        "hacemos copia, no solo en el escritorio o en un pendrive.",
    ),
)


def ensure_builtin_tips() -> list[AwarenessTip]:
    """Create or refresh the shipped tips (idempotent; staff's own tips untouched)."""
    tips = []
    for key, title_en, body_en, title_es, body_es in BUILTIN_TIPS:
        tip, _created = AwarenessTip.objects.update_or_create(
            key=key,
            defaults={
                "title_en": title_en,
                "body_en": body_en,
                "title_es": title_es,
                "body_es": body_es,
                "is_builtin": True,
            },
        )
        tips.append(tip)
    return tips


def _first_send(starts_on: date, client: Client) -> datetime:
    # Tips go out at 09:00 UTC of the start day: working hours in Europe.
    return datetime.combine(starts_on, time(9, 0), tzinfo=timezone.get_current_timezone())


def create_campaign(
    *,
    actor: User | None,
    client: Client,
    name: str,
    starts_on: date | None,
    every_days: int = 7,
    tip_keys: list[str] | None = None,
) -> AwarenessCampaign:
    """Create a campaign for ``client`` with the given tips (default: all builtin ones)."""
    require_security_writer(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the campaign a name.")})
    if starts_on is None:
        raise ValidationError({"starts_on": _("Say when the campaign starts.")})
    if not isinstance(every_days, int) or not 1 <= every_days <= 365:
        raise ValidationError({"every_days": _("Send every 1 to 365 days.")})
    builtin = ensure_builtin_tips()
    if tip_keys:
        by_key = {t.key: t for t in AwarenessTip.objects.filter(key__in=tip_keys)}
        unknown = [k for k in tip_keys if k not in by_key]
        if unknown:
            raise ValidationError(
                {"tips": _("Unknown tips: %(keys)s") % {"keys": ", ".join(unknown)}}
            )
        tips = [by_key[k] for k in dict.fromkeys(tip_keys)]
    else:
        tips = builtin
    with transaction.atomic():
        campaign = AwarenessCampaign.objects.create(
            client=client,
            name=name[:200],
            starts_on=starts_on,
            every_days=every_days,
            next_send_at=_first_send(starts_on, client),
            created_by=actor if actor is not None and actor.pk else None,
        )
        CampaignTip.objects.bulk_create(
            CampaignTip(campaign=campaign, tip=tip, position=n) for n, tip in enumerate(tips)
        )
        record_audit(
            actor,
            campaign,
            "created",
            client=client,
            after={"name": campaign.name, "tips": [t.key for t in tips], "every_days": every_days},
        )
    return campaign


def set_campaign_active(
    *, actor: User | None, campaign: AwarenessCampaign, is_active: bool
) -> AwarenessCampaign:
    """Pause or resume a campaign."""
    require_security_writer(actor)
    before = campaign.is_active
    if before != is_active:
        campaign.is_active = is_active
        campaign.save(update_fields=["is_active"])
        record_audit(
            actor,
            campaign,
            "activated" if is_active else "paused",
            client=campaign.client,
            before={"is_active": before},
            after={"is_active": is_active},
        )
    return campaign


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def recipients(client: Client) -> list[Contact]:
    """The client's user contacts with an address who have not opted out."""
    opted = AwarenessOptOut.objects.filter(client=client).values("contact_id")
    contacts = (
        Contact.objects.filter(
            pk__in=ContactMembership.objects.filter(client=client, is_user=True).values(
                "contact_id"
            )
        )
        .exclude(email="")
        .exclude(pk__in=opted)
        .order_by("pk")
    )
    return list(contacts)


def _link(name: str, token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[token])


def _mail_text(tip: AwarenessTip, language: str, token: str) -> tuple[str, str]:
    with translation.override(language):
        es = language.startswith("es")
        title = tip.title_es if es else tip.title_en
        body = tip.body_es if es else tip.body_en
        text = "\n\n".join(
            [
                body,
                _("Got it? Confirm here: %(url)s")
                % {"url": _link("security:awareness-ack", token)},
                _("No more security tips: %(url)s")
                % {"url": _link("security:awareness-opt-out", token)},
            ]
        )
        subject = _("Security tip: %(title)s") % {"title": title}
    return subject, text + "\n"


def deliver_tip(
    campaign: AwarenessCampaign, tip: AwarenessTip, contact: Contact, *, now: datetime
) -> AwarenessDelivery | None:
    """Send ``tip`` to ``contact`` once; None if it was delivered before or they opted out."""
    if AwarenessOptOut.objects.filter(client_id=campaign.client_id, contact=contact).exists():
        return None
    token = secrets.token_urlsafe(32)
    language = contact.language or "es"
    subject, text = _mail_text(tip, language, token)
    try:
        with transaction.atomic():
            delivery = AwarenessDelivery.objects.create(
                campaign=campaign,
                client_id=campaign.client_id,
                contact=contact,
                tip=tip,
                token_hash=hash_token(token),
                sent_at=now,
            )
            delivery.outbound = queue_mail(
                key=f"awareness:{campaign.public_id}:{contact.public_id}:{tip.key}",
                kind=OUTBOUND_KIND,
                client=campaign.client,
                contact=contact,
                to_address=contact.email,
                to_name=contact.name,
                subject=subject,
                body_text=text,
                language=language,
                now=now,
            )
            delivery.save(update_fields=["outbound"])
    except IntegrityError:
        return None  # delivered before (another worker or an earlier run)
    return delivery


def send_campaign_step(campaign: AwarenessCampaign, *, now: datetime) -> list[AwarenessDelivery]:
    """Send the campaign's next tip to every recipient and move the schedule on."""
    position = campaign.sent_count
    step = (
        CampaignTip.objects.filter(campaign=campaign, position__gte=position)
        .select_related("tip")
        .order_by("position")
        .first()
    )
    if step is None:
        AwarenessCampaign.objects.filter(pk=campaign.pk).update(is_active=False, next_send_at=None)
        return []
    sent = [
        d
        for contact in recipients(campaign.client)
        if (d := deliver_tip(campaign, step.tip, contact, now=now)) is not None
    ]
    AwarenessCampaign.objects.filter(pk=campaign.pk).update(sent_count=step.position + 1)
    if sent:
        record_audit(
            None,
            campaign,
            "tip_sent",
            client=campaign.client,
            after={"tip": step.tip.key, "recipients": len(sent)},
        )
    return sent


def send_due(*, now: datetime | None = None) -> int:
    """Send every due campaign step; returns the number of deliveries made.

    A campaign is claimed by compare-and-set on ``next_send_at`` (moved to the next
    slot first), so two workers never send the same step; the deliveries' unique
    constraint and outbox keys make even a repeated step send nothing twice.
    """
    now = now or timezone.now()
    total = 0
    due = AwarenessCampaign.objects.filter(is_active=True, next_send_at__lte=now).order_by("pk")
    for campaign in list(due[:200]):
        slot = campaign.next_send_at
        assert slot is not None
        following = slot + timedelta(days=campaign.every_days)
        while following <= now:  # a long pause: skip missed slots, send once
            following += timedelta(days=campaign.every_days)
        # Claim and send in one transaction: a crash mid-step rolls the claim back too,
        # and a second worker's claim waits on the row lock, then finds nothing to claim.
        with transaction.atomic():
            claimed = AwarenessCampaign.objects.filter(
                pk=campaign.pk, next_send_at=slot, is_active=True
            ).update(next_send_at=following)
            if not claimed:
                continue
            campaign.refresh_from_db()
            total += len(send_campaign_step(campaign, now=now))
    return total


def delivery_for_token(token: str) -> AwarenessDelivery | None:
    """The delivery a link's token names, or None (wrong, garbled or absurd token)."""
    if not token or len(token) > 100:
        return None
    return (
        AwarenessDelivery.objects.select_related("tip", "contact")
        .filter(token_hash=hash_token(token))
        .first()
    )


def acknowledge(delivery: AwarenessDelivery, *, now: datetime | None = None) -> bool:
    """Record that the recipient read the tip; False if already acknowledged."""
    now = now or timezone.now()
    changed = AwarenessDelivery.objects.filter(pk=delivery.pk, acknowledged_at=None).update(
        acknowledged_at=now
    )
    if changed:
        delivery.acknowledged_at = now
        record_audit(None, delivery, "acknowledged", client=delivery.client)
    return bool(changed)


def opt_out(delivery: AwarenessDelivery, *, via: str = "link") -> bool:
    """Stop awareness mail to the delivery's contact from this client; False if already."""
    try:
        with transaction.atomic():
            row = AwarenessOptOut.objects.create(
                client_id=delivery.client_id, contact_id=delivery.contact_id, via=via[:20]
            )
    except IntegrityError:
        return False
    record_audit(None, row, "opted_out", client=delivery.client, after={"via": row.via})
    return True


def has_opted_out(delivery: AwarenessDelivery) -> bool:
    return AwarenessOptOut.objects.filter(
        client_id=delivery.client_id, contact_id=delivery.contact_id
    ).exists()


def delivery_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries and acknowledgements per campaign, in one query."""
    from django.db.models import Count, Q

    rows = (
        AwarenessDelivery.objects.filter(campaign_id__in=campaign_ids)
        .values("campaign_id")
        .annotate(
            deliveries=Count("pk"),
            acknowledged=Count("pk", filter=Q(acknowledged_at__isnull=False)),
        )
    )
    return {
        r["campaign_id"]: {"deliveries": r["deliveries"], "acknowledged": r["acknowledged"]}
        for r in rows
    }

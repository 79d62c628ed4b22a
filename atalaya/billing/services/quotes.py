"""Quotes for service packages: drafts, sending, the client's decision, expiry, the PDF.

Every write goes through here (views, the portal, the API and the periodic job call
these functions) and writes an audit event. Staff draft and send (administrators,
technicians and the billing role: a quote changes no billing until the client accepts
it). The client decides in the portal: a portal user whose contact is a decision maker
or billing contact of the quote's client accepts (choosing the start date) or declines
(with a reason). Each status change is a compare-and-set UPDATE from the status it
expects, inside the transaction that does the rest of the work, so accepting twice —
two tabs, two people, two workers — makes one agreement and the second is told why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.billing import money
from atalaya.billing.models import (
    Agreement,
    BillingProfile,
    Mandate,
    PaymentMethod,
    Product,
    Quote,
    QuoteCounter,
    QuoteLine,
    QuoteStatus,
    Unit,
)
from atalaya.billing.services import agreements as agreement_services
from atalaya.billing.services.catalog import MAX_PRICE, MAX_QUANTITY, clean_decimal, line_text
from atalaya.billing.services.invoices import default_series
from atalaya.core.models import Client, ContactMembership, Language, Role, User
from atalaya.core.services import record_audit

# Who may draft, send and withdraw quotes.
QUOTE_WRITER_ROLES = frozenset({Role.ADMIN, Role.TECHNICIAN, Role.BILLING})
MAX_LINES = 50
MAX_TITLE = 200
MAX_INTRO = 5000
MAX_NOTE = 1000
# How far ahead a quote may be valid, and how late after acceptance an agreement may start.
MAX_VALIDITY_DAYS = 366
MAX_START_DAYS = 365
PRICE_PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)
HEADER_FIELDS = ("title", "intro", "valid_until", "proposed_start", "language")


class QuoteConflict(ValidationError):
    """The quote is no longer in the state the request expected (decided, expired…)."""


# ---------------------------------------------------------------------------------------
# Who may do what
# ---------------------------------------------------------------------------------------


def can_write_quotes(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.role in QUOTE_WRITER_ROLES)


def require_quote_writer(actor: User | None) -> None:
    """``None`` is Atalaya itself (the demo loader, the CLI)."""
    if actor is not None and not can_write_quotes(actor):
        raise PermissionDenied(_("Your role may not change quotes."))


def can_decide(user: Any, quote: Quote) -> bool:
    """A portal user whose contact is a decision maker or billing contact of the quote's
    client; every other user of the company reads the quote but may not decide it."""
    if user is None or not getattr(user, "is_portal", False):
        return False
    return ContactMembership.objects.filter(
        Q(is_decision_maker=True) | Q(is_billing=True),
        contact_id=user.contact_id,
        client_id=quote.client_id,
    ).exists()


def _audit(actor: User | None, quote: Quote, action: str, **changes: Any) -> None:
    record_audit(actor, quote, action, client=quote.client, **changes)


def _mail_paused() -> bool:
    """Inside ``mail.notify.notifications_paused`` (the demo loader writing history) no
    quote mail is queued: those decisions happened long ago, to made-up people."""
    from atalaya.mail import notify

    return notify.are_notifications_paused()


def _lock(quote: Quote) -> Quote:
    return Quote.objects.select_for_update().select_related("client").get(pk=quote.pk)


def _lock_draft(quote: Quote) -> Quote:
    locked = _lock(quote)
    if locked.status != QuoteStatus.DRAFT:
        raise QuoteConflict({"status": [_("Only a draft quote can be changed.")]})
    return locked


# ---------------------------------------------------------------------------------------
# Drafts
# ---------------------------------------------------------------------------------------


def _clean_header(values: dict[str, Any], *, today: date) -> dict[str, Any]:
    title = str(values.get("title") or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise ValidationError({"title": [_("Give a title of up to 200 characters.")]})
    values["title"] = title
    intro = str(values.get("intro") or "").strip()
    if len(intro) > MAX_INTRO:
        raise ValidationError({"intro": [_("Keep the introduction within 5000 characters.")]})
    values["intro"] = intro
    valid_until = values.get("valid_until")
    if not isinstance(valid_until, date):
        raise ValidationError({"valid_until": [_("Give the last day the quote is valid.")]})
    if valid_until > today + timedelta(days=MAX_VALIDITY_DAYS):
        raise ValidationError({"valid_until": [_("A quote is valid for a year at most.")]})
    start = values.get("proposed_start")
    if start is not None and not isinstance(start, date):
        raise ValidationError({"proposed_start": [_("Give a date or nothing.")]})
    if values.get("language") not in Language.values:
        raise ValidationError({"language": [_("Choose English or Spanish.")]})
    return values


def _clean_lines(lines: Iterable[Mapping[str, Any]], language: str) -> list[QuoteLine]:
    """Lines from the catalogue: product, quantity, optional discount % and text.

    The unit price is the catalogue's at this moment; a later price change does not
    move a quote already drafted.
    """
    given = list(lines)
    if len(given) > MAX_LINES:
        raise ValidationError({"lines": [_("A quote has at most 50 lines.")]})
    ids = [p.pk for p in (line.get("product") for line in given) if isinstance(p, Product)]
    fresh = Product.objects.in_bulk(ids)
    rows = []
    for line in given:
        product = line.get("product")
        if not isinstance(product, Product) or product.pk not in fresh:
            raise ValidationError({"product": [_("Choose a product of the catalogue.")]})
        product = fresh[product.pk]
        if not product.is_active:
            raise ValidationError(
                {
                    "product": [
                        _("%(code)s is retired; choose another product.") % {"code": product.code}
                    ]
                }
            )
        if product.unit == Unit.PER_HOUR:
            raise ValidationError(
                {"product": [_("Hourly work is billed from tickets; quote a service or a fee.")]}
            )
        quantity = clean_decimal("quantity", line.get("quantity", 1), limit=MAX_QUANTITY, places=3)
        if quantity == 0:
            raise ValidationError({"quantity": [_("The quantity must be above 0.")]})
        discount = line.get("discount_percent")
        discount = (
            Decimal(0)
            if discount in (None, "")
            else clean_decimal("discount_percent", discount, limit=HUNDRED, places=2)
        )
        description = str(line.get("description") or "").strip()
        if len(description) > 300:
            raise ValidationError({"description": [_("Keep the text within 300 characters.")]})
        price = product.unit_price
        if price > MAX_PRICE:
            raise ValidationError({"product": [_("The product's price is out of range.")]})
        # Four decimals, like an agreement line's price: the agreement will charge exactly
        # quantity × this, so the quote and the invoices agree to the cent.
        net_price = (price * (HUNDRED - discount) / HUNDRED).quantize(
            PRICE_PLACES, rounding=ROUND_HALF_UP
        )
        rows.append(
            QuoteLine(
                product=product,
                description=(description or line_text(product, language))[:300],
                quantity=quantity,
                unit=product.unit,
                unit_price=price,
                discount_percent=discount,
                unit_price_net=net_price,
                vat_category=product.vat_category,
                vat_rate=product.vat_rate,
                net_amount=money.line_net(quantity, net_price),
            )
        )
    return rows


def buckets(quote: Quote, lines: Iterable[QuoteLine] | None = None) -> money.Totals:
    """The quote's VAT buckets and totals, by the invoices' rule (``billing.money``)."""
    rows = quote.lines.all() if lines is None else lines
    return money.totals((ln.vat_category, ln.vat_rate, ln.net_amount) for ln in rows)


def _recompute(quote: Quote) -> None:
    result = buckets(quote, list(quote.lines.all()))
    quote.net_total, quote.vat_total, quote.total = result.net, result.vat, result.total
    quote.save(update_fields=["net_total", "vat_total", "total"])


def _snapshot(quote: Quote) -> dict[str, Any]:
    return {
        "status": quote.status,
        "code": quote.code,
        "title": quote.title,
        "language": quote.language,
        "valid_until": quote.valid_until.isoformat(),
        "proposed_start": quote.proposed_start.isoformat() if quote.proposed_start else None,
        "total": str(quote.total),
    }


def _line_snapshot(line: QuoteLine) -> dict[str, Any]:
    return {
        "line": line.pk,
        "product": line.product.code,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
        "discount_percent": str(line.discount_percent),
        "net_amount": str(line.net_amount),
    }


@transaction.atomic
def create_quote(
    *,
    actor: User | None,
    client: Client,
    title: str,
    valid_until: date,
    intro: str = "",
    proposed_start: date | None = None,
    language: str | None = None,
    lines: Iterable[Mapping[str, Any]] = (),
) -> Quote:
    """A draft quote for a client, in the client's language unless another is given, with
    its first lines; nothing is written unless every line is valid."""
    require_quote_writer(actor)
    today = timezone.localdate()
    values = _clean_header(
        {
            "title": title,
            "intro": intro,
            "valid_until": valid_until,
            "proposed_start": proposed_start,
            "language": language or client.language,
        },
        today=today,
    )
    if values["valid_until"] < today:
        raise ValidationError({"valid_until": [_("The quote would already be expired.")]})
    rows = _clean_lines(lines, values["language"])
    quote = Quote.objects.create(client=client, created_by=actor, **values)
    for position, row in enumerate(rows):
        row.quote, row.position = quote, position
    QuoteLine.objects.bulk_create(rows)
    _recompute(quote)
    _audit(actor, quote, "quote.created", after=_snapshot(quote))
    return quote


@transaction.atomic
def update_quote(*, actor: User | None, quote: Quote, **fields: Any) -> Quote:
    """Change a draft's title, introduction, validity, proposed start or language."""
    require_quote_writer(actor)
    unknown = set(fields) - set(HEADER_FIELDS)
    if unknown:
        raise TypeError(f"unknown quote fields: {sorted(unknown)}")
    locked = _lock_draft(quote)
    before = _snapshot(locked)
    values = {name: getattr(locked, name) for name in HEADER_FIELDS}
    values.update(fields)
    values = _clean_header(values, today=timezone.localdate())
    for name, value in values.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(HEADER_FIELDS))
    _audit(actor, locked, "quote.updated", before=before, after=_snapshot(locked))
    return locked


@transaction.atomic
def add_lines(
    *, actor: User | None, quote: Quote, lines: Iterable[Mapping[str, Any]]
) -> list[QuoteLine]:
    """Add catalogue lines (product, quantity, discount %, text) to a draft."""
    require_quote_writer(actor)
    locked = _lock_draft(quote)
    rows = _clean_lines(lines, locked.language)
    if not rows:
        raise ValidationError({"lines": [_("Add at least one line.")]})
    count = locked.lines.count()
    if count + len(rows) > MAX_LINES:
        raise ValidationError({"lines": [_("A quote has at most 50 lines.")]})
    for position, row in enumerate(rows, start=count):
        row.quote, row.position = locked, position
    QuoteLine.objects.bulk_create(rows)
    _recompute(locked)
    for row in rows:
        _audit(actor, locked, "quote.line_added", after=_line_snapshot(row))
    quote.total = locked.total
    return rows


@transaction.atomic
def remove_line(*, actor: User | None, quote: Quote, line: QuoteLine) -> None:
    """Take a line off a draft."""
    require_quote_writer(actor)
    locked = _lock_draft(quote)
    if line.quote_id != locked.pk:
        raise ValidationError({"line": [_("That line is on another quote.")]})
    _audit(actor, locked, "quote.line_removed", before=_line_snapshot(line))
    line.delete()
    _recompute(locked)


# ---------------------------------------------------------------------------------------
# Sending, withdrawing, expiring
# ---------------------------------------------------------------------------------------


def take_number(year: int) -> int:
    """The year's next quote number by one atomic UPDATE in the caller's transaction: the
    row stays locked until the sending commits, so numbers are handed out once, in order,
    and a rollback gives its number back."""
    QuoteCounter.objects.get_or_create(year=year)
    QuoteCounter.objects.filter(year=year).update(next_number=F("next_number") + 1)
    return QuoteCounter.objects.filter(year=year).values_list("next_number", flat=True).get() - 1


def format_code(year: int, number: int) -> str:
    return f"Q-{year}-{number:04d}"


def recipients(quote: Quote) -> list[tuple[str, str, Any]]:
    """(address, language, contact): the client's decision makers and billing contacts
    with an address, each in their own language; else the client's invoice e-mail."""
    memberships = (
        ContactMembership.objects.filter(
            Q(is_decision_maker=True) | Q(is_billing=True),
            client=quote.client,
            contact__email__gt="",
        )
        .select_related("contact")
        .order_by("contact__name", "pk")
    )
    found: list[tuple[str, str, Any]] = [
        (m.contact.email.lower(), m.contact.language or quote.language, m.contact)
        for m in memberships
    ]
    if not found:
        profile = BillingProfile.objects.filter(client=quote.client).first()
        if profile is not None and profile.invoice_email:
            found = [(profile.invoice_email.lower(), quote.language, None)]
    return found


def portal_url(quote: Quote) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("portal:quote_detail", args=[quote.public_id])


def pdf_filename(quote: Quote) -> str:
    return f"{quote.code or 'quote-' + str(quote.public_id)[:8]}.pdf"


@transaction.atomic
def send_quote(*, actor: User | None, quote: Quote) -> list[Any]:
    """Number the draft (Q-YYYY-NNNN) and mail it, with its PDF, to the client's decision
    makers and billing contacts in their language, with the portal link; through the
    outbox in this transaction, so a failed send leaves neither number nor mail."""
    from atalaya.mail.outbox import kick_delivery, queue_mail

    require_quote_writer(actor)
    locked = _lock_draft(quote)
    today = timezone.localdate()
    lines = list(locked.lines.all())
    if not lines:
        raise ValidationError({"lines": [_("Add at least one line before sending.")]})
    if locked.valid_until < today:
        raise ValidationError({"valid_until": [_("The quote would already be expired.")]})
    to = recipients(locked)
    if not to:
        raise ValidationError(
            {
                "recipients": [
                    _("%(client)s has no decision maker or billing contact with an address.")
                    % {"client": locked.client.name}
                ]
            }
        )
    before = _snapshot(locked)
    now = timezone.now()
    year = timezone.localtime(now).year
    number = take_number(year)
    updated = Quote.objects.filter(pk=locked.pk, status=QuoteStatus.DRAFT).update(
        status=QuoteStatus.SENT,
        year=year,
        number=number,
        code=format_code(year, number),
        sent_at=now,
    )
    if not updated:  # pragma: no cover - the row is locked above
        raise QuoteConflict({"status": [_("Only a draft quote can be sent.")]})
    locked.refresh_from_db()
    paused = _mail_paused()
    pdf = b"" if paused else render_pdf(locked)
    messages = []
    for address, language, contact in [] if paused else to:
        with translation.override(language):
            subject, body = _offer_text(locked)
        message = queue_mail(
            key=f"quote:{locked.public_id}:sent:{address}",
            kind="quote",
            client=locked.client,
            to_address=address,
            subject=subject,
            body_text=body,
            language=language,
            contact=contact,
            attachments=[(pdf_filename(locked), "application/pdf", pdf)],
            now=now,
        )
        if message is not None:
            messages.append(message)
    _audit(
        actor,
        locked,
        "quote.sent",
        before=before,
        after={
            **_snapshot(locked),
            "to": [a for a, _l, _c in to],
            "pdf_sha256": hashlib.sha256(pdf).hexdigest() if pdf else "",
        },
    )
    kick_delivery()
    quote.status, quote.code, quote.number = locked.status, locked.code, locked.number
    return messages


def _move(quote: Quote, *, expect: Iterable[str], to: str, message: str, **fields: Any) -> Quote:
    """Compare-and-set the status; the loser of a race gets ``message`` as a clear error."""
    updated = Quote.objects.filter(pk=quote.pk, status__in=list(expect)).update(status=to, **fields)
    if not updated:
        raise QuoteConflict({"status": [message]})
    return Quote.objects.select_related("client").get(pk=quote.pk)


@transaction.atomic
def withdraw_quote(*, actor: User | None, quote: Quote, reason: str = "") -> Quote:
    """The MSP takes back a draft or a sent quote; the client can then no longer accept it."""
    require_quote_writer(actor)
    reason = str(reason or "").strip()[:MAX_NOTE]
    before = quote.status
    moved = _move(
        quote,
        expect=[QuoteStatus.DRAFT, QuoteStatus.SENT],
        to=QuoteStatus.WITHDRAWN,
        message=_("Only a draft or sent quote can be withdrawn."),
        decision_note=reason,
        decided_at=timezone.now(),
        decided_by=actor,
    )
    _audit(actor, moved, "quote.withdrawn", before={"status": before}, after=_snapshot(moved))
    quote.status = moved.status
    return moved


def expire_due(*, today: date | None = None) -> int:
    """Sent quotes past their last valid day become expired, each by compare-and-set (so a
    repeated or parallel run, or a client accepting at that moment, does no harm)."""
    today = today or timezone.localdate()
    expired = 0
    due = Quote.objects.filter(status=QuoteStatus.SENT, valid_until__lt=today).values_list(
        "pk", flat=True
    )
    for pk in list(due):
        with transaction.atomic():
            if not Quote.objects.filter(
                pk=pk, status=QuoteStatus.SENT, valid_until__lt=today
            ).update(status=QuoteStatus.EXPIRED):
                continue
            quote = Quote.objects.select_related("client").get(pk=pk)
            _audit(None, quote, "quote.expired", before={"status": "sent"}, after=_snapshot(quote))
            expired += 1
    return expired


# ---------------------------------------------------------------------------------------
# The client's decision
# ---------------------------------------------------------------------------------------


def _require_decider(user: User, quote: Quote) -> None:
    if not can_decide(user, quote):
        raise PermissionDenied(
            _("Only a decision maker or billing contact of %(client)s may decide this quote.")
            % {"client": quote.client.name}
        )


def _why_not_open(quote: Quote, today: date) -> str:
    """The clear error for a quote that can no longer be decided."""
    current = Quote.objects.filter(pk=quote.pk).values_list("status", "valid_until").first()
    status, valid_until = current if current else (None, None)
    if status == QuoteStatus.ACCEPTED:
        return _("This quote has already been accepted.")
    if status == QuoteStatus.DECLINED:
        return _("This quote has already been declined.")
    if status == QuoteStatus.WITHDRAWN:
        return _("This quote was withdrawn.")
    if status == QuoteStatus.EXPIRED or (valid_until is not None and valid_until < today):
        return _("This quote expired on %(day)s; ask for a new one.") % {
            "day": valid_until.strftime("%d/%m/%Y") if valid_until else ""
        }
    return _("This quote cannot be decided.")


def check_start(quote: Quote, start: Any, today: date) -> date:
    """A start date the client may choose: from today, within a year."""
    if not isinstance(start, date):
        raise ValidationError({"start_date": [_("Choose the day the services should start.")]})
    if start < today:
        raise ValidationError({"start_date": [_("The start cannot be in the past.")]})
    if start > today + timedelta(days=MAX_START_DAYS):
        raise ValidationError({"start_date": [_("Choose a start within a year.")]})
    return start


def _payment(client: Client) -> tuple[str, Mandate | None]:
    mandate = (
        Mandate.objects.filter(client=client, revoked_at__isnull=True)
        .order_by("-signed_on", "-id")
        .first()
    )
    if mandate is not None:
        return PaymentMethod.DIRECT_DEBIT, mandate
    return PaymentMethod.TRANSFER, None


def _make_agreement(quote: Quote, start: date) -> Agreement:
    """The agreement the accepted quote becomes, through billing's own agreement service
    (Atalaya itself is the actor: the client's acceptance is recorded on the quote)."""
    series = default_series()
    if series is None:
        raise ValidationError(
            {"series": [_("The MSP has no invoice series yet; the quote cannot be accepted.")]}
        )
    method, mandate = _payment(quote.client)
    profile = BillingProfile.objects.filter(client=quote.client).first()
    agreement = agreement_services.create_agreement(
        actor=None,
        client=quote.client,
        name=f"{quote.code} {quote.title}"[:200],
        billing_period=quote.billing_period,
        starts_on=start,
        series=series,
        payment_method=method,
        mandate=mandate,
        payment_terms_days=profile.payment_terms_days if profile else 30,
    )
    for line in quote.lines.select_related("product").order_by("position", "id"):
        agreement_services.add_line(
            actor=None,
            agreement=agreement,
            product=line.product,
            quantity_mode="fixed",
            quantity=line.quantity,
            unit_price=line.unit_price_net,
            description=line.description,
        )
    return agreement


@transaction.atomic
def accept_quote(*, quote: Quote, user: User, start_date: Any, note: str = "") -> Quote:
    """The client accepts: the quote becomes an agreement starting on ``start_date`` with
    the quote's lines at the quote's prices, and the MSP's author of the quote is told.

    The status moves sent → accepted by one conditional UPDATE that also requires the
    quote to be still valid: of two acceptances at once exactly one moves it (the other
    waits on the row and then finds it accepted), and only that one makes the agreement.
    """
    _require_decider(user, quote)
    today = timezone.localdate()
    start = check_start(quote, start_date, today)
    note = str(note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": [_("Keep the note within 1000 characters.")]})
    now = timezone.now()
    updated = Quote.objects.filter(
        pk=quote.pk, status=QuoteStatus.SENT, valid_until__gte=today
    ).update(
        status=QuoteStatus.ACCEPTED,
        decided_by=user,
        decided_at=now,
        decision_note=note,
        chosen_start=start,
    )
    if not updated:
        raise QuoteConflict({"status": [_why_not_open(quote, today)]})
    locked = Quote.objects.select_related("client", "created_by").get(pk=quote.pk)
    agreement = _make_agreement(locked, start)
    Quote.objects.filter(pk=locked.pk).update(agreement=agreement)
    locked.agreement = agreement
    _audit(
        user,
        locked,
        "quote.accepted",
        before={"status": "sent"},
        after={
            **_snapshot(locked),
            "start_date": start.isoformat(),
            "agreement": str(agreement.public_id),
            "note": note,
        },
    )
    _notify_msp(locked, now)
    quote.status, quote.agreement = locked.status, agreement
    return locked


@transaction.atomic
def decline_quote(*, quote: Quote, user: User, reason: str) -> Quote:
    """The client declines, saying why; recorded with who and when, the MSP is told."""
    _require_decider(user, quote)
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Tell us why, in a few words.")]})
    if len(reason) > MAX_NOTE:
        raise ValidationError({"reason": [_("Keep the reason within 1000 characters.")]})
    today = timezone.localdate()
    now = timezone.now()
    updated = Quote.objects.filter(
        pk=quote.pk, status=QuoteStatus.SENT, valid_until__gte=today
    ).update(status=QuoteStatus.DECLINED, decided_by=user, decided_at=now, decision_note=reason)
    if not updated:
        raise QuoteConflict({"status": [_why_not_open(quote, today)]})
    locked = Quote.objects.select_related("client", "created_by").get(pk=quote.pk)
    _audit(
        user,
        locked,
        "quote.declined",
        before={"status": "sent"},
        after={**_snapshot(locked), "reason": reason},
    )
    _notify_msp(locked, now)
    quote.status = locked.status
    return locked


def _notify_msp(quote: Quote, now: Any) -> None:
    """Mail the member of staff who drafted the quote (in their language) about the decision."""
    from atalaya.mail.outbox import kick_delivery, queue_mail

    author = quote.created_by
    if author is None or not author.email or not author.is_active or _mail_paused():
        return
    decider = quote.decided_by.display_name() if quote.decided_by else ""
    link = settings.SITE_URL.rstrip("/") + reverse("billing:quote_detail", args=[quote.public_id])
    with translation.override(author.language or "en"):
        if quote.status == QuoteStatus.ACCEPTED:
            subject = _("%(client)s accepted quote %(code)s") % {
                "client": quote.client.name,
                "code": quote.code,
            }
            body = _(
                "%(who)s accepted quote %(code)s (%(title)s, %(total)s %(currency)s) for "
                "%(client)s. The agreement starts on %(start)s.\n\n%(link)s"
            ) % {
                "who": decider,
                "code": quote.code,
                "title": quote.title,
                "total": quote.total,
                "currency": quote.currency,
                "client": quote.client.name,
                "start": quote.chosen_start.isoformat() if quote.chosen_start else "",
                "link": link,
            }
        else:
            subject = _("%(client)s declined quote %(code)s") % {
                "client": quote.client.name,
                "code": quote.code,
            }
            body = _("%(who)s declined quote %(code)s (%(title)s): %(reason)s\n\n%(link)s") % {
                "who": decider,
                "code": quote.code,
                "title": quote.title,
                "reason": quote.decision_note,
                "link": link,
            }
    queue_mail(
        key=f"quote:{quote.public_id}:{quote.status}:msp",
        kind="quote",
        client=quote.client,
        to_address=author.email,
        to_name=author.display_name(),
        subject=subject,
        body_text=body,
        language=author.language or "en",
        user=author,
        now=now,
    )
    kick_delivery()


def _offer_text(quote: Quote) -> tuple[str, str]:
    from atalaya.billing.models import BillingSettings

    seller = BillingSettings.load().legal_name
    subject = _("Quote %(code)s: %(title)s") % {"code": quote.code, "title": quote.title}
    body = _(
        "Hello,\n\nAttached is our quote %(code)s, %(title)s, for %(total)s %(currency)s "
        "(VAT included), valid until %(until)s.\n\nYou can read it and accept or decline "
        "it in the portal:\n%(link)s\n\nKind regards,\n%(seller)s"
    ) % {
        "code": quote.code,
        "title": quote.title,
        "total": quote.total,
        "currency": quote.currency,
        "until": quote.valid_until.isoformat(),
        "link": portal_url(quote),
        "seller": seller,
    }
    return subject, body


# ---------------------------------------------------------------------------------------
# The PDF
# ---------------------------------------------------------------------------------------


def render_html(quote: Quote) -> str:
    from django.template.loader import render_to_string

    from atalaya.billing.models import BillingSettings

    lines = list(quote.lines.order_by("position", "id"))
    profile = BillingProfile.objects.filter(client=quote.client).first()
    with translation.override(quote.language or "es"):
        return render_to_string(
            "billing/quotes/pdf.html",
            {
                "quote": quote,
                "seller": BillingSettings.load(),
                "profile": profile,
                "lines": lines,
                "totals": buckets(quote, lines),
                "language": quote.language,
                "portal_url": portal_url(quote),
            },
        )


def render_pdf(quote: Quote) -> bytes:
    """The quote's PDF in its language (WeasyPrint; nothing outside the document is loaded)."""
    from weasyprint import HTML

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"external resource refused: {url[:80]}")

    pdf = HTML(string=render_html(quote), url_fetcher=no_fetch).write_pdf()
    assert pdf is not None
    return bytes(pdf)

"""Billable ticket time: a person approves each entry before it is billed, or writes it off.

Approving an entry decides once (one ``TimeCharge`` per entry, unique in the database):

1. the client's oldest prepaid hour block that has not expired (on the day the work
   was done) and has minutes left burns first. If the entry is bigger than what the
   block has left, it splits: the minutes that fit burn the block, the rest is invoiced
   at the rate below (one charge, ``block_minutes`` of it burned). The block is taken
   by a conditional UPDATE that keeps ``minutes_used ≤ minutes_total``, so two
   approvals at once can never overdraw it;
2. otherwise the entry is approved to invoice at the rate of its work type under the
   client's agreement, else at the catalogue's hourly product for that work type;
3. without any rate the approval is refused with an error asking for one.

The amount is fixed at approval: ``minutes × rate / 60``, rounded half-up to cents.
The next recurring run puts approved time on the client's invoice.

A block whose balance falls to its ``low_balance_minutes`` alerts once
(``low_balance_alerted_at``): a mail to the client's billing contacts through the
outbox, in each one's language, and a flag on the staff page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from atalaya.billing.models import (
    Agreement,
    AgreementRate,
    HourBlock,
    InvoiceSeries,
    TimeCharge,
    TimeChargeStatus,
    VatCategory,
)
from atalaya.billing.money import round_money
from atalaya.billing.services.catalog import (
    MAX_PRICE,
    clean_decimal,
    hourly_product_for,
    require_billing_writer,
)
from atalaya.billing.services.recipients import billing_recipients
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit
from atalaya.mail.models import OutboundKind
from atalaya.mail.outbox import queue_mail
from atalaya.tickets.models import TimeEntry

SIXTY = Decimal(60)
# Beyond this a prepaid block is a typing mistake (100,000 hours).
MAX_BLOCK_MINUTES = 6_000_000


class NoRate(ValidationError):
    """No hourly rate is known for the entry's work type: a person must give one."""


def pending_entries() -> QuerySet[TimeEntry]:
    """Billable time entries that wait for a decision (no charge yet)."""
    return (
        TimeEntry.objects.filter(is_billable=True, charge__isnull=True)
        .select_related("ticket__client", "work_type", "user")
        .order_by("worked_on", "id")
    )


def usable_blocks(client_id: int, on: date) -> QuerySet[HourBlock]:
    """The client's blocks that may burn for work done ``on``: not expired, minutes left,
    oldest first."""
    return (
        HourBlock.objects.filter(client_id=client_id, minutes_used__lt=F("minutes_total"))
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=on))
        .filter(purchased_on__lte=on)
        .order_by("purchased_on", "id")
    )


def rate_for(entry: TimeEntry) -> tuple[Decimal, str] | None:
    """The hourly rate of the entry's work type and where it comes from: the client's
    agreement (its oldest active one that names the work type), else the catalogue."""
    if entry.work_type_id is None:
        return None
    client_id = entry.ticket.client_id
    rate = (
        AgreementRate.objects.filter(
            agreement__client_id=client_id,
            agreement__is_active=True,
            work_type_id=entry.work_type_id,
        )
        .order_by("agreement_id")
        .select_related("agreement")
        .first()
    )
    if rate is not None:
        return rate.hourly_rate, rate.agreement.name
    product = hourly_product_for(entry.work_type)
    if product is not None:
        return product.unit_price, product.code
    return None


def suggestion(entry: TimeEntry) -> dict[str, Any]:
    """What approving would do now (for the queue page): a block to burn, or a rate."""
    block = usable_blocks(entry.ticket.client_id, entry.worked_on).first()
    found = rate_for(entry)
    return {
        "block": block,
        "rate": found[0] if found else None,
        "rate_source": found[1] if found else "",
    }


def _burn(block: HourBlock, wanted: int) -> int:
    """Take up to ``wanted`` minutes from the block by a conditional UPDATE; how many
    were taken (0 if the block was emptied meanwhile)."""
    for _attempt in range(5):
        left = HourBlock.objects.filter(pk=block.pk).values_list(
            F("minutes_total") - F("minutes_used"), flat=True
        )[0]
        take = min(wanted, left)
        if take <= 0:
            return 0
        # Only if it still has them: a concurrent approval that took some first makes
        # this match nothing, and we read again.
        done = HourBlock.objects.filter(
            pk=block.pk, minutes_used__lte=F("minutes_total") - take
        ).update(minutes_used=F("minutes_used") + take)
        if done:
            return take
    return 0


def check_low_balance(block: HourBlock, *, now: Any = None) -> bool:
    """Alert once when the block's balance is at or below its threshold: a mail to the
    client's billing contacts (outbox, each in their language). True if it alerted now."""
    now = now or timezone.now()
    block.refresh_from_db()
    if block.low_balance_alerted_at is not None or block.minutes_left > block.low_balance_minutes:
        return False
    # The claim: only one approval alerts, however many cross the threshold at once.
    claimed = HourBlock.objects.filter(pk=block.pk, low_balance_alerted_at__isnull=True).update(
        low_balance_alerted_at=now
    )
    if not claimed:
        return False
    block.low_balance_alerted_at = now
    client = block.client
    hours, minutes = divmod(block.minutes_left, 60)
    for recipient in billing_recipients(client):
        address, name, language, contact = (
            recipient.address,
            recipient.name,
            recipient.language,
            recipient.contact,
        )
        with override(language):
            subject = _("Your prepaid hours are running low: %(block)s") % {"block": block.name}
            body = _(
                'Hello,\n\nthe prepaid hours "%(block)s" of %(client)s have %(hours)d h '
                "%(minutes)02d min left out of %(total)d h. Further work will be invoiced at "
                "the agreed hourly rate once they are used up; reply to this mail if you "
                "would like another block.\n"
            ) % {
                "block": block.name,
                "client": client.name,
                "hours": hours,
                "minutes": minutes,
                "total": block.minutes_total // 60,
            }
        queue_mail(
            key=f"billing:block-low:{block.public_id}:{address.lower()}",
            kind=OutboundKind.INVOICE,
            client=client,
            to_address=address,
            to_name=name,
            subject=subject,
            body_text=body,
            language=language,
            contact=contact,
            now=now,
        )
    record_audit(
        None,
        block,
        "hour_block.low_balance",
        client=client,
        after={"minutes_left": block.minutes_left, "threshold": block.low_balance_minutes},
    )
    return True


def _fresh_entry(entry: TimeEntry) -> TimeEntry:
    entry = TimeEntry.objects.select_related("ticket__client", "work_type").get(pk=entry.pk)
    if not entry.is_billable:
        raise ValidationError(_("This time entry is not billable."))
    if TimeCharge.objects.filter(time_entry=entry).exists():
        raise ValidationError(_("This time entry has already been decided."))
    return entry


def _save_charge(charge: TimeCharge) -> TimeCharge:
    try:
        with transaction.atomic():
            charge.save()
    except IntegrityError as error:
        # The one-charge-per-entry constraint: someone decided it a moment ago.
        raise ValidationError(_("This time entry has already been decided.")) from error
    return charge


@transaction.atomic
def approve_time(
    *,
    actor: User,
    entry: TimeEntry,
    use_block: bool | None = None,
    block: HourBlock | None = None,
    hourly_rate: Any = None,
    note: str = "",
) -> TimeCharge:
    """Approve a billable entry: burn a prepaid block (``block``, or the oldest usable one
    unless ``use_block`` is False), the rest to invoice at ``hourly_rate`` or the known
    rate of its work type. Refused twice for one entry; refused without any rate."""
    require_billing_writer(actor)
    if actor is None:
        raise PermissionDenied(_("Approving time is a person's decision."))
    entry = _fresh_entry(entry)
    client = entry.ticket.client
    note = note.strip()[:300]
    rate: Decimal | None = None
    if hourly_rate is not None and hourly_rate != "":
        rate = clean_decimal("hourly_rate", hourly_rate, limit=MAX_PRICE, places=4)
    if block is not None:
        if block.client_id != client.pk:
            raise ValidationError({"block": [_("This block belongs to another client.")]})
        if block.expires_on is not None and block.expires_on < entry.worked_on:
            raise ValidationError({"block": [_("This block had expired when the work was done.")]})
        candidates = [block]
    elif use_block is False:
        candidates = []
    else:
        candidates = list(usable_blocks(client.pk, entry.worked_on)[:3])

    burned, used = 0, None
    for candidate in candidates:
        burned = _burn(candidate, entry.minutes)
        if burned:
            used = candidate
            break
    if block is not None and not burned:
        raise ValidationError({"block": [_("This block has no minutes left.")]})
    rest = entry.minutes - burned
    amount = Decimal("0.00")
    if rest:
        if rate is None:
            found = rate_for(entry)
            if found is None:
                raise NoRate(
                    {
                        "hourly_rate": [
                            _(
                                "No hourly rate is known for %(work)s at %(client)s: give one, "
                                "or set it on the agreement or in the catalogue."
                            )
                            % {
                                "work": entry.work_type.name
                                if entry.work_type
                                else _("time without a work type"),
                                "client": client.name,
                            }
                        ]
                    }
                )
            rate = found[0]
        amount = round_money(Decimal(rest) * rate / SIXTY)
    charge = _save_charge(
        TimeCharge(
            time_entry=entry,
            client=client,
            status=TimeChargeStatus.APPROVED if rest else TimeChargeStatus.BURNED,
            hourly_rate=rate if rest and rate is not None else Decimal("0"),
            amount=amount,
            block=used,
            block_minutes=burned,
            decided_by=actor,
            note=note,
        )
    )
    record_audit(
        actor,
        charge,
        "time.approved",
        client=client,
        after={
            "time_entry": entry.pk,
            "minutes": entry.minutes,
            "block": str(used.public_id) if used else None,
            "block_minutes": burned,
            "hourly_rate": str(charge.hourly_rate),
            "amount": str(amount),
        },
    )
    if used is not None:
        check_low_balance(used)
    return charge


@transaction.atomic
def write_off_time(*, actor: User, entry: TimeEntry, note: str = "") -> TimeCharge:
    """Decide not to bill a billable entry (recorded with who and why)."""
    require_billing_writer(actor)
    if actor is None:
        raise PermissionDenied(_("Writing off time is a person's decision."))
    entry = _fresh_entry(entry)
    charge = _save_charge(
        TimeCharge(
            time_entry=entry,
            client=entry.ticket.client,
            status=TimeChargeStatus.WRITTEN_OFF,
            decided_by=actor,
            note=note.strip()[:300],
        )
    )
    record_audit(
        actor,
        charge,
        "time.written_off",
        client=entry.ticket.client,
        after={"time_entry": entry.pk, "minutes": entry.minutes, "note": charge.note},
    )
    return charge


def decide_many(*, actor: User, entries: Iterable[TimeEntry], action: str) -> tuple[int, list[str]]:
    """Approve or write off several entries, each on its own: (how many done, problems)."""
    done, problems = 0, []
    for entry in entries:
        try:
            if action == "write_off":
                write_off_time(actor=actor, entry=entry)
            elif action == "invoice":
                approve_time(actor=actor, entry=entry, use_block=False)
            else:
                approve_time(actor=actor, entry=entry)
            done += 1
        except ValidationError as error:
            problems.append(f"#{entry.ticket.number}: {' '.join(error.messages)}")
    return done, problems


@transaction.atomic
def create_hour_block(
    *,
    actor: User | None,
    client: Client,
    name: str,
    minutes_total: int,
    low_balance_minutes: int = 120,
    purchased_on: date | None = None,
    expires_on: date | None = None,
    agreement: Agreement | None = None,
    price: Any = None,
    series: InvoiceSeries | None = None,
) -> HourBlock:
    """Prepaid hours for a client. With a ``price`` the purchase is invoiced: a draft
    invoice with one line, made by the invoicing service, for a person to issue."""
    require_billing_writer(actor)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": [_("Give a name of up to 200 characters.")]})
    for field, value, low in (
        ("minutes_total", minutes_total, 1),
        ("low_balance_minutes", low_balance_minutes, 0),
    ):
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not low <= value <= MAX_BLOCK_MINUTES
        ):
            raise ValidationError(
                {field: [_("Give whole minutes from %(low)d to 6,000,000.") % {"low": low}]}
            )
    purchased_on = purchased_on or timezone.localdate()
    if expires_on is not None and expires_on < purchased_on:
        raise ValidationError({"expires_on": [_("A block cannot expire before it is bought.")]})
    if agreement is not None and agreement.client_id != client.pk:
        raise ValidationError({"agreement": [_("This agreement belongs to another client.")]})
    amount = None
    if price is not None and price != "":
        amount = clean_decimal("price", price, limit=MAX_PRICE, places=2)
    block = HourBlock.objects.create(
        client=client,
        agreement=agreement,
        name=name,
        minutes_total=minutes_total,
        low_balance_minutes=low_balance_minutes,
        purchased_on=purchased_on,
        expires_on=expires_on,
    )
    if amount is not None:
        from atalaya.billing.services import invoices as invoicing

        series = series or (agreement.series if agreement else None)
        with override(client.language):
            text = _("Prepaid hours: %(name)s (%(hours)s h)") % {
                "name": name,
                "hours": f"{Decimal(minutes_total) / SIXTY:.2f}".rstrip("0").rstrip("."),
            }
        invoice = invoicing.create_draft(
            actor=actor,
            client=client,
            series=series,
            agreement=None,
            lines=[
                {
                    "description": text,
                    "quantity": Decimal(1),
                    "unit_price": amount,
                    "vat_category": VatCategory.STANDARD,
                    "vat_rate": Decimal("21.00"),
                    "unit": "fixed",
                }
            ],
        )
        block.invoice = invoice
        block.save(update_fields=["invoice"])
    record_audit(
        actor,
        block,
        "hour_block.created",
        client=client,
        after={
            "name": name,
            "minutes_total": minutes_total,
            "low_balance_minutes": low_balance_minutes,
            "expires_on": expires_on.isoformat() if expires_on else None,
            "invoice": str(block.invoice.public_id) if block.invoice else None,
        },
    )
    return block

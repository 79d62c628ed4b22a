"""The one decision: may this invoice get a reminder now, which one, and why (or why not).

The facts of many invoices are read set-based (one annotated query for the balances,
one grouped query each for the reminders sent and the debits returned, pauses and
policies once), then ``decide`` is pure: the proposal, the re-check at send time and
the invoice page all call it, so they can never disagree. ``fingerprint`` digests what
the decision rested on; if it differs at send time from the one approved, the item is
dropped, not sent.
"""

from __future__ import annotations

import decimal
import hashlib
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import Max, QuerySet
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.billing import balance
from atalaya.billing.models import (
    BankStatement,
    BillingProfile,
    BillingSettings,
    Collection,
    CollectionStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    ReminderKind,
    ReminderLevel,
    ReminderPause,
    SentReminder,
)
from atalaya.billing.services.reminders.policy import active_pauses, default_policy
from atalaya.core.models import Client, ContactMembership

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Level:
    """A policy step as the decision needs it (a plain copy of ReminderLevel)."""

    step: int
    kind: str
    channel: str
    days_after_due: int
    min_days_since_previous: int

    @property
    def label(self) -> str:
        return str(ReminderKind(self.kind).label)


@dataclass(frozen=True)
class Reason:
    """One reason of a decision: a stable code, its parameters, and whether it blocks.

    The text is rendered when read, in the active language, so a run proposed in
    Spanish reads in English to an English-speaking colleague.
    """

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    blocks: bool = True

    @property
    def text(self) -> str:
        return reason_text(self.code, self.params)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params, "blocks": self.blocks}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(
            code=str(data.get("code", "")),
            params=dict(data.get("params") or {}),
            blocks=bool(data.get("blocks", True)),
        )


@dataclass
class Facts:
    """What is known of one invoice: its balance parts, the reminders sent, returns."""

    id: int
    client_id: int
    code: str
    status: str
    kind: str
    total: Decimal
    currency: str
    due_date: date | None
    is_disputed: bool
    dispute_reason: str
    paid: Decimal
    credited: Decimal
    in_flight: Decimal
    open_balance: Decimal
    highest_step: int = 0
    last_sent_at: datetime | None = None
    returned_at: datetime | None = None


@dataclass
class Recipient:
    address: str
    language: str
    contact_id: int | None = None
    name: str = ""


@dataclass
class Context:
    """What holds for every invoice of a decision: time, policies, pauses, bank data."""

    now: datetime
    levels: dict[int, dict[int, Level]]
    default_policy_id: int
    policy_of_client: dict[int, int]
    global_pause: ReminderPause | None
    client_pauses: dict[int, ReminderPause]
    bank_until: date | None
    bank_max_age_hours: int
    override_by: str = ""
    override_reason: str = ""
    recipients: dict[int, Recipient | None] = field(default_factory=dict)

    @cached_property
    def today(self) -> date:
        return self.now.date()

    @cached_property
    def bank_is_stale(self) -> bool:
        return is_stale(self.bank_until, self.bank_max_age_hours, self.now)

    def levels_of(self, client_id: int) -> dict[int, Level]:
        return self.levels.get(self.policy_of_client.get(client_id, self.default_policy_id), {})


@dataclass
class Decision:
    facts: Facts
    reasons: list[Reason]
    level: Level | None
    fingerprint: str

    @cached_property
    def proposed(self) -> bool:
        return self.level is not None and not any(r.blocks for r in self.reasons)

    @property
    def blocking(self) -> list[Reason]:
        return [r for r in self.reasons if r.blocks]


# --- bank data ------------------------------------------------------------------------------


def bank_data_until() -> date | None:
    """How far the imported bank data reaches: the bank service's answer if it has one."""
    try:
        bank_services: Any = importlib.import_module("atalaya.billing.services.bank")
    except ImportError:
        bank_services = None
    reader = getattr(bank_services, "bank_data_until", None)
    if callable(reader):
        result = reader()
        return result if isinstance(result, date) else None
    return BankStatement.objects.aggregate(m=Max("covers_until"))["m"]


def is_stale(until: date | None, max_age_hours: int, now: datetime) -> bool:
    """Bank data covering ``until`` is known up to the end of that day (UTC)."""
    if until is None:
        return True
    known_up_to = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return now - known_up_to > timedelta(hours=max_age_hours)


# --- loading --------------------------------------------------------------------------------


def load_context(
    now: datetime,
    *,
    client_ids: Iterable[int] | None = None,
    override_by: str = "",
    override_reason: str = "",
    with_recipients: bool = True,
) -> Context:
    """Policies, pauses and bank freshness, each read once (recipients for ``client_ids``)."""
    default_id = default_policy().pk
    levels: dict[int, dict[int, Level]] = {}
    for row in ReminderLevel.objects.values_list(
        "policy_id", "step", "kind", "channel", "days_after_due", "min_days_since_previous"
    ):
        levels.setdefault(row[0], {})[row[1]] = Level(*row[1:])
    profiles = BillingProfile.objects.filter(reminder_policy__isnull=False)
    if client_ids is not None:
        ids = list(client_ids)
        profiles = profiles.filter(client_id__in=ids) if len(ids) < 500 else profiles
    policy_of_client = dict(profiles.values_list("client_id", "reminder_policy_id"))
    global_pause = None
    client_pauses: dict[int, ReminderPause] = {}
    for pause in active_pauses(now).order_by("expires_at"):
        if pause.client_id is None:
            global_pause = global_pause or pause
        else:
            client_pauses.setdefault(pause.client_id, pause)
    settings = BillingSettings.load()
    context = Context(
        now=now,
        levels=levels,
        default_policy_id=default_id,
        policy_of_client=policy_of_client,
        global_pause=global_pause,
        client_pauses=client_pauses,
        bank_until=bank_data_until(),
        bank_max_age_hours=settings.bank_data_max_age_hours,
        override_by=override_by,
        override_reason=override_reason,
    )
    if with_recipients and client_ids is not None:
        context.recipients = load_recipients(client_ids)
    return context


def load_recipients(client_ids: Iterable[int]) -> dict[int, Recipient | None]:
    """Where each client's billing mail goes: its invoice address, else its first billing
    contact (by name); in that contact's language, else the client's."""
    ids = set(client_ids)
    many = len(ids) >= 500
    clients = Client.objects.all() if many else Client.objects.filter(pk__in=ids)
    language = dict(clients.values_list("pk", "language"))
    profiles = BillingProfile.objects.exclude(invoice_email="")
    if not many:
        profiles = profiles.filter(client_id__in=ids)
    found: dict[int, Recipient | None] = {
        cid: Recipient(address=email, language=language.get(cid, "es"))
        for cid, email in profiles.values_list("client_id", "invoice_email")
    }
    memberships = (
        ContactMembership.objects.filter(is_billing=True)
        .exclude(contact__email="")
        .order_by("contact__name", "contact_id")
    )
    if not many:
        memberships = memberships.filter(client_id__in=ids)
    for cid, contact_id, email, lang, name in memberships.values_list(
        "client_id", "contact_id", "contact__email", "contact__language", "contact__name"
    ):
        if cid not in found:
            found[cid] = Recipient(address=email, language=lang, contact_id=contact_id, name=name)
    return {cid: found.get(cid) for cid in ids}


_FACT_FIELDS = (
    "pk",
    "client_id",
    "code",
    "status",
    "kind",
    "total",
    "currency",
    "due_date",
    "is_disputed",
    "dispute_reason",
    "paid",
    "credited",
    "in_flight",
)


def load_facts(invoices: QuerySet[Invoice], *, chunk: int | None = None) -> dict[int, Facts]:
    """The facts of every invoice in ``invoices``: balances in one annotated query, the
    reminders sent and the debits returned in one grouped query each."""
    facts: dict[int, Facts] = {}
    # The parts of the balance only: the annotated open_balance would repeat each part's
    # subquery in its expression (six correlated subqueries per invoice instead of three),
    # so it is summed here by balance.py's formula (a test holds the two equal).
    rows = balance.with_balances(invoices.order_by()).values_list(*_FACT_FIELDS)
    # Read with a plain cursor: Django's per-value converters (Decimal from SQLite's
    # floats, dates from text) cost more than the query at 100,000 rows; _dec and
    # _day do the same conversions (cents from a float with 15 digits of precision).
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # Compiling this plan with JIT took 3 s of a 6 s scan; it runs once.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk or 5000):
            for row in batch:
                facts[row[0]] = Facts(
                    id=row[0],
                    client_id=row[1],
                    code=row[2],
                    status=row[3],
                    kind=row[4],
                    total=_dec(row[5]),
                    currency=row[6],
                    due_date=_day(row[7]),
                    is_disputed=bool(row[8]),
                    dispute_reason=row[9],
                    paid=_dec(row[10]),
                    credited=_dec(row[11]),
                    in_flight=_dec(row[12]),
                    open_balance=ZERO,
                )
                f = facts[row[0]]
                # A credit note's total is negative: adding it reduces what is owed.
                f.open_balance = f.total - f.paid + f.credited - f.in_flight
    if not facts:
        return facts
    few = len(facts) <= 500
    sent = SentReminder.objects.all()
    returned = Collection.objects.filter(status=CollectionStatus.RETURNED)
    if few:
        sent = sent.filter(invoice_id__in=list(facts))
        returned = returned.filter(invoice_id__in=list(facts))
    else:
        # The whole set: cheaper as one grouped scan than a huge IN list.
        sent = sent.filter(invoice__status=InvoiceStatus.ISSUED)
    for invoice_id, highest, last in (
        sent.order_by().values("invoice_id").annotate(h=Max("step"), last=Max("sent_at"))
    ).values_list("invoice_id", "h", "last"):
        found = facts.get(invoice_id)
        if found is not None:
            found.highest_step, found.last_sent_at = highest or 0, last
    for invoice_id, at in (
        returned.order_by().values("invoice_id").annotate(r=Max("returned_at"))
    ).values_list("invoice_id", "r"):
        found = facts.get(invoice_id)
        if found is not None and at is not None:
            found.returned_at = at
    return facts


_FROM_FLOAT = decimal.Context(prec=15).create_decimal_from_float


def _dec(value: Any) -> Decimal:
    if isinstance(value, float):
        value = _FROM_FLOAT(value)
    elif not isinstance(value, Decimal):
        value = Decimal(str(value or 0))
    return value.quantize(ZERO)


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- the decision ---------------------------------------------------------------------------


def decide(f: Facts, ctx: Context) -> Decision:
    """Which reminder (if any) this invoice may get now, with every reason that applies."""
    reasons: list[Reason] = []
    level: Level | None = None
    if f.status != InvoiceStatus.ISSUED:
        reasons.append(Reason("not_issued", {"status": f.status}))
        return Decision(f, reasons, None, fingerprint(f, None, ctx))
    if f.kind != InvoiceKind.INVOICE:
        reasons.append(Reason("credit_note"))
        return Decision(f, reasons, None, fingerprint(f, None, ctx))
    if f.open_balance <= ZERO:
        reasons.append(Reason("settled", _money(f)))
    if ctx.global_pause is not None:
        reasons.append(Reason("global_pause", _pause_params(ctx.global_pause)))
    client_pause = ctx.client_pauses.get(f.client_id)
    if client_pause is not None:
        reasons.append(Reason("client_pause", _pause_params(client_pause)))
    if f.is_disputed:
        reasons.append(Reason("disputed", {"reason": f.dispute_reason}))
    if ctx.bank_is_stale:
        params = {
            "until": ctx.bank_until.isoformat() if ctx.bank_until else "",
            "hours": ctx.bank_max_age_hours,
        }
        if ctx.override_reason:
            params.update(who=ctx.override_by, reason=ctx.override_reason)
            reasons.append(Reason("bank_override", params, blocks=False))
        else:
            reasons.append(Reason("bank_stale" if ctx.bank_until else "no_bank_data", params))
    levels = ctx.levels_of(f.client_id)
    level = _next_level(f, ctx, levels, reasons)
    if (
        level is not None
        and level.channel == "email"
        and ctx.recipients
        and ctx.recipients.get(f.client_id) is None
    ):
        reasons.append(Reason("no_recipient"))
    if level is not None and not any(r.blocks for r in reasons):
        money = _money(f)
        covered = f.paid + f.in_flight - f.credited
        if covered > ZERO:
            reasons.append(
                Reason("partly_covered", {**money, "covered": str(covered)}, blocks=False)
            )
        reasons.append(
            Reason(
                "proposed",
                {
                    "step": level.step,
                    "kind": level.kind,
                    "days": _days_overdue(f, ctx),
                    **money,
                },
                blocks=False,
            )
        )
    return Decision(f, reasons, level, fingerprint(f, level, ctx))


def _money(f: Facts) -> dict[str, Any]:
    return {
        "balance": str(f.open_balance),
        "paid": str(f.paid),
        "credited": str(-f.credited),
        "in_flight": str(f.in_flight),
        "currency": f.currency,
    }


def _next_level(
    f: Facts, ctx: Context, levels: dict[int, Level], reasons: list[Reason]
) -> Level | None:
    """The one step after the highest sent (never skipping), if its time has come."""
    if f.due_date is None:
        reasons.append(Reason("no_due_date"))
        return None
    days = _days_overdue(f, ctx)
    if not levels:
        reasons.append(Reason("all_sent", {"highest": f.highest_step}))
        return None
    first = min(levels)
    after_return = f.returned_at is not None and (
        f.last_sent_at is None or f.last_sent_at < f.returned_at
    )
    if after_return:
        assert f.returned_at is not None
        returned_on = f.returned_at.date().isoformat()
        if f.highest_step >= first:
            # The friendly notice was used before the debit; anything now would be a
            # higher level straight after a return. A person follows up (the task).
            reasons.append(Reason("returned_debit_hold", {"date": returned_on}))
            return None
        level = levels[first]
        reasons.append(Reason("returned_debit", {"date": returned_on}, blocks=False))
        # The return itself brought the client a friendly notice (collections'
        # mark_returned): the reminder's friendly notice waits the usual gap after it.
        since_return = (ctx.today - f.returned_at.date()).days
        if since_return < level.min_days_since_previous:
            reasons.append(
                Reason(
                    "too_soon_after_return",
                    {
                        "date": returned_on,
                        "min": level.min_days_since_previous,
                        "on": (
                            f.returned_at.date() + timedelta(days=level.min_days_since_previous)
                        ).isoformat(),
                    },
                )
            )
    else:
        candidates = [s for s in levels if s > f.highest_step]
        if not candidates:
            reasons.append(Reason("all_sent", {"highest": f.highest_step}))
            return None
        level = levels[min(candidates)]
    if days < 0:
        reasons.append(Reason("not_due", {"due": f.due_date.isoformat()}))
        return level
    if days < level.days_after_due:
        reasons.append(
            Reason(
                "too_early",
                {
                    "days": days,
                    "kind": level.kind,
                    "needed": level.days_after_due,
                    "on": (f.due_date + timedelta(days=level.days_after_due)).isoformat(),
                },
            )
        )
    if f.last_sent_at is not None and not after_return:
        since = (ctx.today - f.last_sent_at.date()).days
        if since < level.min_days_since_previous:
            reasons.append(
                Reason(
                    "too_soon",
                    {
                        "sent": f.last_sent_at.date().isoformat(),
                        "kind": level.kind,
                        "min": level.min_days_since_previous,
                        "on": (
                            f.last_sent_at.date() + timedelta(days=level.min_days_since_previous)
                        ).isoformat(),
                    },
                )
            )
    return level


def _days_overdue(f: Facts, ctx: Context) -> int:
    return (ctx.today - f.due_date).days if f.due_date else 0


def _pause_params(pause: ReminderPause) -> dict[str, Any]:
    return {"until": pause.expires_at.isoformat(), "reason": pause.reason, "pause": pause.pk}


def fingerprint(f: Facts, level: Level | None, ctx: Context) -> str:
    """SHA-256 of what the decision rested on (not the day: days passing change nothing
    the person approved)."""
    material = (
        f.id,
        f.status,
        f.kind,
        f.total,
        f.paid,
        f.credited,
        f.in_flight,
        f.open_balance,
        f.is_disputed,
        f.due_date,
        f.highest_step,
        f.last_sent_at.isoformat() if f.last_sent_at else None,
        f.returned_at.isoformat() if f.returned_at else None,
        ctx.policy_of_client.get(f.client_id, ctx.default_policy_id),
        (level.step, level.kind, level.channel) if level else None,
    )
    # Plain str() of each part: Decimals keep their cents, dates are ISO.
    return hashlib.sha256("|".join(map(str, material)).encode()).hexdigest()


def decide_many(facts: Iterable[Facts], ctx: Context) -> Iterator[Decision]:
    for f in facts:
        yield decide(f, ctx)


def first_due_date(ctx: Context) -> date:
    """Invoices due after this cannot reach any level today (the proposal's prefilter)."""
    smallest = min(
        (lv.days_after_due for steps in ctx.levels.values() for lv in steps.values()), default=0
    )
    return ctx.today - timedelta(days=smallest)


# --- texts ----------------------------------------------------------------------------------


def _date(value: Any) -> str:
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return date_format(parsed.date() if len(str(value)) > 10 else parsed, "SHORT_DATE_FORMAT")


def money_text(amount: Any, currency: str = "EUR", language: str | None = None) -> str:
    """An amount as people read it: 1.234,56 EUR in Spanish, 1,234.56 EUR in English."""
    from django.utils.translation import get_language

    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    text = f"{value:,.2f}"
    if (language or get_language() or "en").startswith("es"):
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} {currency}"


def kind_label(kind: str) -> str:
    try:
        return str(ReminderKind(kind).label)
    except ValueError:
        return kind


REASON_LABELS = {
    "not_issued": gettext_lazy("not issued"),
    "credit_note": gettext_lazy("credit note"),
    "settled": gettext_lazy("nothing owed (paid, credited or being debited)"),
    "global_pause": gettext_lazy("paused for every client"),
    "client_pause": gettext_lazy("client paused"),
    "disputed": gettext_lazy("disputed"),
    "no_bank_data": gettext_lazy("no bank data"),
    "bank_stale": gettext_lazy("bank data too old"),
    "no_due_date": gettext_lazy("no due date"),
    "not_due": gettext_lazy("not due yet"),
    "too_early": gettext_lazy("too early for the next level"),
    "too_soon": gettext_lazy("too soon after the previous step"),
    "too_soon_after_return": gettext_lazy("too soon after a returned debit"),
    "all_sent": gettext_lazy("every level sent"),
    "returned_debit_hold": gettext_lazy("returned debit: a person follows up"),
    "no_recipient": gettext_lazy("no billing e-mail address"),
}


def reason_label(code: str) -> str:
    """A few words for a reason code (the run's excluded counts)."""
    return str(REASON_LABELS.get(code, code))


def reason_text(code: str, p: dict[str, Any]) -> str:
    """The sentence of one reason, in the active language."""
    cur = str(p.get("currency", "EUR"))

    def m(key: str) -> str:
        return money_text(p.get(key, "0"), cur)

    if code == "not_issued":
        return _("Not issued (a draft or a discarded draft): only issued invoices get reminders.")
    if code == "credit_note":
        return _("A credit note: there is nothing to remind.")
    if code == "settled":
        return _(
            "Nothing is owed: the open balance is %(balance)s (paid %(paid)s, credited "
            "%(credited)s, direct debits on their way %(in_flight)s)."
        ) % {"balance": m("balance"), "paid": m("paid"), "credited": m("credited"),
             "in_flight": m("in_flight")}  # fmt: skip
    if code == "global_pause":
        return _("Reminders are paused for every client until %(until)s: %(reason)s") % {
            "until": _date(p.get("until")),
            "reason": p.get("reason", ""),
        }
    if code == "client_pause":
        return _("Reminders to this client are paused until %(until)s: %(reason)s") % {
            "until": _date(p.get("until")),
            "reason": p.get("reason", ""),
        }
    if code == "disputed":
        return _("The client disputes this invoice: %(reason)s") % {"reason": p.get("reason", "")}
    if code == "no_bank_data":
        return _(
            "No bank statement has been imported yet, so payments may be unknown: import one "
            "or override for this run with a reason."
        )
    if code == "bank_stale":
        return _(
            "The bank data is too old (it reaches %(until)s; at most %(hours)s hours are "
            "allowed): import a statement or override for this run with a reason."
        ) % {"until": _date(p.get("until")), "hours": p.get("hours")}
    if code == "bank_override":
        return _(
            "The bank data is older than allowed; %(who)s let this run go ahead: %(reason)s"
        ) % {"who": p.get("who", ""), "reason": p.get("reason", "")}
    if code == "no_due_date":
        return _("The invoice has no due date.")
    if code == "not_due":
        return _("Not due yet: due on %(due)s.") % {"due": _date(p.get("due"))}
    if code == "too_early":
        return _(
            "%(days)s days overdue; the %(level)s comes %(needed)s days after the due date "
            "(on %(on)s)."
        ) % {
            "days": p.get("days"),
            "level": kind_label(str(p.get("kind"))).lower(),
            "needed": p.get("needed"),
            "on": _date(p.get("on")),
        }
    if code == "too_soon":
        return _(
            "The previous step went out on %(sent)s; the %(level)s waits at least %(min)s "
            "days after it (until %(on)s)."
        ) % {
            "sent": _date(p.get("sent")),
            "level": kind_label(str(p.get("kind"))).lower(),
            "min": p.get("min"),
            "on": _date(p.get("on")),
        }
    if code == "all_sent":
        return _("Every level of the policy has been sent; a person follows up.")
    if code == "returned_debit":
        return _(
            "A direct debit was returned on %(date)s: the next message is the friendly notice, "
            "never a higher level (a person has a task to follow it up)."
        ) % {"date": _date(p.get("date"))}
    if code == "returned_debit_hold":
        return _(
            "A direct debit was returned on %(date)s after the friendly notice had gone out: "
            "reminders do not escalate after a return; a person follows it up (the task)."
        ) % {"date": _date(p.get("date"))}
    if code == "too_soon_after_return":
        return _(
            "The client was told of the returned debit on %(date)s; the friendly notice "
            "waits at least %(min)s days after that (until %(on)s)."
        ) % {"date": _date(p.get("date")), "min": p.get("min"), "on": _date(p.get("on"))}
    if code == "no_recipient":
        return _("The client has no billing e-mail address (invoice e-mail or a billing contact).")
    if code == "partly_covered":
        return _(
            "Part is paid or on its way (%(covered)s): only the %(balance)s open is asked for."
        ) % {
            "covered": m("covered"),
            "balance": m("balance"),
        }
    if code == "proposed":
        return _(
            "Due for step %(step)s, the %(level)s: %(days)s days overdue, %(balance)s open."
        ) % {
            "step": p.get("step"),
            "level": kind_label(str(p.get("kind"))).lower(),
            "days": p.get("days"),
            "balance": m("balance"),
        }
    if code == "changed":
        return _("Changed since it was approved: %(what)s") % {"what": p.get("what", "")}
    if code == "already_sent":
        return _("This reminder was already sent (by another run or worker).")
    if code == "not_approved":
        return _("Not approved when the run was sent.")
    return code

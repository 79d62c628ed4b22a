"""Bank statements: import a camt.053 / camt.054 / Norma 43 file and reconcile it.

One transaction per import: the file is parsed completely first (a bad file writes
nothing), stored once (its SHA-256 is unique: the same file again changes nothing and
says so), and each entry once across files (``dedup_key``: an entry in a camt.054 and
in the day's camt.053 is the same entry). Then every new entry is reconciled:

1. by end-to-end id: a collection's settlement (→ provisional, with its payment) or,
   with a return reason, its return (→ ``mark_returned``);
2. by reference: invoice codes in the remittance information (→ a payment applied to
   them, up to their open balances; the rest is credit);
3. by amount: the payer's IBAN names exactly one client (a mandate, or the account
   they paid from before) and exactly one of its open invoices has that open balance.

Everything else waits in the manual queue. The reconciliation is set-based: a few
queries build dictionaries (collections by end-to-end id, invoices by code, clients by
IBAN, open balances), the decisions are taken in memory and written with bulk INSERTs,
so a statement of 50,000 entries takes seconds, not 50,000 round trips.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing import balance
from atalaya.billing.models import (
    BankEntry,
    BankStatement,
    BillingSettings,
    Collection,
    CollectionStatus,
    EntryStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Mandate,
    PaymentMethod,
    StatementFormat,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.billing.services import collections as collection_services
from atalaya.billing.services import payments as payment_services
from atalaya.billing.statements import ParsedEntry, ParsedStatement, parse_statement
from atalaya.billing.statements.norma43 import iban_matches
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit

S = CollectionStatus
ZERO = Decimal("0.00")
# Parameters per IN (...) query: well inside SQLite's and PostgreSQL's limits.
CHUNK = 2000
# Remittance tokens looked at per entry (an invoice code, an end-to-end id).
MAX_TOKENS = 30
_SPLIT = re.compile(r"[\s,;:()\[\]<>\"'/]+")

T = TypeVar("T")


class Rule:
    """``BankEntry.matched_rule``: how an entry was matched (or why it was set aside)."""

    SETTLEMENT = "end_to_end_settlement"
    RETURN = "end_to_end_return"
    KNOWN = "end_to_end_already_known"
    REFERENCE = "reference"
    AMOUNT = "amount_and_iban"
    MANUAL = "manual"
    OUTGOING = "outgoing"


@dataclass
class ImportResult:
    """What one import did; kept on the statement as ``summary``."""

    duplicate_file: bool = False
    entries: int = 0
    new: int = 0
    duplicates: int = 0
    settled: int = 0
    returned: int = 0
    by_reference: int = 0
    by_amount: int = 0
    already_known: int = 0
    outgoing: int = 0
    unmatched: int = 0

    @property
    def matched(self) -> int:
        return (
            self.settled + self.returned + self.by_reference + self.by_amount + self.already_known
        )

    def as_dict(self) -> dict[str, int]:
        return {
            name: getattr(self, name)
            for name in (
                "entries",
                "new",
                "duplicates",
                "settled",
                "returned",
                "by_reference",
                "by_amount",
                "already_known",
                "outgoing",
                "unmatched",
            )
        }


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bank_data_until() -> date | None:
    """The freshest day any imported statement covers (reminders wait when it is old)."""
    return BankStatement.objects.aggregate(m=Max("covers_until"))["m"]


def _tokens(entry: ParsedEntry) -> list[str]:
    text = f"{entry.end_to_end_id} {entry.reference} {entry.remittance}".upper()
    found = []
    for token in _SPLIT.split(text):
        token = token.strip(".-")
        if len(token) >= 3 and token not in found:
            found.append(token)
            if len(found) >= MAX_TOKENS:
                break
    return found


def _check_account(parsed: ParsedStatement, settings: BillingSettings) -> None:
    expected = (settings.iban or "").replace(" ", "").upper()
    if not expected:
        return
    if parsed.format == StatementFormat.NORMA43:
        if not iban_matches(expected, parsed.account_hint):
            raise ValidationError(
                _("This statement is of account %(account)s, not of %(iban)s (billing settings).")
                % {"account": parsed.account_hint, "iban": expected}
            )
        parsed.account_iban = expected
    elif parsed.account_iban != expected:
        raise ValidationError(
            _("This statement is of account %(account)s, not of %(iban)s (billing settings).")
            % {"account": parsed.account_iban, "iban": expected}
        )


@dataclass
class _Decision:
    entry: ParsedEntry
    status: str = EntryStatus.UNMATCHED
    rule: str = ""
    client_id: int | None = None
    collection: Collection | None = None
    invoice_ids: tuple[int, ...] = ()
    note: str = ""
    entry_id: int = 0


@dataclass
class _Lookups:
    collections: dict[str, Collection] = field(default_factory=dict)
    invoices: dict[str, tuple[int, int]] = field(default_factory=dict)  # code → (id, client)
    clients_by_iban: dict[str, set[int]] = field(default_factory=dict)
    balances: dict[int, Decimal] = field(default_factory=dict)
    # (client, open balance) → the open invoices with exactly that balance.
    by_amount: dict[tuple[int, Decimal], list[int]] = field(default_factory=dict)


def _lookups(entries: list[ParsedEntry], tokens: list[list[str]]) -> _Lookups:
    """Everything the decisions need, in a few chunked queries."""
    found = _Lookups()
    e2e = {e.end_to_end_id.upper() for e in entries if e.end_to_end_id}
    e2e |= {t for ts in tokens for t in ts if t.startswith("ATA") and len(t) <= 35}
    for chunk in _chunks(sorted(e2e)):
        for collection in Collection.objects.select_for_update().filter(end_to_end_id__in=chunk):
            found.collections[collection.end_to_end_id.upper()] = collection
    words = {t for ts in tokens for t in ts} - set(found.collections)
    for chunk in _chunks(sorted(words)):
        for pk, code, client_id in Invoice.objects.filter(
            code__in=chunk, status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE
        ).values_list("pk", "code", "client_id"):
            found.invoices[code.upper()] = (pk, client_id)
    ibans = {e.counterparty_iban for e in entries if e.counterparty_iban and e.amount > 0}
    clients_by_iban: dict[str, set[int]] = defaultdict(set)
    for chunk in _chunks(sorted(ibans)):
        for iban, client_id in Mandate.objects.filter(iban__in=chunk).values_list(
            "iban", "client_id"
        ):
            clients_by_iban[iban].add(client_id)
        for iban, client_id in (
            BankEntry.objects.filter(
                counterparty_iban__in=chunk, status=EntryStatus.MATCHED, client__isnull=False
            )
            .values_list("counterparty_iban", "client_id")
            .distinct()
        ):
            clients_by_iban[iban].add(client_id)
    found.clients_by_iban = dict(clients_by_iban)
    # Open balances: of the invoices named by reference and of every open invoice of
    # the clients an IBAN points at (for the match by amount).
    invoice_ids = {pk for pk, _client in found.invoices.values()}
    invoice_ids |= {c.invoice_id for c in found.collections.values()}
    candidates = sorted({next(iter(s)) for s in found.clients_by_iban.values() if len(s) == 1})
    for client_chunk in _chunks(candidates, 500):
        rows = balance.with_balances(
            Invoice.objects.filter(
                client_id__in=client_chunk,
                status=InvoiceStatus.ISSUED,
                kind=InvoiceKind.INVOICE,
            )
        ).values_list("pk", "client_id", "open_balance")
        for pk, client_id, open_amount in rows:
            # Filtered here: a WHERE on the annotation would run its subqueries again.
            value = Decimal(open_amount).quantize(Decimal("0.01"))
            if value <= 0:
                continue
            found.balances[pk] = value
            found.by_amount.setdefault((client_id, value), []).append(pk)
    missing = sorted(invoice_ids - set(found.balances))
    for id_chunk in _chunks(missing, 1000):
        for pk, value in balance.open_balances(id_chunk).items():
            found.balances[pk] = Decimal(value).quantize(Decimal("0.01"))
    return found


def _decide(
    entries: list[ParsedEntry], tokens: list[list[str]], found: _Lookups, currency: str
) -> list[_Decision]:
    decisions = []
    balances = found.balances
    claimed: set[int] = set()
    # An invoice whose collection settles here gets its debit's amount back in its
    # balance (it leaves "in flight"), then the debit's payment takes it again.
    for entry, words in zip(entries, tokens, strict=True):
        decision = _Decision(entry=entry)
        decisions.append(decision)
        if entry.currency != currency:
            decision.note = _("In %(currency)s, not %(expected)s: match it by hand.") % {
                "currency": entry.currency,
                "expected": currency,
            }
            continue
        collection = (
            found.collections.get(entry.end_to_end_id.upper()) if entry.end_to_end_id else None
        )
        if collection is None:
            collection = next((found.collections[t] for t in words if t in found.collections), None)
        if entry.return_reason:
            if collection is not None and collection.status in (
                S.SUBMITTED,
                S.PROVISIONAL,
                S.FINAL,
            ):
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.RETURN
                decision.client_id, decision.collection = collection.client_id, collection
            elif collection is not None and collection.status == S.RETURNED:
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.KNOWN
                decision.client_id = collection.client_id
            else:
                decision.note = _("A returned debit (%(code)s) Atalaya does not know.") % {
                    "code": entry.return_reason
                }
            continue
        if entry.amount < 0:
            decision.status, decision.rule = EntryStatus.IGNORED, Rule.OUTGOING
            continue
        if collection is not None:
            if collection.status == S.SUBMITTED and entry.amount == collection.amount:
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.SETTLEMENT
                decision.client_id, decision.collection = collection.client_id, collection
                # Pending, the debit held the invoice's balance at zero; settled, the
                # balance it frees is what its own payment then takes.
                balances[collection.invoice_id] = (
                    balances.get(collection.invoice_id, ZERO) + collection.amount
                )
                continue
            if collection.status in (S.PROVISIONAL, S.FINAL) and entry.amount == collection.amount:
                # The same settlement reported again (another file, another key).
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.KNOWN
                decision.client_id = collection.client_id
                continue
            decision.note = _(
                "Quotes the direct debit %(e2e)s, which is %(status)s for %(amount)s."
            ) % {
                "e2e": collection.end_to_end_id,
                "status": S(collection.status).label.lower(),
                "amount": collection.amount,
            }
            continue
        named = []
        for word in words:
            hit = found.invoices.get(word)
            if hit is not None and hit not in named:
                named.append(hit)
        if named:
            clients = {client for _pk, client in named}
            if len(clients) == 1:
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.REFERENCE
                decision.client_id = named[0][1]
                decision.invoice_ids = tuple(pk for pk, _client in named)
                continue
            decision.note = _("Names invoices of several clients.")
            continue
        clients = found.clients_by_iban.get(entry.counterparty_iban, set())
        if len(clients) == 1:
            client_id = next(iter(clients))
            options = [
                pk
                for pk in found.by_amount.get((client_id, entry.amount), [])
                if balances.get(pk) == entry.amount and pk not in claimed
            ]
            if len(options) == 1:
                decision.status, decision.rule = EntryStatus.MATCHED, Rule.AMOUNT
                decision.client_id, decision.invoice_ids = client_id, (options[0],)
                claimed.add(options[0])  # a second equal entry must not take it too
                continue
            decision.client_id = None
            decision.note = _("The payer's account is of a known client; pick the invoice.")
    return decisions


def _statement_row(
    parsed: ParsedStatement, sha: str, filename: str, actor: User | None
) -> BankStatement:
    return BankStatement.objects.create(
        format=parsed.format,
        sha256=sha,
        filename=(filename or "")[:255],
        account_iban=parsed.account_iban[:34],
        statement_ref=parsed.statement_ref[:64],
        covers_from=parsed.covers_from,
        covers_until=parsed.covers_until,
        imported_by=actor if actor is not None and actor.pk else None,
    )


def import_statement(*, actor: User | None, data: bytes, filename: str = "") -> BankStatement:
    """Import one statement file and reconcile its new entries (see the module's text).

    Returns the statement with ``result`` (an ``ImportResult``); a file imported before
    returns that earlier statement with ``result.duplicate_file`` set and changes
    nothing. A bad file raises ValidationError and writes nothing.
    """
    require_billing_writer(actor)
    if not isinstance(data, bytes | bytearray):
        raise ValidationError(_("The statement must be a file."))
    data = bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    earlier = BankStatement.objects.filter(sha256=sha).first()
    if earlier is not None:
        earlier.result = ImportResult(duplicate_file=True)  # type: ignore[attr-defined]
        return earlier
    parsed = parse_statement(data, filename)
    settings = BillingSettings.load()
    _check_account(parsed, settings)
    currency = settings.currency or "EUR"
    if parsed.currency and parsed.currency != currency:
        raise ValidationError(
            _("The statement's account is in %(got)s; billing is in %(expected)s.")
            % {"got": parsed.currency, "expected": currency}
        )
    try:
        with transaction.atomic():
            statement = _statement_row(parsed, sha, filename, actor)
            result = _reconcile(statement, parsed, actor, currency)
    except IntegrityError:
        # Another import of the very same file won the race.
        earlier = BankStatement.objects.filter(sha256=sha).first()
        if earlier is None:
            raise
        earlier.result = ImportResult(duplicate_file=True)  # type: ignore[attr-defined]
        return earlier
    statement.result = result  # type: ignore[attr-defined]
    return statement


def _reconcile(
    statement: BankStatement, parsed: ParsedStatement, actor: User | None, currency: str
) -> ImportResult:
    result = ImportResult(entries=len(parsed.entries))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The balance subqueries run once per import: compiling them costs seconds.
            cursor.execute("SET LOCAL jit = off")
    existing: set[str] = set()
    for chunk in _chunks([e.dedup_key for e in parsed.entries]):
        existing.update(
            BankEntry.objects.filter(dedup_key__in=chunk).values_list("dedup_key", flat=True)
        )
    fresh = [e for e in parsed.entries if e.dedup_key not in existing]
    result.new, result.duplicates = len(fresh), len(parsed.entries) - len(fresh)
    tokens = [_tokens(e) for e in fresh]
    found = _lookups(fresh, tokens)
    decisions = _decide(fresh, tokens, found, currency)
    now = timezone.now()
    matched_by = actor.pk if actor is not None and actor.pk else None
    rows = []
    for decision in decisions:
        entry = decision.entry
        matched = decision.status == EntryStatus.MATCHED
        rows.append(
            {
                "statement_id": statement.pk,
                "dedup_key": entry.dedup_key,
                "booking_date": entry.booking_date,
                "value_date": entry.value_date,
                "amount": entry.amount,
                "currency": entry.currency[:3],
                "end_to_end_id": entry.end_to_end_id[:35],
                "reference": entry.reference[:140],
                "remittance": entry.remittance[:500],
                "counterparty_name": entry.counterparty_name[:140],
                "counterparty_iban": entry.counterparty_iban[:34],
                "return_reason": entry.return_reason[:4],
                "status": decision.status,
                "client_id": decision.client_id if matched else None,
                "matched_by_id": matched_by if matched else None,
                "matched_rule": decision.rule,
                "matched_at": now if decision.status != EntryStatus.UNMATCHED else None,
                "note": decision.note[:300],
            }
        )
    payment_services.insert_rows(BankEntry, rows)
    pk_of = dict(BankEntry.objects.filter(statement=statement).values_list("dedup_key", "pk"))
    for decision in decisions:
        decision.entry_id = pk_of[decision.entry.dedup_key]
    failed: list[int] = []
    # 1. Settlements, in bulk.
    settlements = [d for d in decisions if d.rule == Rule.SETTLEMENT]
    moved = collection_services.settle_many(
        actor=actor,
        items=[
            (d.collection, d.entry_id, d.entry.booking_date)  # type: ignore[misc]
            for d in settlements
        ],
        balances=found.balances,
    )
    for d in settlements:
        if d.collection is not None and d.collection.pk in moved:
            result.settled += 1
        else:
            failed.append(d.entry_id)
    # 2. Returns, one by one: each mails the client and opens a ticket.
    for d in decisions:
        if d.rule != Rule.RETURN or d.collection is None:
            continue
        try:
            collection_services.mark_returned(
                actor=actor,
                collection=d.collection,
                reason_code=d.entry.return_reason,
                bank_entry=BankEntry(pk=d.entry_id),  # the row exists; only its key is needed
                today=d.entry.booking_date,
            )
        except ValidationError:
            failed.append(d.entry_id)
        else:
            result.returned += 1
    # 3. Payments by reference and by amount, in bulk.
    paying = [d for d in decisions if d.rule in (Rule.REFERENCE, Rule.AMOUNT)]
    payment_services.record_payments_bulk(
        actor=actor,
        specs=[
            payment_services.PaymentSpec(
                client_id=d.client_id,  # type: ignore[arg-type]
                amount=d.entry.amount,
                received_on=min(d.entry.booking_date, timezone.localdate()),
                reference=(d.entry.reference or d.entry.remittance)[:140],
                bank_entry_id=d.entry_id,
                invoice_ids=d.invoice_ids,
                method=PaymentMethod.TRANSFER,
            )
            for d in paying
        ],
        balances=found.balances,
    )
    result.by_reference = sum(1 for d in paying if d.rule == Rule.REFERENCE)
    result.by_amount = len(paying) - result.by_reference
    result.already_known = sum(1 for d in decisions if d.rule == Rule.KNOWN)
    result.outgoing = sum(1 for d in decisions if d.rule == Rule.OUTGOING)
    for failed_chunk in _chunks(failed):
        BankEntry.objects.filter(pk__in=failed_chunk).update(
            status=EntryStatus.UNMATCHED,
            client=None,
            matched_by=None,
            matched_rule="",
            matched_at=None,
            note=_("The debit changed meanwhile; match it by hand."),
        )
    result.unmatched = sum(1 for d in decisions if d.status == EntryStatus.UNMATCHED) + len(failed)
    statement.entry_count = len(fresh)
    statement.matched_count = result.matched
    statement.summary = result.as_dict()
    statement.save(update_fields=["entry_count", "matched_count", "summary"])
    record_audit(
        actor,
        statement,
        "bank_statement.imported",
        after={"format": statement.format, "sha256": statement.sha256, **result.as_dict()},
    )
    return result


# ---------------------------------------------------------------------------------------
# The manual queue
# ---------------------------------------------------------------------------------------


def unmatched_entries() -> Any:
    return BankEntry.objects.filter(status=EntryStatus.UNMATCHED).select_related("statement")


@transaction.atomic
def match_entry(
    *,
    actor: User | None,
    entry: BankEntry,
    invoice: Invoice | None = None,
    client: Client | None = None,
) -> Any:
    """A person matched an incoming entry: to an invoice (paid up to its open balance, the
    rest is credit) or to a client (all credit). Returns the payment."""
    require_billing_writer(actor)
    if invoice is None and client is None:
        raise ValidationError(_("Choose the invoice or the client the money is from."))
    if invoice is not None:
        if client is not None and client.pk != invoice.client_id:
            raise ValidationError(_("The invoice belongs to another client."))
        client = invoice.client
    assert client is not None
    locked = BankEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if locked is None or locked.status != EntryStatus.UNMATCHED:
        raise ValidationError(_("This entry is not waiting to be matched any more."))
    if locked.amount <= 0:
        raise ValidationError(
            _("Money out cannot pay an invoice; ignore it, or record the return on its debit.")
        )
    payment = payment_services.record_payment(
        actor=actor,
        client=client,
        method=PaymentMethod.TRANSFER,
        amount=locked.amount,
        currency=locked.currency,
        received_on=min(locked.booking_date, timezone.localdate()),
        reference=(locked.reference or locked.remittance)[:140],
        allocations=[(invoice, None)] if invoice is not None else None,
        bank_entry=locked,
    )
    BankEntry.objects.filter(pk=locked.pk, status=EntryStatus.UNMATCHED).update(
        status=EntryStatus.MATCHED,
        client=client,
        matched_by=actor if actor is not None and actor.pk else None,
        matched_rule=Rule.MANUAL,
        matched_at=timezone.now(),
    )
    record_audit(
        actor,
        payment,
        "bank_entry.matched",
        client=client,
        after={"entry": locked.pk, "invoice": invoice.code if invoice is not None else ""},
    )
    entry.refresh_from_db()
    return payment


@transaction.atomic
def ignore_entry(*, actor: User | None, entry: BankEntry, reason: str) -> BankEntry:
    """Set an entry aside for good (not a client's money), saying why."""
    require_billing_writer(actor)
    reason = " ".join((reason or "").split())[:300]
    if not reason:
        raise ValidationError({"reason": _("Say why the entry is ignored.")})
    now = timezone.now()
    if not BankEntry.objects.filter(pk=entry.pk, status=EntryStatus.UNMATCHED).update(
        status=EntryStatus.IGNORED,
        note=reason,
        matched_by=actor if actor is not None and actor.pk else None,
        matched_at=now,
    ):
        raise ValidationError(_("This entry is not waiting to be matched any more."))
    entry.refresh_from_db()
    record_audit(
        actor, entry.statement, "bank_entry.ignored", after={"entry": entry.pk, "reason": reason}
    )
    return entry

"""Bank pages: statements imported (upload one, see what it did) and the manual queue of
entries the reconciliation could not match (match to an invoice or a client, or ignore).

MSP staff only (anyone else 404); writes need the billing role or an administrator
(403). A bad file is refused with the parser's message and nothing stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing import forms_payments
from atalaya.billing.access_payments import get_bank_entry_or_404, get_statement_or_404
from atalaya.billing.models import (
    BankEntry,
    BankStatement,
    EntryStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import bank as services
from atalaya.billing.views.common import PAGE_SIZE, billing_view, error_text, user_of


def _client_choices(user: Any) -> list[tuple[str, str]]:
    return [
        (str(pk), name)
        for pk, name in billing_clients_of(user).order_by("name").values_list("public_id", "name")
    ]


@billing_view("GET", "HEAD", "POST", write=True)
def statement_list(request: HttpRequest) -> HttpResponse:
    """Imported statements (newest first) and the upload form; POST imports a file."""
    user = user_of(request)
    form = forms_payments.StatementUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                statement = services.import_statement(
                    actor=user, data=upload.read(), filename=upload.name or ""
                )
            except ValidationError as exc:
                form.add_error("file", exc.messages)
                status = 400
            else:
                result = statement.result  # type: ignore[attr-defined]
                if result.duplicate_file:
                    messages.info(
                        request,
                        _("This file was imported before (%(when)s); nothing changed.")
                        % {"when": statement.imported_at.date().isoformat()},
                    )
                else:
                    messages.success(
                        request,
                        _(
                            "%(new)d new entries (%(dup)d already known): %(matched)d matched, "
                            "%(unmatched)d to match by hand."
                        )
                        % {
                            "new": result.new,
                            "dup": result.duplicates,
                            "matched": result.matched,
                            "unmatched": result.unmatched,
                        },
                    )
                return redirect("billing:statement_detail", statement_id=statement.public_id)
        else:
            status = 400
    page = Paginator(
        BankStatement.objects.select_related("imported_by").order_by("-imported_at", "-id"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/bank/statements.html",
        {
            "page": page,
            "form": form,
            "bank_data_until": services.bank_data_until(),
            "unmatched": BankEntry.objects.filter(status=EntryStatus.UNMATCHED).count(),
            "can_write": can_write_billing(user),
        },
        status=status,
    )


@billing_view("GET", "HEAD")
def statement_detail(request: HttpRequest, statement_id: Any) -> HttpResponse:
    statement = get_statement_or_404(user_of(request), statement_id)
    page = Paginator(
        statement.entries.select_related("client").order_by("booking_date", "id"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(request, "billing/bank/statement.html", {"statement": statement, "page": page})


@billing_view("GET", "HEAD")
def unmatched_list(request: HttpRequest) -> HttpResponse:
    """The manual queue: entries no rule matched, oldest first."""
    user = user_of(request)
    page = Paginator(
        services.unmatched_entries().order_by("booking_date", "id"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/bank/unmatched.html",
        {
            "page": page,
            "clients": _client_choices(user),
            "can_write": can_write_billing(user),
        },
    )


@billing_view("POST", write=True)
def entry_match(request: HttpRequest, bank_entry_id: Any) -> HttpResponse:
    """Match an entry to an invoice (by its number) or to a client (as credit)."""
    user = user_of(request)
    entry = get_bank_entry_or_404(user, bank_entry_id)
    form = forms_payments.MatchForm(request.POST, clients=_client_choices(user))
    if not form.is_valid():
        messages.error(request, _("Choose the invoice or the client the money is from."))
        return redirect("billing:unmatched_list")
    code = form.cleaned_data["invoice"].strip()
    invoice = client = None
    if code:
        invoice = (
            Invoice.objects.visible_to(user)
            .select_related("client")
            .filter(code__iexact=code, status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE)
            .first()
        )
        if invoice is None:
            messages.error(request, _("No issued invoice is numbered “%(code)s”.") % {"code": code})
            return redirect("billing:unmatched_list")
    elif form.cleaned_data["client"]:
        client = billing_clients_of(user).filter(public_id=form.cleaned_data["client"]).first()
    try:
        services.match_entry(actor=user, entry=entry, invoice=invoice, client=client)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Entry matched and the payment recorded."))
    return redirect("billing:unmatched_list")


@billing_view("POST", write=True)
def entry_ignore(request: HttpRequest, bank_entry_id: Any) -> HttpResponse:
    user = user_of(request)
    entry = get_bank_entry_or_404(user, bank_entry_id)
    try:
        services.ignore_entry(actor=user, entry=entry, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Entry set aside."))
    return redirect("billing:unmatched_list")

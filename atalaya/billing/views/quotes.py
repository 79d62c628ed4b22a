"""The staff quote pages: list, new quote from the catalogue, detail, lines, send, withdraw, PDF.

Anyone who is not MSP staff gets 404 (these URLs reveal nothing to a client); staff
who may not write quotes (read-only) read but get 403 on a write. Every write is a
service call; a service's ValidationError is shown on the field it names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from atalaya.billing import forms_quotes
from atalaya.billing.access_quotes import get_quote_line_or_404, get_quote_or_404
from atalaya.billing.models import Quote, QuoteStatus
from atalaya.billing.services import quotes as services
from atalaya.billing.views.common import PAGE_SIZE, SAFE_METHODS, error_text, user_of
from atalaya.core.forms import add_service_errors
from atalaya.core.models import AuditEvent, Client, User

View = Callable[..., HttpResponseBase]


def quote_view(*methods: str, write: bool = False) -> Callable[[View], View]:
    """Allow ``methods`` (else 405) to signed-in MSP staff (else 404); the writes of a
    ``write`` view need a role that may write quotes (else 403)."""

    def decorator(view: View) -> View:
        @require_http_methods(list(methods))
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = user_of(request)
            if not user.is_msp_staff:
                raise Http404("Not found")
            if write and request.method not in SAFE_METHODS and not services.can_write_quotes(user):
                raise PermissionDenied(_("Your role may not change quotes."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@quote_view("GET", "HEAD")
def quote_list(request: HttpRequest) -> HttpResponse:
    """Quotes, newest first; filters client and status."""
    user = user_of(request)
    clients = Client.objects.visible_to(user).order_by("name").only("id", "public_id", "name")
    form = forms_quotes.QuoteFilterForm(request.GET or None, clients=clients)
    rows = Quote.objects.visible_to(user).select_related("client")
    if form.is_valid():
        if form.cleaned_data.get("client"):
            rows = rows.filter(client=form.cleaned_data["client"])
        if form.cleaned_data.get("status"):
            rows = rows.filter(status=form.cleaned_data["status"])
    page = Paginator(rows.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/quotes/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_write": services.can_write_quotes(user),
        },
    )


@quote_view("GET", "HEAD", "POST", write=True)
def quote_new(request: HttpRequest) -> HttpResponse:
    """A new quote for a client with its first catalogue line (e.g. the bundle × 12 users)."""
    user = user_of(request)
    clients = Client.objects.visible_to(user).filter(is_active=True).order_by("name")
    initial: dict[str, Any] = {}
    wanted = request.GET.get("client")
    if wanted:
        found = clients.filter(public_id=wanted).first() if _is_uuid(wanted) else None
        if found is not None:
            initial["client"] = found.public_id
    form = forms_quotes.QuoteNewForm(request.POST or None, clients=clients, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            quote = services.create_quote(actor=user, **form.header(), lines=[form.line()])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Quote drafted: add more lines or send it."))
            return redirect("billing:quote_detail", quote_id=quote.public_id)
    return render(
        request,
        "billing/quotes/new.html",
        {"form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _detail(
    request: HttpRequest,
    quote: Quote,
    *,
    line_form: Any = None,
    header_form: Any = None,
    status: int = 200,
) -> HttpResponse:
    user: User = user_of(request)
    lines = list(quote.lines.select_related("product").order_by("position", "id"))
    can_write = services.can_write_quotes(user)
    context: dict[str, Any] = {
        "quote": quote,
        "lines": lines,
        "totals": services.buckets(quote, lines),
        "can_write": can_write,
        "is_draft": quote.status == QuoteStatus.DRAFT,
        "can_withdraw": quote.status in (QuoteStatus.DRAFT, QuoteStatus.SENT),
        "audit": list(
            AuditEvent.objects.filter(object_type="quote", object_id=str(quote.public_id))
            .select_related("actor")
            .order_by("at", "id")
        ),
    }
    if can_write and context["is_draft"]:
        context["line_form"] = line_form or forms_quotes.QuoteLineForm()
        context["header_form"] = header_form or forms_quotes.QuoteHeaderForm(
            initial={
                "title": quote.title,
                "intro": quote.intro,
                "valid_until": quote.valid_until,
                "proposed_start": quote.proposed_start,
                "language": quote.language,
            }
        )
    return render(request, "billing/quotes/detail.html", context, status=status)


@quote_view("GET", "HEAD")
def quote_detail(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """One quote: lines, VAT buckets, totals, the decision and its history."""
    return _detail(request, get_quote_or_404(user_of(request), quote_id))


@quote_view("POST", write=True)
def quote_edit(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Change a draft's title, introduction, validity, start or language."""
    user = user_of(request)
    quote = get_quote_or_404(user, quote_id)
    form = forms_quotes.QuoteHeaderForm(request.POST)
    if form.is_valid():
        try:
            services.update_quote(actor=user, quote=quote, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Quote saved."))
            return redirect("billing:quote_detail", quote_id=quote.public_id)
    return _detail(request, quote, header_form=form, status=400)


@quote_view("POST", write=True)
def quote_line_add(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Add a catalogue line to a draft."""
    user = user_of(request)
    quote = get_quote_or_404(user, quote_id)
    form = forms_quotes.QuoteLineForm(request.POST)
    if form.is_valid():
        try:
            services.add_lines(actor=user, quote=quote, lines=[form.line()])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Line added."))
            return redirect("billing:quote_detail", quote_id=quote.public_id)
    return _detail(request, quote, line_form=form, status=400)


@quote_view("POST", write=True)
def quote_line_remove(request: HttpRequest, quote_id: Any, quote_line_id: Any) -> HttpResponse:
    user = user_of(request)
    quote = get_quote_or_404(user, quote_id)
    line = get_quote_line_or_404(quote, quote_line_id)
    try:
        services.remove_line(actor=user, quote=quote, line=line)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Line removed."))
    return redirect("billing:quote_detail", quote_id=quote.public_id)


@quote_view("POST", write=True)
def quote_send(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Number the draft and mail it with its PDF to the client's decision makers."""
    user = user_of(request)
    quote = get_quote_or_404(user, quote_id)
    try:
        sent = services.send_quote(actor=user, quote=quote)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request,
            _("Sent as %(code)s to %(to)s.")
            % {"code": quote.code, "to": ", ".join(m.to_address for m in sent)},
        )
    return redirect("billing:quote_detail", quote_id=quote.public_id)


@quote_view("POST", write=True)
def quote_withdraw(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Take the quote back: the client can no longer accept it."""
    user = user_of(request)
    quote = get_quote_or_404(user, quote_id)
    form = forms_quotes.WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.withdraw_quote(actor=user, quote=quote, reason=reason)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Quote withdrawn."))
    return redirect("billing:quote_detail", quote_id=quote.public_id)


def pdf_response(quote: Quote) -> HttpResponse:
    response = HttpResponse(services.render_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{services.pdf_filename(quote)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@quote_view("GET", "HEAD")
def quote_pdf(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """The quote's PDF, in the quote's language."""
    return pdf_response(get_quote_or_404(user_of(request), quote_id))


# A PermissionDenied raised by a service (a role check) is a 403 like the decorator's.
__all__ = ["PermissionDenied", "pdf_response", "quote_view"]

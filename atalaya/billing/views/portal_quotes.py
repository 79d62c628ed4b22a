"""The client portal's quotes: what was proposed to the user's companies, and the decision.

Every portal user of a client sees its quotes once sent (never drafts) with their lines
and totals, and downloads the PDF. Only a decision maker or billing contact of that
client sees the Accept (with a start date) and Decline (with a reason) forms and may
post them; anyone else reading the quote gets 403 on a post. Another client's quote is
a 404, as for one that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from atalaya.billing import forms_quotes
from atalaya.billing.access_quotes import get_quote_or_404
from atalaya.billing.models import Quote
from atalaya.billing.services import quotes as services
from atalaya.billing.views.quotes import pdf_response
from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.portal.views import portal_only

PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@require_http_methods(["GET", "HEAD"])
@portal_only
def quote_list(request: HttpRequest) -> HttpResponse:
    """The companies' quotes, newest first (never drafts)."""
    rows = (
        Quote.objects.visible_to(_user(request))
        .select_related("client")
        .order_by("-sent_at", "-id")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "billing/portal/quote_list.html", {"page": page})


def _page(
    request: HttpRequest,
    quote: Quote,
    *,
    accept_form: Any = None,
    decline_form: Any = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    lines = list(quote.lines.order_by("position", "id"))
    may_decide = services.can_decide(user, quote) and quote.is_open
    today = timezone.localdate()
    start = max(quote.proposed_start or today, today)
    return render(
        request,
        "billing/portal/quote_detail.html",
        {
            "quote": quote,
            "lines": lines,
            "totals": services.buckets(quote, lines),
            "may_decide": may_decide,
            "accept_form": accept_form or forms_quotes.AcceptForm(initial={"start_date": start}),
            "decline_form": decline_form or forms_quotes.DeclineForm(),
            "forms_with_errors": [f for f in (accept_form, decline_form) if f and f.errors],
            "min_start": today,
            "max_start": today + timedelta(days=services.MAX_START_DAYS),
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def quote_detail(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """One quote with its lines and totals; Accept and Decline for those who may decide."""
    return _page(request, get_quote_or_404(_user(request), quote_id))


@require_http_methods(["GET", "HEAD"])
@portal_only
def quote_pdf(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """The quote's PDF, in the quote's language."""
    return pdf_response(get_quote_or_404(_user(request), quote_id))


@require_http_methods(["POST"])
@portal_only
def quote_accept(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Accept on a chosen start date: the quote becomes the company's agreement."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    if not services.can_decide(user, quote):
        raise PermissionDenied(_("Only a decision maker or billing contact may decide."))
    form = forms_quotes.AcceptForm(request.POST)
    if form.is_valid():
        try:
            services.accept_quote(
                quote=quote,
                user=user,
                start_date=form.cleaned_data["start_date"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Thank you: the quote is accepted."))
            return redirect("portal:quote_detail", quote_id=quote.public_id)
    quote.refresh_from_db()
    return _page(request, quote, accept_form=form, status=400)


@require_http_methods(["POST"])
@portal_only
def quote_decline(request: HttpRequest, quote_id: Any) -> HttpResponse:
    """Decline, saying why."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    if not services.can_decide(user, quote):
        raise PermissionDenied(_("Only a decision maker or billing contact may decide."))
    form = forms_quotes.DeclineForm(request.POST)
    if form.is_valid():
        try:
            services.decline_quote(quote=quote, user=user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The quote is declined. Thank you for telling us why."))
            return redirect("portal:quote_detail", quote_id=quote.public_id)
    quote.refresh_from_db()
    return _page(request, quote, decline_form=form, status=400)

"""Register of temporary fixes: the list, record one, its page (renew, close, link), and
the per-client report of what is still open, as a page and as a PDF.

MSP staff only (anyone else 404); changes need an administrator or technician (403).
Every change goes through ``security.fixes.services``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User
from atalaya.security.access import client_or_404, public_id_or_404
from atalaya.security.fixes import services
from atalaya.security.models import FixKind, FixStatus, TemporaryFix, can_write_security
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 200


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def visible_fixes(user: Any) -> QuerySet[TemporaryFix]:
    return TemporaryFix.objects.visible_to(user).select_related("client", "owner")


def get_fix_or_404(user: Any, public_id: object) -> TemporaryFix:
    """One entry by its public id, or 404 (also for whoever may not see the register)."""
    fix = visible_fixes(user).filter(public_id=public_id_or_404(public_id)).first()
    if fix is None:
        raise Http404("No such temporary fix")
    return fix


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _ticket_numbers(value: str) -> list[int]:
    numbers = []
    for part in value.replace(",", " ").split():
        try:
            numbers.append(int(part.lstrip("#")))
        except ValueError:
            raise forms.ValidationError(
                _("%(value)s is not a ticket number.") % {"value": part[:20]}
            ) from None
    return numbers


class FixForm(forms.Form):
    client = forms.ModelChoiceField(
        label=gettext_lazy("Client"), queryset=Client.objects.none(), to_field_name="public_id"
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=FixKind.choices)
    title = forms.CharField(label=gettext_lazy("What was changed"), max_length=300)
    reason = forms.CharField(label=gettext_lazy("Why"), widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ModelChoiceField(label=gettext_lazy("Owner"), queryset=User.objects.none())
    revert_by = forms.DateField(label=gettext_lazy("Revert by"), widget=DateInput())
    evidence_port = forms.IntegerField(
        label=gettext_lazy("Port a scan can check (e.g. 3389 for RDP)"),
        required=False,
        min_value=1,
        max_value=65535,
    )
    evidence_host = forms.CharField(
        label=gettext_lazy("On host (IP or name; empty: any host)"), max_length=255, required=False
    )
    tickets = forms.CharField(
        label=gettext_lazy("Tickets (numbers)"), max_length=500, required=False
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.visible_to(user).order_by("name")  # type: ignore[attr-defined]
        self.fields["owner"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            is_active=True, role__in=["admin", "technician"]
        ).order_by("username")
        self.initial.setdefault("owner", user.pk)

    def clean_tickets(self) -> list[int]:
        return _ticket_numbers(self.cleaned_data.get("tickets") or "")


class RenewForm(forms.Form):
    revert_by = forms.DateField(label=gettext_lazy("New revert-by date"), widget=DateInput())
    reason = forms.CharField(
        label=gettext_lazy("Why it is still needed"), widget=forms.Textarea(attrs={"rows": 2})
    )


class CloseForm(forms.Form):
    undo_note = forms.CharField(
        label=gettext_lazy("How it was undone"), widget=forms.Textarea(attrs={"rows": 2})
    )


class LinkForm(forms.Form):
    tickets = forms.CharField(label=gettext_lazy("Tickets (numbers)"), max_length=500)

    def clean_tickets(self) -> list[int]:
        return _ticket_numbers(self.cleaned_data.get("tickets") or "")


def _annotate(fixes: list[TemporaryFix], today: date) -> list[TemporaryFix]:
    for fix in fixes:
        fix.days_left = (fix.revert_by - today).days  # type: ignore[attr-defined]
    return fixes


@staff_view("GET", "HEAD")
def fix_list(request: HttpRequest) -> HttpResponse:
    """Open fixes by revert-by date (overdue first), or every entry with ?status=all."""
    user = _user(request)
    status = request.GET.get("status", "open")
    rows = visible_fixes(user)
    if status != "all":
        rows = rows.filter(status=FixStatus.OPEN)
    today = timezone.localdate()
    fixes = _annotate(list(rows.order_by("revert_by", "pk")[:PER_PAGE]), today)
    return render(
        request,
        "security/fixes/list.html",
        {"fixes": fixes, "status": status, "can_write": can_write_security(user)},
    )


@staff_view("GET", "HEAD", "POST", write=True)
def fix_new(request: HttpRequest) -> HttpResponse:
    """Record a temporary fix with its mandatory revert-by date."""
    user = _user(request)
    form = FixForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            fix = services.create_fix(
                actor=user,
                client=data["client"],
                kind=data["kind"],
                title=data["title"],
                reason=data["reason"],
                owner=data["owner"],
                revert_by=data["revert_by"],
                evidence_port=data["evidence_port"],
                evidence_host=data["evidence_host"],
                tickets=services.tickets_by_number(data["client"], data["tickets"]),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Temporary fix recorded."))
            return redirect("security:fix_detail", fix.public_id)
    return render(
        request, "security/fixes/form.html", {"form": form}, status=400 if form.errors else 200
    )


def _detail(
    request: HttpRequest, fix: TemporaryFix, status: int = 200, **forms_: Any
) -> HttpResponse:
    context = {
        "fix": fix,
        "days_left": (fix.revert_by - timezone.localdate()).days,
        "renewals": list(fix.renewals.select_related("renewed_by")),
        "tickets": list(fix.tickets.order_by("number")),
        "devices": list(fix.devices.order_by("hostname")),
        "findings": list(fix.findings.order_by("-last_seen_at")),
        "renew_form": forms_.get("renew_form") or RenewForm(),
        "close_form": forms_.get("close_form") or CloseForm(),
        "link_form": forms_.get("link_form") or LinkForm(),
        "can_write": can_write_security(_user(request)) and fix.status == FixStatus.OPEN,
    }
    return render(request, "security/fixes/detail.html", context, status=status)


@staff_view("GET", "HEAD")
def fix_detail(request: HttpRequest, fix_id: Any) -> HttpResponse:
    return _detail(request, get_fix_or_404(_user(request), fix_id))


@staff_view("POST", write=True)
def fix_renew(request: HttpRequest, fix_id: Any) -> HttpResponse:
    """A later revert-by date, with the reason it is still needed."""
    user = _user(request)
    fix = get_fix_or_404(user, fix_id)
    form = RenewForm(request.POST)
    if form.is_valid():
        try:
            services.renew_fix(actor=user, fix=fix, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Temporary fix renewed."))
            return redirect("security:fix_detail", fix.public_id)
    return _detail(request, fix, status=400, renew_form=form)


@staff_view("POST", write=True)
def fix_close(request: HttpRequest, fix_id: Any) -> HttpResponse:
    """Mark the change undone, saying how."""
    user = _user(request)
    fix = get_fix_or_404(user, fix_id)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            services.close_fix(actor=user, fix=fix, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Temporary fix marked as undone."))
            return redirect("security:fix_detail", fix.public_id)
    return _detail(request, fix, status=400, close_form=form)


@staff_view("POST", write=True)
def fix_link(request: HttpRequest, fix_id: Any) -> HttpResponse:
    """Attach tickets of the same client by number."""
    user = _user(request)
    fix = get_fix_or_404(user, fix_id)
    form = LinkForm(request.POST)
    if form.is_valid():
        try:
            tickets = services.tickets_by_number(fix.client, form.cleaned_data["tickets"])
            services.link_fix(actor=user, fix=fix, tickets=tickets)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Tickets linked."))
            return redirect("security:fix_detail", fix.public_id)
    return _detail(request, fix, status=400, link_form=form)


def _report_context(client: Client) -> dict[str, Any]:
    today = timezone.localdate()
    fixes = list(
        TemporaryFix.objects.filter(client=client, status=FixStatus.OPEN)
        .select_related("owner")
        .prefetch_related("tickets", "devices")
        .order_by("revert_by", "pk")
    )
    return {"client": client, "fixes": _annotate(fixes, today), "today": today}


@staff_view("GET", "HEAD")
def fix_report(request: HttpRequest, client_id: Any) -> HttpResponse:
    """The client's open temporary fixes, for the day things return to normal."""
    client = client_or_404(_user(request), client_id)
    return render(request, "security/fixes/report.html", _report_context(client))


@staff_view("GET", "HEAD")
def fix_report_pdf(request: HttpRequest, client_id: Any) -> HttpResponse:
    """The same report as a PDF (WeasyPrint; the template loads nothing external)."""
    from weasyprint import HTML

    client = client_or_404(_user(request), client_id)

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"external resource refused: {url[:80]}")

    html = render_to_string("security/fixes/report_pdf.html", _report_context(client))
    pdf = HTML(string=html, url_fetcher=no_fetch).write_pdf()
    response = HttpResponse(bytes(pdf or b""), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="temporary-fixes-{client.public_id}.pdf"'
    return response


urlpatterns = [
    path("fixes/", fix_list, name="fix_list"),
    path("fixes/new/", fix_new, name="fix_new"),
    path("fixes/<uuid:fix_id>/", fix_detail, name="fix_detail"),
    path("fixes/<uuid:fix_id>/renew/", fix_renew, name="fix_renew"),
    path("fixes/<uuid:fix_id>/close/", fix_close, name="fix_close"),
    path("fixes/<uuid:fix_id>/link/", fix_link, name="fix_link"),
    path("fixes/report/<uuid:client_id>/", fix_report, name="fix_report"),
    path("fixes/report/<uuid:client_id>/pdf/", fix_report_pdf, name="fix_report_pdf"),
]

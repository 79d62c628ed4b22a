"""Outgoing mail for staff, and the notification templates for administrators.

The outbox lists every mail Atalaya sent or will send, filtered by status; a
technician can send a failed mail again or cancel a queued one (read-only staff get
403 on those POSTs). The templates pages are for administrators only (404 for anyone
else, as if they did not exist): the list of notifications × languages, edit with a
preview on sample values, and reset to the shipped wording.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.mail import outbox, rendering, smtp
from atalaya.mail.models import Delivery, MailTemplate, OutboundKind, OutboundMessage
from atalaya.tickets.views.tickets import staff_view

View = Callable[..., HttpResponseBase]
PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def admin_view(*methods: str) -> Callable[[View], View]:
    """Allow ``methods`` (else 405) to administrators; other users get 404."""

    def decorator(view: View) -> View:
        @staff_view(*methods)
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not _user(request).is_admin:
                raise Http404("Not found")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def get_outbound_or_404(user: User, outbound_id: int | str) -> OutboundMessage:
    """An outbox row the user may see, else 404 (as for one that does not exist)."""
    try:
        pk = int(outbound_id)
    except (TypeError, ValueError):
        raise Http404("No such mail") from None
    message = OutboundMessage.objects.visible_to(user).filter(pk=pk).first()
    if message is None:
        raise Http404("No such mail")
    return message


# ---------------------------------------------------------------------------------------
# The outbox
# ---------------------------------------------------------------------------------------


class OutboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All")), *Delivery.choices],
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("All")), *OutboundKind.choices],
    )
    q = forms.CharField(label=gettext_lazy("Recipient"), required=False, max_length=254)


def _smtp_state() -> tuple[bool, str]:
    """(configured, problem): whether mail can go out at all, and why not."""
    try:
        return smtp.configured() is not None, ""
    except smtp.SmtpUrlError as error:
        return False, str(error)


@staff_view("GET", "HEAD")
def outbox_list(request: HttpRequest) -> HttpResponse:
    """Every outgoing mail, newest first, by status, kind and recipient; 50 a page."""
    user = _user(request)
    form = OutboxFilterForm(request.GET)
    rows = (
        OutboundMessage.objects.visible_to(user)
        .select_related("ticket", "client")
        .defer("body_text", "body_html", "references")
        .order_by("-created_at", "-id")
    )
    if form.is_valid():
        if form.cleaned_data["status"]:
            rows = rows.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["kind"]:
            rows = rows.filter(kind=form.cleaned_data["kind"])
        if form.cleaned_data["q"]:
            rows = rows.filter(to_address__icontains=form.cleaned_data["q"].strip())
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    configured, problem = _smtp_state()
    return render(
        request,
        "mail/outbox.html",
        {
            "form": form,
            "page": page,
            "smtp_configured": configured,
            "smtp_problem": problem,
            "can_write": user.can_write_tickets,
        },
    )


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("mail:outbox")


@staff_view("POST", write=True)
def outbox_retry(request: HttpRequest, outbound_id: int) -> HttpResponse:
    """Send a failed or bounced mail again (clearing its address's failing mark)."""
    message = get_outbound_or_404(_user(request), outbound_id)
    try:
        outbox.retry_message(message, actor=_user(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("The mail to %(to)s is queued again.") % {"to": message.to_address}
        )
    return _back(request)


@staff_view("POST", write=True)
def outbox_cancel(request: HttpRequest, outbound_id: int) -> HttpResponse:
    """Stop a queued mail from going out."""
    message = get_outbound_or_404(_user(request), outbound_id)
    try:
        outbox.cancel_message(message, actor=_user(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("The mail to %(to)s is cancelled.") % {"to": message.to_address}
        )
    return _back(request)


# ---------------------------------------------------------------------------------------
# Notification templates (administrators)
# ---------------------------------------------------------------------------------------


def _check_template(template_key: str, language: str) -> None:
    if template_key not in rendering.TEMPLATE_KEYS or language not in rendering.LANGUAGES:
        raise Http404("No such template")


@admin_view("GET", "HEAD")
def template_list(request: HttpRequest) -> HttpResponse:
    """Each notification in each language: the shipped wording or an admin's."""
    custom = {
        (row.key, row.language): row
        for row in MailTemplate.objects.select_related("updated_by").order_by("key", "language")
    }
    rows = [
        {
            "key": key,
            "label": label,
            "languages": [
                {"code": code, "label": language_label, "custom": custom.get((key, code))}
                for code, language_label in rendering.LANGUAGES.items()
            ],
        }
        for key, label in rendering.TEMPLATE_KEYS.items()
    ]
    return render(request, "mail/templates.html", {"rows": rows})


class MailTemplateForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=300)
    body = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=20_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "subject" in data and "body" in data:
            for field, error in rendering.syntax_errors(data["subject"], data["body"]).items():
                self.add_error(field, _("Template error: %(error)s") % {"error": error})
        return data


@admin_view("GET", "HEAD", "POST")
def template_edit(request: HttpRequest, template_key: str, language: str) -> HttpResponse:
    """Edit one notification's wording; "Preview" renders it with sample values."""
    _check_template(template_key, language)
    source = rendering.source_of(template_key, language)
    preview = None
    if request.method == "POST":
        form = MailTemplateForm(request.POST)
        if form.is_valid():
            subject, body = form.cleaned_data["subject"], form.cleaned_data["body"]
            if request.POST.get("action") == "preview":
                preview = rendering.preview(subject, body, language)
            else:
                try:
                    rendering.save_template(
                        actor=_user(request),
                        key=template_key,
                        language=language,
                        subject=subject,
                        body=body,
                    )
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("The template is saved."))
                    return redirect("mail:template_edit", template_key, language)
    else:
        form = MailTemplateForm(initial={"subject": source.subject, "body": source.body})
        try:
            preview = rendering.preview(source.subject, source.body, language)
        except Exception:  # a stored wording that no longer renders: edit it, don't 500
            preview = None
    return render(
        request,
        "mail/template_edit.html",
        {
            "form": form,
            "source": source,
            "key_label": rendering.TEMPLATE_KEYS[template_key],
            "language_label": rendering.LANGUAGES[language],
            "template_key": template_key,
            "language": language,
            "preview": preview,
            "variables": list(rendering.VARIABLES.items()),
        },
    )


@admin_view("POST")
def template_reset(request: HttpRequest, template_key: str, language: str) -> HttpResponse:
    """Drop the admin's wording: the shipped default applies again."""
    _check_template(template_key, language)
    if rendering.reset_template(actor=_user(request), key=template_key, language=language):
        messages.success(request, _("The template is back to the default wording."))
    return redirect(reverse("mail:template_edit", args=[template_key, language]))

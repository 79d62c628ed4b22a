"""Received mail: the log, dead letters, triage of unknown senders, move and split.

Everything here is for MSP staff (404 for anyone else, as if it did not exist); the
raw bytes and the dead-letter list are for administrators only. Actions are plain
POSTs that redirect, and go through mail/inbound.py's services.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.models import Client, User
from atalaya.mail import inbound
from atalaya.mail.models import InboundMessage, MatchRule, Outcome
from atalaya.mail.parse import ParsedMail, parse_message
from atalaya.tickets.access import get_ticket_or_404
from atalaya.tickets.views.tickets import staff_view

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def get_inbound_or_404(user: User, inbound_id: int | str) -> InboundMessage:
    """A received mail the user may see (staff only), else 404 like a missing one."""
    try:
        pk = int(inbound_id)
    except (TypeError, ValueError):
        raise Http404("No such mail") from None
    message = (
        InboundMessage.objects.visible_to(user)
        .select_related("mailbox", "client", "contact", "ticket", "event")
        .filter(pk=pk)
        .first()
    )
    if message is None:
        raise Http404("No such mail")
    return message


def _require_admin(request: HttpRequest) -> None:
    if not _user(request).is_admin:
        raise Http404("Not found")


def _service_error(request: HttpRequest, exc: ValidationError) -> None:
    for text in exc.messages:
        messages.error(request, text)


class LogFilterForm(forms.Form):
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"),
        required=False,
        choices=[("", gettext_lazy("All")), *Outcome.choices],
    )
    flagged = forms.BooleanField(label=gettext_lazy("Flagged only"), required=False)


def _page(request: HttpRequest, queryset: Any) -> Any:
    paginator = Paginator(queryset, PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


@staff_view("GET", "HEAD")
def mail_log(request: HttpRequest) -> HttpResponse:
    """Every received mail, newest first, by outcome; one query for the page's rows."""
    form = LogFilterForm(request.GET or None)
    rows = InboundMessage.objects.visible_to(_user(request)).select_related(
        "mailbox", "client", "ticket"
    )
    if form.is_valid():
        if form.cleaned_data["outcome"]:
            rows = rows.filter(outcome=form.cleaned_data["outcome"])
        if form.cleaned_data["flagged"]:
            rows = rows.filter(is_flagged=True)
    return render(
        request,
        "mail/inbound_log.html",
        {"form": form, "page": _page(request, rows), "title": _("Received mail")},
    )


@staff_view("GET", "HEAD")
def dead_letters(request: HttpRequest) -> HttpResponse:
    """Mail that could not be processed, for administrators to look at and run again."""
    _require_admin(request)
    rows = (
        InboundMessage.objects.visible_to(_user(request)).dead_letters().select_related("mailbox")
    )
    return render(request, "mail/dead_letters.html", {"page": _page(request, rows)})


@staff_view("GET", "HEAD")
def triage_list(request: HttpRequest) -> HttpResponse:
    """Mail from senders nobody knows, waiting for a technician to say whose they are."""
    rows = (
        InboundMessage.objects.visible_to(_user(request))
        .filter(outcome=Outcome.TRIAGE, ticket__isnull=True)
        .select_related("mailbox", "contact")
    )
    clients = list(
        Client.objects.visible_to(_user(request)).filter(is_active=True).only("public_id", "name")
    )
    return render(
        request,
        "mail/triage.html",
        {"page": _page(request, rows), "clients": clients},
    )


_CID = re.compile(r"""src="cid:([^"]+)\"""")


def _display_html(mail: ParsedMail, message: InboundMessage) -> SafeString:
    """The sanitised HTML with inline images pointing at their stored attachments."""
    inline = {}
    if message.event is not None:
        inline = message.event.data.get("mail", {}).get("inline", {})

    def swap(found: re.Match[str]) -> str:
        pk = inline.get(found.group(1))
        if pk is None or message.ticket is None:
            return 'src=""'
        url = reverse("tickets:attachment", args=[message.ticket.number, pk])
        return f'src="{escape(url)}"'

    # Already cleaned by nh3 when parsed; only our own URLs are put in.
    return mark_safe(_CID.sub(swap, mail.html))  # noqa: S308


_ID_RULES = (MatchRule.IN_REPLY_TO, MatchRule.REFERENCES, MatchRule.ANNOUNCEMENT)


def _matched_value(message: InboundMessage) -> str:
    """What matched, a Message-ID in angle brackets as in the header."""
    value = message.matched_value
    return f"<{value}>" if value and message.matched_rule in _ID_RULES else value


@staff_view("GET", "HEAD")
def message_detail(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """One received mail: what became of it and why, its headers and its body."""
    message = get_inbound_or_404(_user(request), inbound_id)
    mail: ParsedMail | None = None
    problem = ""
    try:
        mail = parse_message(inbound.read_raw(message))
    except Exception as exc:  # noqa: BLE001 - the page still shows the ledger's facts
        problem = f"{type(exc).__name__}: {exc}"
    return render(
        request,
        "mail/inbound_detail.html",
        {
            "message": message,
            "mail": mail,
            "html": _display_html(mail, message) if mail and mail.html else "",
            "problem": problem,
            "rule_label": MatchRule(message.matched_rule).label if message.matched_rule else "",
            "matched_value": _matched_value(message),
            "message_id": f"<{message.message_id}>",
            "can_write": _user(request).can_write_tickets,
            "clients": list(Client.objects.visible_to(_user(request)).only("public_id", "name"))
            if message.outcome == Outcome.TRIAGE
            else [],
        },
    )


@staff_view("GET", "HEAD")
def message_raw(request: HttpRequest, inbound_id: int) -> HttpResponseBase:
    """The exact bytes received, for administrators; a download, never rendered."""
    _require_admin(request)
    message = get_inbound_or_404(_user(request), inbound_id)
    try:
        raw = inbound.read_raw(message)
    except OSError:
        raise Http404("The stored mail is missing") from None
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="mail-{message.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@staff_view("POST")
def message_reprocess(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Run a dead letter through the pipeline again (administrators)."""
    _require_admin(request)
    message = get_inbound_or_404(_user(request), inbound_id)
    try:
        result = inbound.reprocess(message, actor=_user(request))
    except ValidationError as exc:
        _service_error(request, exc)
    else:
        if result.outcome == Outcome.DEAD_LETTER:
            messages.error(request, _("Still not processed: %(e)s") % {"e": result.error})
        else:
            messages.success(request, _("Processed again: %(what)s") % {"what": result.describe()})
    return redirect("mail:message", inbound_id=message.pk)


class TriageForm(forms.Form):
    client = forms.UUIDField(label=gettext_lazy("Client"))


@staff_view("POST", write=True)
def triage_assign(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Say whose an unknown sender is: the contact joins that client, the mail a ticket."""
    message = get_inbound_or_404(_user(request), inbound_id)
    form = TriageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Client: choose one of the clients."))
        return redirect("mail:message", inbound_id=message.pk)
    client = (
        Client.objects.visible_to(_user(request))
        .filter(public_id=form.cleaned_data["client"])
        .first()
    )
    if client is None:
        messages.error(request, _("Client: there is no such client."))
        return redirect("mail:message", inbound_id=message.pk)
    try:
        result = inbound.resolve_triage(message, client=client, actor=_user(request))
    except ValidationError as exc:
        _service_error(request, exc)
        return redirect("mail:message", inbound_id=message.pk)
    messages.success(request, _("Ticket #%(n)s opened.") % {"n": result.ticket_number})
    return redirect("tickets:detail", result.ticket_number)


class MoveForm(forms.Form):
    target = forms.IntegerField(label=gettext_lazy("Move to ticket number"), min_value=1)


def _back_to_ticket(message: InboundMessage) -> HttpResponse:
    if message.ticket is not None:
        return redirect("tickets:detail", message.ticket.number)
    return redirect("mail:message", inbound_id=message.pk)


@staff_view("POST", write=True)
def message_move(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Move a mis-threaded mail to another ticket of the same client."""
    message = get_inbound_or_404(_user(request), inbound_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Move to ticket number: enter a ticket number."))
        return _back_to_ticket(message)
    try:
        target = get_ticket_or_404(_user(request), form.cleaned_data["target"])
    except Http404:
        messages.error(request, _("Move to ticket number: there is no such ticket."))
        return _back_to_ticket(message)
    try:
        result = inbound.move_mail_message(message, target, actor=_user(request))
    except ValidationError as exc:
        _service_error(request, exc)
        return _back_to_ticket(message)
    except PermissionDenied:
        raise
    messages.success(request, _("Message moved to #%(n)s.") % {"n": result.ticket_number})
    return redirect("tickets:detail", result.ticket_number)


@staff_view("POST", write=True)
def message_split(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Split a mail out of its ticket into a new ticket of the same client."""
    message = get_inbound_or_404(_user(request), inbound_id)
    try:
        result = inbound.split_mail_message(message, actor=_user(request))
    except ValidationError as exc:
        _service_error(request, exc)
        return _back_to_ticket(message)
    messages.success(
        request, _("Message split into the new ticket #%(n)s.") % {"n": result.ticket_number}
    )
    return redirect("tickets:detail", result.ticket_number)

"""Mailbox settings for administrators: the list, new and edited mailboxes, "fetch now".

Only administrators see these pages; anyone else gets 404, as if they did not exist
(the IMAP settings hold a password). Writes go through mail.services, which validates
and records an audit event. The IMAP password is write-only: the form never shows it
back, and leaving it blank keeps the saved one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.forms import add_service_errors
from atalaya.core.models import User
from atalaya.mail import imap, services
from atalaya.mail.models import ImapSecurity, Mailbox
from atalaya.tickets.models import Queue, display_name
from atalaya.tickets.views.tickets import staff_view

View = Callable[..., HttpResponseBase]
# "Fetch now" answers within the request: a smaller batch than the periodic job's.
FETCH_NOW_LIMIT = 50


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


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _get_mailbox_or_404(mailbox_id: int) -> Mailbox:
    # Mailboxes are the MSP's own, not a client's: admin_view has checked the role.
    return get_object_or_404(Mailbox.objects.select_related("queue"), pk=mailbox_id)


class MailboxForm(forms.Form):
    """A mailbox's address, queue and IMAP settings (checked again by the service)."""

    address = forms.CharField(label=gettext_lazy("Address"), max_length=254)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)
    queue = forms.ChoiceField(label=gettext_lazy("Queue"), required=False)
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    is_trusted_for_staff = forms.BooleanField(
        label=gettext_lazy("Trusted for staff senders"),
        required=False,
        help_text=gettext_lazy(
            "Only when your own mail server vouches for the senders here: then mail from a "
            "technician's address counts as their reply."
        ),
    )
    imap_host = forms.CharField(
        label=gettext_lazy("IMAP server"),
        max_length=253,
        required=False,
        help_text=gettext_lazy("Leave empty when the mail server pipes mail to Atalaya."),
    )
    imap_port = forms.IntegerField(
        label=gettext_lazy("IMAP port"),
        required=False,
        help_text=gettext_lazy("Empty: 993 for IMAPS, 143 otherwise."),
    )
    imap_security = forms.ChoiceField(
        label=gettext_lazy("Connection security"),
        choices=ImapSecurity.choices,
        initial=ImapSecurity.IMAPS,
    )
    imap_username = forms.CharField(
        label=gettext_lazy("IMAP user name"), max_length=200, required=False
    )
    imap_password = forms.CharField(
        label=gettext_lazy("IMAP password"),
        max_length=200,
        required=False,
        strip=False,
        # Never rendered back, not even after an error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    imap_folder = forms.CharField(
        label=gettext_lazy("IMAP folder"), max_length=200, required=False, initial="INBOX"
    )

    def __init__(self, *args: Any, mailbox: Mailbox | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queue = cast(forms.ChoiceField, self.fields["queue"])
        queue.choices = [("", _("Default queue"))] + [
            (slug, display_name(name)) for slug, name in Queue.objects.values_list("slug", "name")
        ]
        if mailbox is not None and mailbox.imap_password:
            self.fields["imap_password"].help_text = _(
                "A password is saved. Leave this empty to keep it."
            )

    @classmethod
    def initial_for(cls, mailbox: Mailbox) -> dict[str, Any]:
        return {
            "address": mailbox.address,
            "name": mailbox.name,
            "queue": mailbox.queue.slug if mailbox.queue else "",
            "is_active": mailbox.is_active,
            "is_trusted_for_staff": mailbox.is_trusted_for_staff,
            "imap_host": mailbox.imap_host,
            "imap_port": mailbox.imap_port,
            "imap_security": mailbox.imap_security,
            "imap_username": mailbox.imap_username,
            "imap_folder": mailbox.imap_folder,
        }

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["imap_folder"] = data.get("imap_folder") or "INBOX"
        return data


@admin_view("GET", "HEAD")
def mailbox_list(request: HttpRequest) -> HttpResponse:
    """Every mailbox with its queue, IMAP server, last fetch and last error (two queries)."""
    mailboxes = list(Mailbox.objects.select_related("queue").order_by("address"))
    return render(request, "mail/mailboxes/list.html", {"mailboxes": mailboxes})


def _form_page(
    request: HttpRequest, form: MailboxForm, *, title: str, mailbox: Mailbox | None = None
) -> HttpResponse:
    return render(
        request,
        "mail/mailboxes/form.html",
        {"form": form, "title": title, "mailbox": mailbox},
        status=400 if form.errors else 200,
    )


@admin_view("GET", "HEAD", "POST")
def mailbox_create(request: HttpRequest) -> HttpResponse:
    """Add a mailbox: an address Atalaya receives mail at, optionally over IMAP."""
    form = MailboxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = services.create_mailbox(actor=_user(request), **form.changes())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Mailbox %(address)s added.") % {"address": mailbox})
            return redirect("mail:mailboxes")
    return _form_page(request, form, title=_("New mailbox"))


@admin_view("GET", "HEAD", "POST")
def mailbox_edit(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Change a mailbox's settings; an empty password field keeps the saved password."""
    mailbox = _get_mailbox_or_404(mailbox_id)
    form = MailboxForm(
        request.POST or None, initial=MailboxForm.initial_for(mailbox), mailbox=mailbox
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_mailbox(actor=_user(request), mailbox=mailbox, **form.changes())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Mailbox %(address)s saved.") % {"address": mailbox})
            return redirect("mail:mailboxes")
    return _form_page(
        request, form, title=_("Edit %(address)s") % {"address": mailbox}, mailbox=mailbox
    )


@admin_view("POST")
def mailbox_fetch(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Fetch the mailbox now and say what came in (or why it failed)."""
    mailbox = _get_mailbox_or_404(mailbox_id)
    report = imap.fetch_mailbox(mailbox, limit=FETCH_NOW_LIMIT)
    if report.failed:
        messages.error(request, report.describe())
    else:
        messages.success(request, report.describe())
    return redirect("mail:mailboxes")

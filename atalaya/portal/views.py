"""The client portal: a contact's view of their companies' tickets.

Only portal users (``user.is_portal``) get in; everyone else gets 404 so the portal's
URLs reveal nothing, except that MSP staff landing on the portal's front page are sent
to the technicians' ticket list. Tickets are loaded through the access helpers, so a
ticket of another client is a 404 like one that does not exist, and the timeline is
the public one: internal notes, time entries and assignments never reach a client.
The page language is the user's own (set by UserTimezoneMiddleware from
``user.language``, which is the contact's).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from atalaya.core.models import Client, ContactMembership, User
from atalaya.portal.forms import NewTicketForm, ReplyForm, TicketFilterForm
from atalaya.tickets import services
from atalaya.tickets.access import get_ticket_or_404, timeline_of
from atalaya.tickets.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    PUBLIC_EVENT_KINDS,
    Attachment,
    Ticket,
    TicketEvent,
)
from atalaya.tickets.search import filter_tickets

PAGE_SIZE = 25

View = Callable[..., HttpResponseBase]


def portal_only(view: View | None = None, *, staff_redirect: bool = False) -> Any:
    """Let portal users through; 404 for anyone else (staff optionally redirected)."""

    def decorate(func: View) -> View:
        @wraps(func)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not getattr(user, "is_portal", False):
                if staff_redirect and getattr(user, "is_msp_staff", False):
                    return redirect("tickets:list")
                raise Http404("Not a portal page for this user")
            return func(request, *args, **kwargs)

        return login_required(wrapped)

    return decorate(view) if view is not None else decorate


def _attach_service_errors(form: Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form fields it names (others on the form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@require_http_methods(["GET", "HEAD"])
@portal_only(staff_redirect=True)
def ticket_list(request: HttpRequest) -> HttpResponse:
    """The tickets of the contact's companies, filtered by company, status and words."""
    user: User = request.user  # type: ignore[assignment]
    clients = Client.objects.visible_to(user).only("id", "public_id", "name")
    form = TicketFilterForm(request.GET or None, clients=clients)
    form.is_valid()
    status = form.value("status", "open")
    q = (form.value("q", "") or "").strip()
    client = form.value("client")

    tickets: QuerySet[Ticket] = Ticket.objects.visible_to(user).select_related("client", "site")
    if client is not None:
        tickets = tickets.filter(client=client)
    if status == "open":
        tickets = tickets.filter(status__in=OPEN_STATUSES)
    elif status == "resolved":
        tickets = tickets.filter(status__in=DONE_STATUSES)
    if q:
        tickets = filter_tickets(tickets, q, viewer=user)
    # The id breaks ties so a page boundary never shows a ticket twice or skips one.
    tickets = tickets.order_by("-updated_at", "-id")

    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    client_list = list(clients)
    return render(
        request,
        "portal/ticket_list.html",
        {
            "form": form,
            "page": page,
            "status": status,
            "q": q,
            "clients": client_list,
            "selected_client": client,
            "several_clients": len(client_list) > 1,
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@portal_only
def ticket_new(request: HttpRequest) -> HttpResponse:
    """Open a ticket for one of the contact's companies; the contact is always the user."""
    user: User = request.user  # type: ignore[assignment]
    clients = list(Client.objects.visible_to(user))
    if not clients:
        raise Http404("This contact belongs to no company")
    status = 200
    if request.method == "POST":
        form = NewTicketForm(request.POST, request.FILES, clients=clients)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = services.create_ticket(
                    actor=user,
                    client=data["client"],
                    site=data.get("site"),
                    subject=data["subject"],
                    body=data.get("body") or "",
                    priority=data["priority"],
                    attachments=data.get("attachments") or [],
                )
            except ValidationError as exc:
                _attach_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Ticket #%(number)d was opened. We will be in touch.")
                    % {"number": ticket.number},
                )
                return redirect("portal:ticket_detail", number=ticket.number)
        status = 400
    else:
        # Start with the site the contact is registered at, when there is one.
        membership = (
            ContactMembership.objects.filter(contact=user.contact, site__isnull=False)
            .select_related("site")
            .first()
        )
        initial: dict[str, Any] = {}
        if membership and membership.site:
            initial = {"site": membership.site.public_id, "client": membership.client.public_id}
        form = NewTicketForm(initial=initial, clients=clients)
    return render(request, "portal/ticket_new.html", {"form": form}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@portal_only
def ticket_detail(request: HttpRequest, number: int) -> HttpResponse:
    """One ticket with its public timeline; POST adds the client's reply."""
    user: User = request.user  # type: ignore[assignment]
    ticket = get_ticket_or_404(user, number)
    status = 200
    form = ReplyForm()
    if request.method == "POST":
        form = ReplyForm(request.POST, request.FILES)
        if ticket.merged_into_id:
            form.add_error(None, _("This request was merged into another one; reply there."))
        elif form.is_valid():
            try:
                services.add_reply(
                    ticket,
                    actor=user,
                    body=form.cleaned_data.get("body") or "",
                    attachments=form.cleaned_data.get("attachments") or [],
                )
            except ValidationError as exc:
                _attach_service_errors(form, exc)
            else:
                messages.success(request, _("Your reply was sent."))
                return redirect("portal:ticket_detail", number=ticket.number)
        status = 400
    # timeline_of already keeps a portal user to public events; the kind filter is a
    # second lock so a mis-flagged note or time entry still never reaches a client.
    events = timeline_of(ticket, user).filter(is_public=True, kind__in=PUBLIC_EVENT_KINDS)
    return render(
        request,
        "portal/ticket_detail.html",
        {
            "ticket": ticket,
            "events": events,
            "form": form,
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def attachment_download(request: HttpRequest, number: int, attachment_id: int) -> HttpResponseBase:
    """A file from the ticket's public timeline, always as a download, never rendered inline."""
    user: User = request.user  # type: ignore[assignment]
    ticket = get_ticket_or_404(user, number)
    ticket_ids = [ticket.pk, *ticket.merged_tickets.values_list("pk", flat=True)]
    attachment = Attachment.objects.filter(
        pk=attachment_id,
        ticket_id__in=ticket_ids,
        event__in=TicketEvent.objects.visible_to(user).filter(is_public=True),
    ).first()
    if attachment is None:
        raise Http404("No such attachment")
    try:
        handle = attachment.file.open("rb")
    except OSError:
        raise Http404("The file is missing") from None
    # A fixed binary type plus nosniff and a sandbox: an uploaded .html or .svg can
    # never run as a page of this site, whatever type the uploader claimed.
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------------------
# Announcements from the MSP
# ---------------------------------------------------------------------------------------

ANNOUNCEMENTS_PER_PAGE = 20


def _portal_announcements(user: User) -> QuerySet[Any]:
    from atalaya.comms.models import Announcement, AnnouncementStatus

    # Those that reached one of the contact's clients (visible_to), once they went out.
    return Announcement.objects.visible_to(user).filter(status=AnnouncementStatus.SENT)


@require_http_methods(["GET", "HEAD"])
@portal_only
def announcement_list(request: HttpRequest) -> HttpResponse:
    """What the MSP announced to the contact's companies, newest first, in their language."""
    user: User = request.user  # type: ignore[assignment]
    page = Paginator(
        _portal_announcements(user).order_by("-sent_at", "-id"), ANNOUNCEMENTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    language = "es" if user.language == "es" else "en"
    return render(request, "portal/announcement_list.html", {"page": page, "language": language})


@require_http_methods(["GET", "HEAD"])
@portal_only
def announcement_detail(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """One announcement that reached the contact's companies; 404 for any other."""
    user: User = request.user  # type: ignore[assignment]
    announcement = _portal_announcements(user).filter(public_id=announcement_id).first()
    if announcement is None:
        raise Http404("No such announcement")
    language = "es" if user.language == "es" else "en"
    return render(
        request,
        "portal/announcement_detail.html",
        {
            "announcement": announcement,
            "subject": announcement.subject_in(language),
            "body": announcement.body_in(language),
        },
    )

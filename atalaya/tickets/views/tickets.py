"""The technician ticket UI: list with filters and saved views, new ticket, the ticket page.

Every view is for MSP staff only: anyone else gets 404, as if the page did not exist.
Changes need a role that may write tickets (403 otherwise) and go through
tickets.services; tickets are loaded only through tickets.access. Each action on the
ticket page is a plain POST that redirects (no JavaScript needed); under HTMX the same
view answers with the re-rendered page fragment instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from atalaya.core.models import Client, User
from atalaya.tickets import forms, services
from atalaya.tickets.access import get_ticket_or_404, timeline_of, visible_tickets
from atalaya.tickets.models import (
    Attachment,
    Category,
    Queue,
    SavedView,
    Ticket,
    TicketLink,
    display_name,
)

View = Callable[..., HttpResponseBase]
SAFE_METHODS = ("GET", "HEAD")
# Where the list is, rather than what it shows: never part of a saved view.
PAGE_PARAMS = ("page", "after", "before")
# Served content types are kept only when they look like a plain "type/subtype".
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def staff_view(*methods: str, write: bool = False) -> Callable[[View], View]:
    """Allow ``methods`` (else 405) to signed-in MSP staff (else 404); POSTs of a
    ``write`` view also need a role that may change tickets (else 403)."""

    def decorator(view: View) -> View:
        @require_http_methods(list(methods))
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = _user(request)
            if not user.is_msp_staff:
                raise Http404("Not found")
            if write and request.method not in SAFE_METHODS and not user.can_write_tickets:
                raise PermissionDenied(_("Your role may not change tickets."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _user(request: HttpRequest) -> User:
    """The signed-in staff user (staff_view has checked that there is one)."""
    return cast(User, request.user)


def _is_fragment_request(request: HttpRequest, target: str) -> bool:
    """An HTMX request that swaps ``target`` (a history restore wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return (
        htmx is not None
        and bool(htmx)
        and not htmx.history_restore_request
        and htmx.target == target
    )


# ---------------------------------------------------------------------------------------
# Ticket list and saved views
# ---------------------------------------------------------------------------------------


def _filter_choices(user: Any) -> dict[str, list[tuple[str, str]]]:
    """The choice lists of the filter form, one small query each."""
    language = get_language() or "en"
    return {
        "clients": [
            (str(pk), name)
            for pk, name in Client.objects.visible_to(user).values_list("public_id", "name")
        ],
        "assignees": [(str(u.pk), u.display_name()) for u in forms.assignable_users()],
        "queues": [
            (slug, display_name(name)) for slug, name in Queue.objects.values_list("slug", "name")
        ],
        "categories": [(c.slug, c.localized_name(language)) for c in Category.objects.all()],
    }


@staff_view("GET", "HEAD")
def ticket_list(request: HttpRequest) -> HttpResponse:
    """Tickets with filters, sort, full-text search and pages, open ones by default.

    Pages never count the whole table: one row beyond the page tells whether there is a
    next one. Timestamp sorts page by keyset and the others by an offset capped at
    forms.MAX_PAGE, so deep pages stay cheap (see TicketFilterForm.page_of).
    """
    user = _user(request)
    now = timezone.now()
    form = forms.TicketFilterForm(request.GET, **_filter_choices(user))
    status = 200
    rows: list[Ticket] = []
    page = forms.Page(ids=[])
    if form.is_valid():
        # Two steps: the page's ids first, which the database finds from its indexes
        # alone, then those rows with their joins. Sorting whole joined rows instead
        # costs tens of milliseconds once there are tens of thousands of open tickets.
        qs = form.apply(visible_tickets(user), user=user, now=now)
        page = form.page_of(qs, forms.PAGE_SIZE)
        found = Ticket.objects.select_related("client", "assignee", "category", "queue").in_bulk(
            page.ids
        )
        rows = [found[pk] for pk in page.ids if pk in found]
    else:
        status = 400
    current_query = _clean_query(request.GET.urlencode())
    context = {
        "form": form,
        "tickets": rows,
        "next_query": _page_query(current_query, page.next),
        "previous_query": _page_query(current_query, page.previous),
        "at_page_limit": page.at_limit,
        "now": now,
        "current_query": current_query,
        "save_form": forms.SavedViewForm(initial={"query": current_query}),
    }
    if _is_fragment_request(request, "ticket-results"):
        return render(request, "tickets/_ticket_results.html", context, status=status)
    context["saved_views"] = list(SavedView.objects.filter(user=user))
    return render(request, "tickets/ticket_list.html", context, status=status)


@staff_view("POST")
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Save the list's current query string under a name, then show that view."""
    form = forms.SavedViewForm(request.POST)
    if form.is_valid():
        try:
            view = services.save_view(
                actor=_user(request),
                name=form.cleaned_data["name"],
                query=_clean_query(form.cleaned_data["query"]),
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, _("Saved view “%(name)s” stored.") % {"name": view.name})
            return redirect(_list_url(view.query))
    errors = "; ".join(str(m) for messages_ in form.errors.values() for m in messages_)
    messages.error(request, _("The view was not saved: %(errors)s") % {"errors": errors})
    query = form.data.get("query", "")
    return redirect(_list_url(query if len(query) <= 1000 else ""))


def _clean_query(query: str) -> str:
    """The list query string re-encoded (no raw newlines reach a header), without its page."""
    params = QueryDict(query.lstrip("?"), mutable=True)
    for key in PAGE_PARAMS:
        params.pop(key, None)
    return params.urlencode()


def _page_query(query: str, moves: dict[str, str] | None) -> str:
    """The query string of a neighbouring page ('' when there is none)."""
    if moves is None:
        return ""
    params = QueryDict(query, mutable=True)
    params.update(moves)
    return params.urlencode()


def _list_url(query: str) -> str:
    url = reverse("tickets:list")
    query = _clean_query(query)
    return f"{url}?{query}" if query else url


def _own_saved_view(request: HttpRequest, view_id: int) -> SavedView:
    view = SavedView.objects.filter(pk=view_id, user=_user(request)).first()
    if view is None:
        raise Http404("No such saved view")
    return view


@staff_view("GET", "HEAD")
def saved_view_open(request: HttpRequest, view_id: int) -> HttpResponse:
    """Open one of the user's saved views: the list with its stored query string."""
    return redirect(_list_url(_own_saved_view(request, view_id).query))


@staff_view("POST")
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    """Delete one of the user's own saved views; another user's id is a 404."""
    view = _own_saved_view(request, view_id)
    services.delete_saved_view(view, actor=_user(request))
    messages.success(request, _("Saved view “%(name)s” deleted.") % {"name": view.name})
    return redirect("tickets:list")


# ---------------------------------------------------------------------------------------
# New ticket
# ---------------------------------------------------------------------------------------

_NEW_TICKET_FIELDS = (
    "client",
    "site",
    "contact",
    "queue",
    "category",
    "priority",
    "assignee",
    "subject",
)


@staff_view("GET", "HEAD", "POST", write=True)
def ticket_new(request: HttpRequest) -> HttpResponse:
    """Open a ticket for a client; ``?client=`` preselects one and narrows sites and contacts.

    Read-only and billing staff may look at the form but not submit it.
    """
    status = 200
    if request.method == "POST":
        form = forms.TicketCreateForm(_user(request), request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = services.create_ticket(
                    actor=_user(request),
                    client=data["client"],
                    subject=data["subject"],
                    body=data["body"],
                    contact=data["contact"],
                    site=data["site"],
                    queue=data["queue"],
                    category=data["category"],
                    priority=data["priority"],
                    assignee=data["assignee"],
                    attachments=data["attachments"],
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(
                    request, _("Ticket #%(number)d created.") % {"number": ticket.number}
                )
                return redirect("tickets:detail", number=ticket.number)
        status = 400
    else:
        initial = {k: request.GET[k] for k in _NEW_TICKET_FIELDS if request.GET.get(k)}
        form = forms.TicketCreateForm(_user(request), initial=initial)
    return render(request, "tickets/ticket_new.html", {"form": form}, status=status)


@staff_view("GET", "HEAD")
def client_options(request: HttpRequest) -> HttpResponse:
    """The site and contact fields for the client in ``?client=`` (an HTMX fragment)."""
    client_id = forms.parse_uuid(request.GET.get("client", ""))
    initial = {}
    if client_id and Client.objects.visible_to(_user(request)).filter(public_id=client_id).exists():
        initial["client"] = str(client_id)
    form = forms.TicketCreateForm(_user(request), initial=initial)
    return render(request, "tickets/_client_fields.html", {"form": form})


# ---------------------------------------------------------------------------------------
# Ticket page
# ---------------------------------------------------------------------------------------

ACTION_FORMS: dict[str, type[Any]] = {
    "reply_form": forms.ReplyForm,
    "note_form": forms.NoteForm,
    "time_form": forms.TimeEntryForm,
    "status_form": forms.StatusForm,
    "assign_form": forms.AssignForm,
    "priority_form": forms.PriorityForm,
    "classify_form": forms.ClassifyForm,
    "merge_form": forms.MergeForm,
    "link_form": forms.LinkForm,
}


def _page_context(
    request: HttpRequest, ticket: Ticket, bound: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the ticket page shows: header, timeline (merged tickets folded in), links, forms."""
    events = list(timeline_of(ticket, _user(request)))
    merged_numbers = sorted({e.ticket.number for e in events if e.ticket_id != ticket.pk})
    links = []
    for link in TicketLink.objects.filter(
        Q(from_ticket=ticket) | Q(to_ticket=ticket)
    ).select_related("from_ticket", "to_ticket"):
        links.append(link.to_ticket if link.from_ticket_id == ticket.pk else link.from_ticket)
    initial = forms.ticket_initial(ticket)
    context: dict[str, Any] = {
        "ticket": ticket,
        "events": events,
        "merged_numbers": merged_numbers,
        "linked_tickets": links,
        "now": timezone.now(),
        "can_write": _user(request).can_write_tickets,
    }
    for name, form_class in ACTION_FORMS.items():
        context[name] = form_class(initial=initial)
    context.update(bound or {})
    return context


def _render_page(
    request: HttpRequest, ticket: Ticket, *, status: int = 200, bound: dict[str, Any] | None = None
) -> HttpResponse:
    context = _page_context(request, ticket, bound)
    if _is_fragment_request(request, "ticket-page"):
        # htmx does not swap 4xx answers; a form with errors is still the page to show.
        return render(request, "tickets/_ticket_page.html", context)
    return render(request, "tickets/ticket_detail.html", context, status=status)


@staff_view("GET", "HEAD")
def ticket_detail(request: HttpRequest, number: int) -> HttpResponse:
    """The ticket: header, timeline, linked tickets and the forms that act on it."""
    ticket = get_ticket_or_404(_user(request), number)
    return _render_page(request, ticket)


Perform = Callable[[HttpRequest, Ticket, dict[str, Any]], Any]


def _act(
    request: HttpRequest, number: int, form_name: str, perform: Perform, done: str
) -> HttpResponse:
    """Run one ticket-page action: validate its form, call the service, answer.

    On success: a redirect to the ticket page (plain POST) or the fresh page fragment
    (HTMX). On a validation error from the form or the service: the page again with
    the error next to the field (400 for plain POSTs). PermissionDenied becomes a 403.
    """
    ticket = get_ticket_or_404(_user(request), number)
    form = ACTION_FORMS[form_name](request.POST, request.FILES)
    if form.is_valid():
        try:
            result = perform(request, ticket, form.cleaned_data)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            if isinstance(result, HttpResponse):
                return result
            if _is_fragment_request(request, "ticket-page"):
                return _render_page(request, get_ticket_or_404(_user(request), number))
            messages.success(request, done)
            return redirect("tickets:detail", number=ticket.number)
    return _render_page(request, ticket, status=400, bound={form_name: form})


@staff_view("POST", write=True)
def ticket_reply(request: HttpRequest, number: int) -> HttpResponse:
    """Send a public reply (with attachments)."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.add_reply(
            ticket, actor=_user(request), body=data["body"], attachments=data["attachments"]
        )

    return _act(request, number, "reply_form", perform, _("Reply sent."))


@staff_view("POST", write=True)
def ticket_note(request: HttpRequest, number: int) -> HttpResponse:
    """Add an internal note (with attachments), never shown to the client."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.add_note(
            ticket, actor=_user(request), body=data["body"], attachments=data["attachments"]
        )

    return _act(request, number, "note_form", perform, _("Note added."))


@staff_view("POST", write=True)
def ticket_time(request: HttpRequest, number: int) -> HttpResponse:
    """Log minutes worked on the ticket."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.log_time(
            ticket,
            actor=_user(request),
            minutes=data["minutes"],
            is_billable=data["is_billable"],
            work_type=data["work_type"],
            note=data["note"],
            worked_on=data["worked_on"],
        )

    return _act(request, number, "time_form", perform, _("Time logged."))


@staff_view("POST", write=True)
def ticket_status(request: HttpRequest, number: int) -> HttpResponse:
    """Change the status."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.change_status(ticket, actor=_user(request), status=data["status"])

    return _act(request, number, "status_form", perform, _("Status changed."))


@staff_view("POST", write=True)
def ticket_assign(request: HttpRequest, number: int) -> HttpResponse:
    """Give the ticket to a technician, or to nobody."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.assign_ticket(ticket, actor=_user(request), assignee=data["assignee"])

    return _act(request, number, "assign_form", perform, _("Assignee changed."))


@staff_view("POST", write=True)
def ticket_priority(request: HttpRequest, number: int) -> HttpResponse:
    """Change the priority (and with it the SLA targets)."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.change_priority(ticket, actor=_user(request), priority=data["priority"])

    return _act(request, number, "priority_form", perform, _("Priority changed."))


@staff_view("POST", write=True)
def ticket_classify(request: HttpRequest, number: int) -> HttpResponse:
    """Move the ticket to another queue or category."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        return services.update_ticket(
            ticket, actor=_user(request), queue=data["queue"], category=data["category"]
        )

    return _act(request, number, "classify_form", perform, _("Queue and category saved."))


def _other_ticket(request: HttpRequest, number: int, field: str) -> Ticket:
    try:
        return get_ticket_or_404(_user(request), number)
    except Http404:
        raise ValidationError({field: [_("There is no ticket #%(n)d.") % {"n": number}]}) from None


@staff_view("POST", write=True)
def ticket_merge(request: HttpRequest, number: int) -> HttpResponse:
    """Merge this ticket into another (by number); then show the surviving ticket."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        target = _other_ticket(request, data["target"], "target")
        services.merge_tickets(ticket, target, actor=_user(request))
        messages.success(
            request,
            _("Ticket #%(a)d merged into #%(b)d.") % {"a": ticket.number, "b": target.number},
        )
        url = reverse("tickets:detail", args=[target.number])
        if getattr(request, "htmx", None):
            return HttpResponseClientRedirect(url)
        return redirect(url)

    return _act(request, number, "merge_form", perform, "")


@staff_view("POST", write=True)
def ticket_link(request: HttpRequest, number: int) -> HttpResponse:
    """Link this ticket to another (by number); the link shows on both."""

    def perform(request: HttpRequest, ticket: Ticket, data: dict[str, Any]) -> Any:
        other = _other_ticket(request, data["other"], "other")
        return services.link_tickets(ticket, other, actor=_user(request))

    return _act(request, number, "link_form", perform, _("Tickets linked."))


@staff_view("GET", "HEAD")
def attachment_download(request: HttpRequest, number: int, attachment_id: int) -> HttpResponseBase:
    """Download a ticket's attachment; never rendered inline, whatever its declared type."""
    ticket = get_ticket_or_404(_user(request), number)
    attachment = Attachment.objects.filter(pk=attachment_id, ticket=ticket).first()
    if attachment is None:
        raise Http404("No such attachment")
    try:
        handle = attachment.file.open("rb")
    except OSError:
        raise Http404("The file is missing") from None
    content_type = attachment.content_type if _CONTENT_TYPE.match(attachment.content_type) else ""
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser were talked into rendering it, the file gets no script and no origin.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response

"""Client pages for MSP staff: the client list, the client page, and admin forms.

Everything here is for staff only: anyone else gets 404, as if the pages did not exist
(clients see their company through the portal). Reading is for every staff role;
the forms (new and edited clients, sites, holidays, mail domains, contacts, portal
logins) are for administrators, others get 403. Objects are loaded only through
core.access and every write goes through core.services, which records an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, FilteredRelation, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from atalaya.comms.log import communication_log
from atalaya.core import forms, services
from atalaya.core.access import get_client_or_404, get_contact_or_404
from atalaya.core.models import AuditEvent, Client, Contact, ContactMembership, User
from atalaya.tickets.access import visible_tickets
from atalaya.tickets.models import DONE_STATUSES, OPEN_STATUSES

View = Callable[..., HttpResponse]
CLIENTS_PER_PAGE = 50
OPEN_TICKETS_SHOWN = 50
HISTORY_SHOWN = 30
COMMS_LOG_SHOWN = 25


def _user(request: HttpRequest) -> User:
    # staff_page has already turned away anyone not signed in.
    return cast(User, request.user)


def staff_page(*methods: str, admin: bool = False) -> Callable[[View], View]:
    """Allow ``methods`` (else 405) to signed-in MSP staff (else 404); ``admin`` pages
    (the forms, for every method) need an administrator (else 403)."""

    def decorator(view: View) -> View:
        @require_http_methods(list(methods))
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not _user(request).is_msp_staff:
                raise Http404("Not found")
            if admin and not _user(request).is_admin:
                raise PermissionDenied(_("Only administrators may do this."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@staff_page("GET", "HEAD")
def client_list(request: HttpRequest) -> HttpResponse:
    """Clients by name with their open ticket counts, optionally filtered by name (``q``).

    The counts come in the same query: a join restricted to open tickets (so the
    database reads them through the status index, not every ticket) grouped by client.
    """
    query = (request.GET.get("q") or "").strip()[:100]
    clients = (
        Client.objects.visible_to(_user(request))
        .annotate(
            open_tickets=FilteredRelation("tickets", condition=Q(tickets__status__in=OPEN_STATUSES))
        )
        .annotate(open_count=Count("open_tickets"))
        .order_by("name")
    )
    if query:
        clients = clients.filter(Q(name__icontains=query) | Q(legal_name__icontains=query))
    page = Paginator(clients, CLIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "core/clients/list.html", {"page": page, "q": query})


def _business_days(client: Client) -> list[str]:
    return [str(WEEKDAYS_ABBR[int(day) - 1]) for day in client.working_days if day in "1234567"]


def _audit_label(event: AuditEvent) -> str:
    """A readable sentence for an audit event of the client's history."""
    labels = {
        ("client", "created"): _("Client created"),
        ("client", "updated"): _("Client details changed"),
        ("client", "holidays_added"): _("Holidays added"),
        ("client", "mail_domain_added"): _("Mail domain added"),
        ("site", "created"): _("Site added"),
        ("contact", "created"): _("Contact added"),
        ("contact", "added_to_client"): _("Existing contact added"),
        ("user", "created"): _("Portal login created"),
    }
    return labels.get((event.object_type, event.action), f"{event.object_type}: {event.action}")


def _history(user: Any, client: Client) -> list[dict[str, Any]]:
    """Closed and resolved tickets and the client's audit events, newest first, merged."""
    done = (
        visible_tickets(user)
        .filter(client=client, status__in=DONE_STATUSES)
        .select_related("assignee", "category")
        # Newest activity first reads the (client, -updated_at) index in order.
        .order_by("-updated_at")[:HISTORY_SHOWN]
    )
    events = (
        AuditEvent.objects.visible_to(user)
        .filter(client=client)
        .select_related("actor")
        .order_by("-at")[:HISTORY_SHOWN]
    )
    rows: list[dict[str, Any]] = [{"at": t.resolved_at or t.updated_at, "ticket": t} for t in done]
    for event in events:
        rows.append(
            {
                "at": event.at,
                "event": event,
                "label": _audit_label(event),
                "actor": event.actor.display_name() if event.actor else "",
                "changes": [
                    (field, event.before.get(field), value) for field, value in event.after.items()
                ],
            }
        )
    rows.sort(key=lambda row: row["at"], reverse=True)
    return rows[:HISTORY_SHOWN]


@staff_page("GET", "HEAD")
def client_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    """One client: business hours and holidays, mail domains, sites, contacts (with the
    other clients each also belongs to), open tickets and recent history.

    A fixed number of queries whatever the number of contacts or tickets.
    """
    client = get_client_or_404(_user(request), public_id)
    today = timezone.localdate()
    memberships = (
        ContactMembership.objects.filter(client=client)
        .select_related("contact", "site", "contact__portal_user")
        .prefetch_related(
            Prefetch(
                "contact__memberships",
                queryset=ContactMembership.objects.exclude(client=client).select_related("client"),
                to_attr="other_memberships",
            )
        )
        .order_by("contact__name", "contact__id")
    )
    open_tickets = list(
        visible_tickets(_user(request))
        .filter(client=client, status__in=OPEN_STATUSES)
        .select_related("assignee", "category", "contact", "site")
        .order_by("-updated_at")[: OPEN_TICKETS_SHOWN + 1]
    )
    return render(
        request,
        "core/clients/detail.html",
        {
            "client": client,
            "business_days": _business_days(client),
            "holidays": list(client.holidays.filter(date__gte=today)[:50]),
            "mail_domains": list(client.mail_domains.order_by("domain")),
            "sites": list(client.sites.all()),
            "memberships": list(memberships),
            "open_tickets": open_tickets[:OPEN_TICKETS_SHOWN],
            "more_open": len(open_tickets) > OPEN_TICKETS_SHOWN,
            "history": _history(_user(request), client),
            "comms_log": communication_log(
                client, limit=COMMS_LOG_SHOWN, before=_log_before(request)
            ),
            "now": timezone.now(),
        },
    )


def _log_before(request: HttpRequest) -> Any:
    """The communication log's page: entries older than ``log_before`` (an ISO time)."""
    value = parse_datetime((request.GET.get("log_before") or "").strip()[:40].replace(" ", "+"))
    if value is None:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _form_page(
    request: HttpRequest,
    form: Any,
    *,
    title: str,
    client: Client | None = None,
    submit: str = "",
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    return render(
        request,
        "core/clients/form.html",
        {
            "form": form,
            "title": title,
            "client": client,
            "submit": submit or _("Save"),
            "error": error,
        },
        status=status,
    )


def _done(request: HttpRequest, client: Client, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("client_detail", public_id=client.public_id)


@staff_page("GET", "HEAD", "POST", admin=True)
def client_create(request: HttpRequest) -> HttpResponse:
    """Add a client company with its business hours."""
    form = forms.ClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.create_client(actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            return _done(request, client, _("Client added."))
    return _form_page(
        request,
        form,
        title=_("New client"),
        submit=_("Add client"),
        status=400 if form.errors else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def client_edit(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Change a client's details and business hours."""
    client = get_client_or_404(_user(request), public_id)
    form = forms.ClientForm(
        request.POST or None, initial=forms.ClientForm.initial_for(client), editing=True
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_client(actor=_user(request), client=client, **form.cleaned_data)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            return _done(request, client, _("Client saved."))
    return _form_page(
        request,
        form,
        title=_("Edit %(client)s") % {"client": client.name},
        client=client,
        status=400 if form.errors else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def site_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Add a site (office, branch) to the client."""
    client = get_client_or_404(_user(request), public_id)
    form = forms.SiteForm(request.POST or None, initial={"time_zone": client.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            services.add_site(actor=_user(request), client=client, **form.cleaned_data)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            return _done(request, client, _("Site added."))
    return _form_page(
        request,
        form,
        title=_("New site"),
        client=client,
        submit=_("Add site"),
        status=400 if form.errors else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def holiday_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Mark a day the client is closed (its SLA clocks stop on it)."""
    client = get_client_or_404(_user(request), public_id)
    form = forms.HolidayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        day, name = form.cleaned_data["date"], form.cleaned_data["name"]
        if services.add_holidays(actor=_user(request), client=client, days=[(day, name)]):
            return _done(request, client, _("Holiday added."))
        form.add_error("date", _("This day is already a holiday."))
    return _form_page(
        request,
        form,
        title=_("New holiday"),
        client=client,
        submit=_("Add holiday"),
        status=400 if form.errors else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def mail_domain_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Map a mail domain to the client."""
    client = get_client_or_404(_user(request), public_id)
    form = forms.MailDomainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_mail_domain(
                actor=_user(request), client=client, domain=form.cleaned_data["domain"]
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            return _done(request, client, _("Mail domain added."))
    return _form_page(
        request,
        form,
        title=_("New mail domain"),
        client=client,
        submit=_("Add domain"),
        status=400 if form.errors else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def contact_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Add a new contact to the client, or attach an existing contact of another client.

    Both forms are on one page; the submit button's ``action`` (new / attach) says which.
    """
    client = get_client_or_404(_user(request), public_id)
    contacts = Contact.objects.visible_to(_user(request))
    action = request.POST.get("action") if request.method == "POST" else None
    new_form = forms.ContactForm(
        request.POST if action == "new" else None, client=client, prefix="new"
    )
    attach_form = forms.AttachContactForm(
        request.POST if action == "attach" else None,
        client=client,
        contacts=contacts,
        prefix="attach",
    )
    if action == "new" and new_form.is_valid():
        data = dict(new_form.cleaned_data)
        try:
            services.create_contact(actor=_user(request), clients=[client], **data)
        except ValidationError as exc:
            forms.add_service_errors(new_form, exc)
        else:
            return _done(request, client, _("Contact added."))
    elif action == "attach" and attach_form.is_valid():
        data = attach_form.cleaned_data
        try:
            services.add_contact_to_client(
                actor=_user(request),
                client=client,
                contact=data["contact"],
                site=data["site"],
                job_title=data["job_title"],
                is_decision_maker=data["is_decision_maker"],
                is_technical=data["is_technical"],
                is_billing=data["is_billing"],
                is_user=data["is_user"],
            )
        except ValidationError as exc:
            forms.add_service_errors(attach_form, exc)
        else:
            return _done(request, client, _("Contact added."))
    error = ""
    if request.method == "POST" and action not in ("new", "attach"):
        error = _("Choose whether to add a new contact or an existing one.")
    failed = bool(error or new_form.errors or attach_form.errors)
    return render(
        request,
        "core/clients/contact_add.html",
        {
            "client": client,
            "new_form": new_form,
            "attach_form": attach_form,
            "error": error,
        },
        status=400 if failed else 200,
    )


@staff_page("GET", "HEAD", "POST", admin=True)
def portal_login_add(request: HttpRequest, public_id: Any, contact_id: Any) -> HttpResponse:
    """Give one of the client's contacts a portal login (it sees all the contact's clients)."""
    client = get_client_or_404(_user(request), public_id)
    contact = get_contact_or_404(_user(request), contact_id)
    if not contact.memberships.filter(client=client).exists():
        raise Http404("No such contact at this client")
    form = forms.PortalLoginForm(request.POST or None, initial={"username": contact.email})
    error = ""
    if hasattr(contact, "portal_user"):
        error = _("This contact already has a portal login: %(username)s") % {
            "username": contact.portal_user.username
        }
    elif request.method == "POST" and form.is_valid():
        try:
            services.create_portal_user(
                actor=_user(request),
                contact=contact,
                client=client,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            return _done(
                request, client, _("Portal login created for %(name)s.") % {"name": contact.name}
            )
    return _form_page(
        request,
        form,
        title=_("Portal login for %(name)s") % {"name": contact.name},
        client=client,
        submit=_("Create login"),
        status=400 if request.method == "POST" and (error or form.errors) else 200,
        error=error,
    )

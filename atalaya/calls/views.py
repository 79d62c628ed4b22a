"""Technician pages of the call log: the log, "log a call", caller lookup, the ring
panel's poll, and the phone systems (administrators change them).

MSP staff only (anyone else 404); logging needs a role that may change tickets (403),
phone systems and extensions an administrator (403). Every write goes through
``calls.services``. The form works without JavaScript (a Find button searches); with
HTMX the matches and the caller's open tickets are swapped in as one types, and
base.html opens the same form in a dialog on one keystroke.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from atalaya.calls import services
from atalaya.calls.access import (
    get_phone_system_or_404,
    get_ring_or_none,
    public_id_or_404,
    visible_calls,
)
from atalaya.calls.forms import CallForm, PhoneSystemForm, new_token
from atalaya.calls.models import PhoneSystem, Ring
from atalaya.core.forms import add_service_errors
from atalaya.core.models import STAFF_ROLES, Client, User
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 100
# A ring older than this is no longer ringing: a page opened later does not show it.
RING_FRESH = timedelta(seconds=30)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _is_fragment(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and htmx.target == target  # type: ignore[union-attr]


# --- the call log ----------------------------------------------------------------------------


@staff_view("GET", "HEAD")
def call_list(request: HttpRequest) -> HttpResponse:
    """The latest calls, newest first; ?client=<id> for one client's."""
    user = _user(request)
    calls = visible_calls(user).select_related("ticket__client")
    client = None
    if request.GET.get("client"):
        client = (
            Client.objects.visible_to(user)
            .filter(public_id=public_id_or_404(request.GET["client"]))
            .first()
        )
        calls = calls.filter(client=client)
    return render(
        request,
        "calls/list.html",
        {
            "calls": list(calls[:PER_PAGE]),
            "client": client,
            "can_write": user.can_write_tickets,
        },
    )


# --- log a call -------------------------------------------------------------------------------


def _matches_context(user: User, query: str, pick: str) -> dict[str, Any]:
    """The lookup's matches, the one picked (auto-picked when it is the only one) and
    the open tickets the call can be added to."""
    matches = services.find_callers(user, query) if query else []
    chosen = next((m for m in matches if m.key == pick), None)
    if chosen is None and len(matches) == 1:
        chosen = matches[0]
    tickets = services.open_tickets_for(chosen.client, chosen.contact) if chosen else []
    return {"matches": matches, "chosen": chosen, "open_tickets": tickets, "query": query}


def _form_context(request: HttpRequest, form: CallForm, query: str, pick: str) -> dict[str, Any]:
    context = _matches_context(_user(request), query, pick)
    context.update(
        {
            "form": form,
            "file_as": (form.data.get("file_as") if form.is_bound else None) or "new",
            "next": request.POST.get("next") or request.GET.get("next") or "",
        }
    )
    return context


def _ring_initial(user: User, ring: Ring | None) -> dict[str, Any]:
    if ring is None:
        return {}
    initial: dict[str, Any] = {"q": ring.caller, "number": ring.caller, "ring": ring.pk}
    call = ring.call
    if call is not None:
        initial["client"] = call.client.public_id
        if call.contact is not None:
            initial["pick"] = f"{call.contact.public_id}:{call.client.public_id}"
    return initial


@never_cache
@staff_view("GET", "HEAD", "POST", write=True)
def call_new(request: HttpRequest) -> HttpResponse:
    """Log a call: find the caller, type the note, file it as a new ticket or on an open one.

    ``?ring=<id>`` prefills the ringing caller; ``?q=`` a search. POST with ``find``
    only searches (the form without JavaScript).
    """
    user = _user(request)
    template = "calls/_form.html" if _is_fragment(request, "call-dialog-body") else "calls/new.html"
    if request.method != "POST":
        ring = get_ring_or_none(user, request.GET.get("ring"))
        initial = {"q": request.GET.get("q", "")[:80], **_ring_initial(user, ring)}
        form = CallForm(initial=initial, user=user)
        query, pick = initial["q"], initial.get("pick", "")
        return render(request, template, _form_context(request, form, query, pick))
    if not user.can_write_tickets:
        raise PermissionDenied(_("Your role may not log calls."))
    form = CallForm(request.POST, user=user)
    query, pick = request.POST.get("q", "")[:80], request.POST.get("pick", "")
    if "find" in request.POST:
        # Searching is not saving: show the matches without complaining about the rest.
        form = CallForm(
            initial={**request.POST.dict(), "token": request.POST.get("token") or new_token()},
            user=user,
        )
        return render(request, template, _form_context(request, form, query, pick))
    if form.is_valid():
        data = form.cleaned_data
        ring = get_ring_or_none(user, data.get("ring")) if data.get("ring") else None
        try:
            call = services.log_call(
                actor=user,
                client=data["client"],
                contact=data["contact"],
                number=data["number"],
                direction=data["direction"],
                note=data["note"],
                ticket=data["ticket"],
                category=data.get("category"),
                idempotency_key=f"form:{user.pk}:{data['token']}",
                ring=ring,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            assert call.ticket is not None
            messages.success(
                request, _("Call logged on ticket #%(n)d.") % {"n": call.ticket.number}
            )
            return redirect("tickets:detail", call.ticket.number)
    return render(request, "calls/new.html", _form_context(request, form, query, pick), status=400)


@staff_view("GET", "HEAD")
def caller_lookup(request: HttpRequest) -> HttpResponse:
    """The matches for what is typed in the caller field (an HTMX fragment)."""
    query = request.GET.get("q", "")[:80]
    context = _matches_context(_user(request), query, request.GET.get("pick", ""))
    context["file_as"] = "new"
    return render(request, "calls/_matches.html", context)


# --- the ring panel ----------------------------------------------------------------------------


def _since(value: str | None) -> datetime:
    now = timezone.now()
    try:
        since = datetime.fromtimestamp(float(value or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return now - RING_FRESH
    return max(since, now - RING_FRESH)


@never_cache
@staff_view("GET", "HEAD")
def ringing(request: HttpRequest) -> HttpResponse:
    """The ring panel's poll: 204 while nothing new rang at the user's extension.

    Cheap on purpose (every technician's page asks every two seconds): one query on
    the (technician, created_at) index; only a new ring renders anything.
    """
    user = _user(request)
    ring = services.latest_ring_for(user, _since(request.GET.get("since")))
    if ring is None:
        return HttpResponse(status=204)
    contact = ring.contact
    client = ring.call.client if ring.call else None
    tickets = services.open_tickets_for(client, contact) if client else []
    return render(
        request,
        "calls/_ring.html",
        {
            "ring": ring,
            "contact": contact,
            "client": client,
            "open_tickets": tickets,
            "since": f"{ring.created_at.timestamp():.6f}",
        },
    )


# --- phone systems ----------------------------------------------------------------------------


def _technicians() -> list[User]:
    return list(User.objects.filter(is_active=True, role__in=STAFF_ROLES).order_by("username"))


@staff_view("GET", "HEAD", "POST", write=True)
def phone_system_list(request: HttpRequest) -> HttpResponse:
    """The PBXs that may call the ring webhook, and every staff member's extension."""
    user = _user(request)
    if request.method == "POST":
        wanted = []
        staff = {str(u.pk): u for u in _technicians()}
        for key in request.POST:
            if key.startswith("ext-") and key[4:] in staff:
                wanted.append((staff[key[4:]], request.POST.get(key, "")))
        try:
            changed = services.set_extensions(actor=user, extensions=wanted)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(n)d extensions changed.") % {"n": changed})
        return redirect("calls:phone_system_list")
    return render(
        request,
        "calls/phone_systems/list.html",
        {
            "systems": list(PhoneSystem.objects.visible_to(user)),
            "staff": _technicians(),
            "is_admin": user.is_admin,
        },
    )


def _secret_response(request: HttpRequest, system: PhoneSystem, status: int) -> HttpResponse:
    response = _detail(request, system, secret=system.secret, status=status)
    # The secret must not linger in a browser or proxy cache.
    response["Cache-Control"] = "no-store"
    return response


@staff_view("GET", "HEAD", "POST", write=True)
def phone_system_new(request: HttpRequest) -> HttpResponse:
    """Register a PBX; the answer shows its webhook secret, once."""
    user = _user(request)
    form = PhoneSystemForm(request.POST or None)
    if request.method == "POST":
        if not user.is_admin:
            raise PermissionDenied(_("Only administrators may do this."))
        if form.is_valid():
            try:
                system = services.create_phone_system(actor=user, name=form.cleaned_data["name"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return _secret_response(request, system, 201)
    return render(
        request,
        "calls/phone_systems/form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def _detail(
    request: HttpRequest, system: PhoneSystem, *, secret: str = "", status: int = 200
) -> HttpResponse:
    hook = request.build_absolute_uri(
        reverse("call_hooks:ring", kwargs={"phone_system_id": system.public_id})
    )
    return render(
        request,
        "calls/phone_systems/detail.html",
        {
            "system": system,
            "hook_url": hook,
            "secret": secret,
            "is_admin": _user(request).is_admin,
            "rings": list(
                system.rings.select_related("technician", "contact").order_by("-created_at")[:20]
            ),
        },
        status=status,
    )


@staff_view("GET", "HEAD")
def phone_system_detail(request: HttpRequest, phone_system_id: Any) -> HttpResponse:
    """A PBX's webhook address, its set-up for Asterisk and 3CX, and its latest rings."""
    return _detail(request, get_phone_system_or_404(_user(request), phone_system_id))


@staff_view("POST", write=True)
def phone_system_rotate(request: HttpRequest, phone_system_id: Any) -> HttpResponse:
    """A new secret (the old one stops working at once), shown once in the answer."""
    user = _user(request)
    system = get_phone_system_or_404(user, phone_system_id)
    services.rotate_phone_secret(actor=user, phone_system=system)
    return _secret_response(request, system, 200)


@staff_view("POST", write=True)
def phone_system_active(request: HttpRequest, phone_system_id: Any) -> HttpResponse:
    """Switch the PBX's webhook off (its rings are refused) or on again."""
    user = _user(request)
    system = get_phone_system_or_404(user, phone_system_id)
    services.set_phone_system_active(
        actor=user, phone_system=system, is_active=request.POST.get("is_active") == "on"
    )
    return redirect("calls:phone_system_detail", system.public_id)

"""Announcements: write, preview, schedule, send, and follow their delivery.

Staff only (anyone else gets 404); the writes need a role that may write tickets
(403 otherwise). Announcements are loaded through comms.access and every change goes
through comms.services.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.comms import forms, services
from atalaya.comms.access import get_announcement_or_404
from atalaya.comms.models import Announcement, AnnouncementClient, AnnouncementStatus
from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User
from atalaya.mail.models import Delivery, OutboundMessage
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
RECIPIENTS_PER_PAGE = 100


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _delivery_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """Mails per status of each announcement, in one grouped query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        OutboundMessage.objects.filter(announcement_id__in=ids)
        .values_list("announcement_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for announcement_id, status, n in rows:
        counts[announcement_id][status] = n
    return counts


@staff_view("GET", "HEAD")
def announcement_list(request: HttpRequest) -> HttpResponse:
    """Every announcement, newest first: status, audience, reach and delivery counts.

    Three queries whatever the page holds: the page, its reach and its delivery counts.
    """
    page = Paginator(
        Announcement.objects.visible_to(_user(request)).order_by("-created_at", "-id"), PER_PAGE
    ).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    ids = [a.pk for a in rows]
    reach = {
        row["announcement_id"]: row
        for row in AnnouncementClient.objects.filter(announcement_id__in=ids)
        .values("announcement_id")
        .annotate(clients=Count("id"), contacts=Sum("recipients"))
        .order_by()
    }
    counts = _delivery_counts(ids)
    for a in rows:
        a.reach = reach.get(a.pk, {"clients": 0, "contacts": 0})  # type: ignore[attr-defined]
        a.delivery = counts.get(a.pk, {})  # type: ignore[attr-defined]
    return render(request, "comms/list.html", {"page": page, "announcements": rows})


def _service_fields(form: forms.AnnouncementForm) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    data["clients"] = list(data.get("clients") or [])
    return data


@staff_view("GET", "HEAD", "POST", write=True)
def announcement_new(request: HttpRequest) -> HttpResponse:
    """Write a draft announcement."""
    user = _user(request)
    form = forms.AnnouncementForm(request.POST or None, clients=Client.objects.visible_to(user))
    if request.method == "POST" and form.is_valid():
        try:
            announcement = services.create_announcement(actor=user, **_service_fields(form))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Draft saved. Check the preview before sending."))
            return redirect("comms:detail", announcement_id=announcement.public_id)
    return render(
        request,
        "comms/form.html",
        {"form": form, "title": _("New announcement")},
        status=400 if form.errors else 200,
    )


@staff_view("GET", "HEAD", "POST", write=True)
def announcement_edit(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """Change a draft or scheduled announcement."""
    user = _user(request)
    announcement = get_announcement_or_404(user, announcement_id)
    form = forms.AnnouncementForm(
        request.POST or None,
        initial=forms.AnnouncementForm.initial_for(announcement),
        clients=Client.objects.visible_to(user),
    )
    if announcement.status not in services.EDITABLE_STATUSES:
        locked = _("Only a draft or scheduled announcement can be changed.")
        # An unbound form has no cleaned data to add an error to: say it as a message.
        if form.is_bound:
            form.add_error(None, locked)
        else:
            messages.error(request, locked)
    elif request.method == "POST" and form.is_valid():
        try:
            services.update_announcement(
                actor=user, announcement=announcement, **_service_fields(form)
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Announcement saved."))
            return redirect("comms:detail", announcement_id=announcement.public_id)
    return render(
        request,
        "comms/form.html",
        {"form": form, "title": _("Edit announcement"), "announcement": announcement},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@staff_view("GET", "HEAD")
def announcement_detail(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """One announcement: its texts, the preview (before it goes out), and its delivery:
    counts by status and each recipient's mail, page by page."""
    announcement = get_announcement_or_404(_user(request), announcement_id)
    preview = None
    if announcement.status in services.EDITABLE_STATUSES:
        preview = services.preview_announcement(announcement)
    counts = _delivery_counts([announcement.pk]).get(announcement.pk, {})
    recipients = Paginator(
        OutboundMessage.objects.filter(announcement=announcement)
        .select_related("contact", "client")
        .only(
            "to_address",
            "language",
            "status",
            "last_error",
            "sent_at",
            "contact__name",
            "client__name",
            "client__public_id",
        )
        .order_by("client__name", "to_address"),
        RECIPIENTS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "comms/detail.html",
        {
            "announcement": announcement,
            "clients": list(announcement.clients.order_by("name")),
            "preview": preview,
            "counts": [(label, counts.get(value, 0)) for value, label in Delivery.choices],
            "total": sum(counts.values()),
            "recipients": recipients,
            "schedule_form": forms.ScheduleForm(initial={"scheduled_for": None}),
            "editable": announcement.status in services.EDITABLE_STATUSES,
            "public_url": _public_url(request, announcement),
            "cancellable": announcement.status
            in (*services.EDITABLE_STATUSES, AnnouncementStatus.SENDING)
            or (announcement.status == AnnouncementStatus.SENT and counts.get(Delivery.QUEUED)),
        },
    )


def _public_url(request: HttpRequest, announcement: Announcement) -> str:
    """The announcement's address on the public news page, once it shows there."""
    if not announcement.is_public:
        return ""
    if not Announcement.objects.public(timezone.now()).filter(pk=announcement.pk).exists():
        return ""
    return request.build_absolute_uri(reverse("public:detail", args=[announcement.public_id]))


def _back(request: HttpRequest, announcement: Announcement) -> HttpResponse:
    return redirect("comms:detail", announcement_id=announcement.public_id)


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@staff_view("POST", write=True)
def announcement_send(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """Send now: the mails are queued at once and delivered by the worker at its rate."""
    announcement = get_announcement_or_404(_user(request), announcement_id)
    result = services.send_announcement(actor=_user(request), announcement=announcement)
    if result is None:
        messages.error(request, _("This announcement is already being sent, sent or cancelled."))
    else:
        messages.success(
            request,
            _("%(contacts)d mails queued to %(clients)d clients.")
            % {"contacts": result.recipients, "clients": result.clients},
        )
    return _back(request, announcement)


@staff_view("POST", write=True)
def announcement_schedule(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """Have the periodic job send the announcement at a given time."""
    announcement = get_announcement_or_404(_user(request), announcement_id)
    form = forms.ScheduleForm(request.POST)
    if not form.is_valid():
        errors = " ".join(str(e) for e in form.errors.get("scheduled_for", []))
        messages.error(request, _("Send at: %(error)s") % {"error": errors})
        return _back(request, announcement)
    try:
        services.schedule_announcement(
            actor=_user(request),
            announcement=announcement,
            when=form.cleaned_data["scheduled_for"],
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("Announcement scheduled."))
    return _back(request, announcement)


@staff_view("POST", write=True)
def announcement_cancel(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """Cancel before it goes out; the mails still queued are cancelled too."""
    announcement = get_announcement_or_404(_user(request), announcement_id)
    try:
        cancelled = services.cancel_announcement(actor=_user(request), announcement=announcement)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(
            request,
            _("Announcement cancelled; %(n)d queued mails will not be sent.") % {"n": cancelled},
        )
    return _back(request, announcement)

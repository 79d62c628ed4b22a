"""Alert pages: the list (by client, severity, open, resolved or all), one alert with its
history and ticket, snooze and unsnooze.

MSP staff only (anyone else 404); snoozing needs a role that may write tickets (403).
Alerts are loaded by ``get_alert_or_404`` and changed only through monitoring.alerts.
The history is the alert's audit trail, each event told as a sentence in the viewer's
language and time zone (``describe_event``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from atalaya.core.models import AuditEvent, Client, User
from atalaya.monitoring import alerts as alert_services
from atalaya.monitoring.display import human_number
from atalaya.monitoring.models import Alert, Severity
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
MAX_PAGE = 200
SNOOZE_CHOICES = [
    ("1", gettext_lazy("1 hour")),
    ("4", gettext_lazy("4 hours")),
    ("24", gettext_lazy("1 day")),
    ("72", gettext_lazy("3 days")),
    ("168", gettext_lazy("1 week")),
]
# Spanish agrees with "alertas" in the filter (Abiertas, Todas): a context of their own,
# apart from the shared "Open"/"All" and from one alert's state ("Abierta").
STATE_CHOICES = [
    ("open", pgettext_lazy("alerts filter", "Open")),
    ("resolved", pgettext_lazy("alerts filter", "Resolved")),
    ("all", pgettext_lazy("alerts filter", "All")),
]
SUPPRESSION_LABELS = {
    alert_services.Suppression.MAINTENANCE: gettext_lazy("in a maintenance window"),
    alert_services.Suppression.PARENT_OFFLINE: gettext_lazy(
        "the device it is reached through is offline"
    ),
    alert_services.Suppression.SITE_OFFLINE: gettext_lazy("the whole site is offline"),
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def visible_alerts(user: Any) -> QuerySet[Alert]:
    """Alerts the user may see: every one for active staff, none for anyone else."""
    return Alert.objects.visible_to(user)


def get_alert_or_404(user: Any, public_id: object) -> Alert:
    """One alert by its public id, or 404 (also for whoever may not see alerts)."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    alert = (
        visible_alerts(user)
        .select_related("client", "site", "device", "ticket", "snoozed_by")
        .filter(public_id=key)
        .first()
    )
    if alert is None:
        raise Http404("No such alert")
    return alert


class AlertFilterForm(forms.Form):
    client = forms.ModelChoiceField(
        label=gettext_lazy("Client"),
        queryset=Client.objects.none(),
        required=False,
        to_field_name="public_id",
    )
    severity = forms.ChoiceField(
        label=gettext_lazy("Severity"),
        choices=[("", gettext_lazy("Any"))] + list(Severity.choices),
        required=False,
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        choices=STATE_CHOICES,
        required=False,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.visible_to(user).order_by("name")  # type: ignore[attr-defined]


class SnoozeForm(forms.Form):
    hours = forms.TypedChoiceField(
        label=gettext_lazy("Snooze for"), choices=SNOOZE_CHOICES, coerce=int, initial="4"
    )


def filtered_alerts(user: User, data: Any) -> tuple[AlertFilterForm, QuerySet[Alert]]:
    """The filter form and the alerts it selects (open ones by default), newest first."""
    form = AlertFilterForm(data or None, user=user)
    rows = visible_alerts(user)
    state = "open"
    if form.is_valid():
        if form.cleaned_data["client"] is not None:
            rows = rows.filter(client=form.cleaned_data["client"])
        if form.cleaned_data["severity"]:
            rows = rows.filter(severity=form.cleaned_data["severity"])
        state = form.cleaned_data["state"] or "open"
    if state == "open":
        rows = rows.filter(resolved_at__isnull=True)
    elif state == "resolved":
        rows = rows.filter(resolved_at__isnull=False)
    return form, rows.order_by("-opened_at", "-id")


# --- how the history reads -------------------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    """One audit event of an alert as the page shows it: when, the sentence, who."""

    at: datetime
    text: str
    who: str


def humanise_action(action: str) -> str:
    """ "alert.ticket_reopened" → "Ticket reopened": the fallback for an action no one mapped."""
    text = str(action or "").removeprefix("alert.").replace(".", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "—"


def suppression_label(reason: str) -> str:
    """Why an alert is held back, in words ("" for an alert that is not)."""
    if not reason:
        return ""
    label = SUPPRESSION_LABELS.get(reason)
    return str(label) if label is not None else humanise_action(reason)


def _severity(value: Any) -> str:
    try:
        return str(Severity(value).label)
    except ValueError:
        return str(value or "—")


def _moment(value: Any, now: datetime) -> str | None:
    """An ISO time from an audit snapshot as "3 Dec 14:00" in the viewer's zone (year if
    not this year); None for what is not a time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    local = timezone.localtime(moment)
    pattern = "j M H:i" if local.year == timezone.localtime(now).year else "j M Y H:i"
    return formats.date_format(local, pattern)


def _held_back(old: Any, new: Any) -> str:
    if new:
        return _("Held back: %(why)s") % {"why": suppression_label(str(new))}
    if old:
        return _("No longer held back (was: %(why)s)") % {"why": suppression_label(str(old))}
    return _("No longer held back")


def _changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    if after.get("severity") and before.get("severity") != after.get("severity"):
        parts.append(
            _("Severity changed from %(old)s to %(new)s")
            % {"old": _severity(before.get("severity")), "new": _severity(after.get("severity"))}
        )
    if (before.get("suppressed_reason") or "") != (after.get("suppressed_reason") or ""):
        parts.append(_held_back(before.get("suppressed_reason"), after.get("suppressed_reason")))
    if not parts and before.get("value") != after.get("value") and after.get("value") is not None:
        parts.append(
            _("Value changed from %(old)s to %(new)s")
            % {
                "old": human_number(before.get("value")),
                "new": human_number(after.get("value")),
            }
        )
    if not parts and after.get("message") and before.get("message") != after.get("message"):
        parts.append(_("Now: %(message)s") % {"message": after["message"]})
    return ". ".join(parts) if parts else _("Details changed")


def _event_text(
    action: str, before: dict[str, Any], after: dict[str, Any], who: str, now: datetime
) -> str:
    if action == "alert.opened":
        text = _("Opened as %(severity)s") % {"severity": _severity(after.get("severity"))}
        if after.get("suppressed_reason"):
            text = f"{text}. {_held_back(None, after['suppressed_reason'])}"
        return text
    if action == "alert.changed":
        return _changed(before, after)
    if action == "alert.suppression_changed":
        return _held_back(before.get("suppressed_reason"), after.get("suppressed_reason"))
    if action == "alert.resolved":
        reason = after.get("reason")
        if reason and isinstance(reason, str):
            # Reasons are written in the worker's language (English unless configured
            # otherwise): looked up again so the viewer reads them in theirs.
            return _("Resolved: %(why)s") % {"why": _(reason)}
        return pgettext("alert state", "Resolved")
    if action == "alert.snoozed":
        until = _moment(after.get("snoozed_until"), now)
        if until:
            return _("Snoozed until %(until)s by %(who)s") % {"until": until, "who": who}
        return _("Snoozed by %(who)s") % {"who": who}
    if action == "alert.unsnoozed":
        return _("Snooze ended by %(who)s") % {"who": who}
    if action == "alert.ticket_opened":
        number = after.get("ticket")
        if number is not None:
            return _("Ticket #%(number)s opened") % {"number": number}
        return _("Ticket opened")
    return humanise_action(action)


def describe_event(event: AuditEvent, now: datetime) -> HistoryLine:
    """One audit event of an alert as a sentence: "Opened as Warning", "Severity changed
    from Warning to Critical", "Snoozed until 3 Dec 14:00 by Ana", "Resolved: checked in
    again", "Ticket #123 opened"; an action nobody mapped reads as its humanised name.

    Snapshots are read defensively (an old or odd event never breaks the page): the
    actor must already be loaded (``select_related``) so a long history costs no query.
    """
    who = event.actor.display_name() if event.actor is not None else "Atalaya"
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    try:
        text = _event_text(event.action, before, after, who, now)
    except (KeyError, TypeError, ValueError):
        text = humanise_action(event.action)
    return HistoryLine(at=event.at, text=text, who=who)


@staff_view("GET", "HEAD")
def alert_list(request: HttpRequest) -> HttpResponse:
    """Alerts, open ones by default, filterable by client, severity and state.

    Two queries whatever the page holds: the clients for the filter and the page.
    """
    user = _user(request)
    form, rows = filtered_alerts(user, request.GET)
    try:
        page = max(1, min(MAX_PAGE, int(request.GET.get("page", "1"))))
    except ValueError:
        page = 1
    found = list(
        rows.select_related("client", "site", "device", "ticket")[
            (page - 1) * PER_PAGE : page * PER_PAGE + 1
        ]
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "form": form,
            "alerts": [(a, suppression_label(a.suppressed_reason)) for a in found[:PER_PAGE]],
            "page": page,
            "has_next": len(found) > PER_PAGE,
            "query": query.urlencode(),
            "now": timezone.now(),
        },
    )


@staff_view("GET", "HEAD")
def alert_detail(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """One alert: what, where, since when, its ticket, and its history (the audit trail)."""
    alert = get_alert_or_404(_user(request), alert_id)
    now = timezone.now()
    events = AuditEvent.objects.filter(object_type="alert", object_id=str(alert.public_id))
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            "alert": alert,
            "suppressed": suppression_label(alert.suppressed_reason),
            "history": [
                describe_event(event, now)
                for event in events.select_related("actor").order_by("at", "id")[:200]
            ],
            "snooze_form": SnoozeForm(),
            "now": now,
        },
    )


@staff_view("POST", write=True)
def alert_snooze(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """Snooze: no ticket and no notes until the time chosen."""
    user = _user(request)
    alert = get_alert_or_404(user, alert_id)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how long to snooze the alert."))
        return redirect("monitoring:alert_detail", alert_id=alert.public_id)
    until = timezone.now() + timedelta(hours=form.cleaned_data["hours"])
    try:
        alert_services.snooze(alert, actor=user, until=until)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Alert snoozed."))
    return redirect("monitoring:alert_detail", alert_id=alert.public_id)


@staff_view("POST", write=True)
def alert_unsnooze(request: HttpRequest, alert_id: Any) -> HttpResponse:
    """End the snooze now."""
    user = _user(request)
    alert = get_alert_or_404(user, alert_id)
    alert_services.unsnooze(alert, actor=user)
    messages.success(request, _("Snooze ended."))
    return redirect("monitoring:alert_detail", alert_id=alert.public_id)

"""Check pages: a client's checks (built-in defaults, its own defaults, device overrides),
saving one and removing one.

MSP staff only (anyone else 404); changes need a role that may write tickets (403) and
go through monitoring.checks (which bumps the agents' configuration for service and
process checks). Severities show their labels and thresholds read as text per kind
(``describe_params``), in the viewer's language.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User
from atalaya.monitoring import checks
from atalaya.monitoring.display import human_number
from atalaya.monitoring.models import Check, CheckKind, Device, Severity
from atalaya.tickets.views.tickets import staff_view


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _client_or_404(user: User, client_id: Any) -> Client:
    client = Client.objects.visible_to(user).filter(public_id=client_id).first()
    if client is None:
        raise Http404("No such client")
    return client


class CheckForm(forms.Form):
    """One check row: the kind, what it watches, severity, hysteresis and thresholds."""

    kind = forms.ChoiceField(
        label=gettext_lazy("Check"),
        choices=[(k, v) for k, v in CheckKind.choices if k in checks.DEFAULTS],
    )
    target = forms.CharField(
        label=gettext_lazy("Watches (mountpoint, service, process or job)"),
        max_length=255,
        required=False,
    )
    device = forms.ModelChoiceField(
        label=gettext_lazy("Device (empty: the client's default)"),
        queryset=Device.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=Severity.choices)
    fail_after = forms.IntegerField(
        label=gettext_lazy("Alert after N failures"), min_value=1, max_value=100, initial=1
    )
    clear_after = forms.IntegerField(
        label=gettext_lazy("Clear after N passes"), min_value=1, max_value=100, initial=1
    )
    params = forms.CharField(
        label=gettext_lazy("Thresholds (JSON; empty: the defaults)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    is_enabled = forms.BooleanField(label=gettext_lazy("On"), required=False, initial=True)

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = Device.objects.filter(client=client).active()  # type: ignore[attr-defined]

    def clean_params(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("params") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValidationError(_('Write the thresholds as JSON, e.g. {"pct": 90}.')) from None
        if not isinstance(value, dict):
            raise ValidationError(_('Write the thresholds as JSON, e.g. {"pct": 90}.'))
        return value


# --- how thresholds read ---------------------------------------------------------------


def _count(value: float) -> int:
    # ngettext wants a whole number: 1.5 hours are plural.
    return int(value) if float(value).is_integer() else 2


def _graded(low: str, high: str) -> str:
    return _("%(warning)s: %(low)s; %(critical)s: %(high)s") % {
        "warning": Severity.WARNING.label,
        "low": low,
        "critical": Severity.CRITICAL.label,
        "high": high,
    }


def _disk(p: dict[str, float]) -> str:
    def level(used: float, free: float) -> str:
        return _("≥ %(pct)s %% used or < %(gb)s GB free") % {
            "pct": human_number(used),
            "gb": human_number(free),
        }

    text = _graded(
        level(p["warning_used_pct"], p["warning_free_gb"]),
        level(p["critical_used_pct"], p["critical_free_gb"]),
    )
    return _("%(limits)s (GB limits on volumes of %(gb)s GB or more)") % {
        "limits": text,
        "gb": human_number(p["min_total_gb_for_free"]),
    }


def _forecast(p: dict[str, float]) -> str:
    def level(hours: float, free: float) -> str:
        return ngettext(
            "full within %(h)s hour and < %(pct)s %% free",
            "full within %(h)s hours and < %(pct)s %% free",
            _count(hours),
        ) % {"h": human_number(hours), "pct": human_number(free)}

    return _graded(
        level(p["warning_hours"], p["warning_free_pct"]),
        level(p["critical_hours"], p["critical_free_pct"]),
    )


def _sustained(p: dict[str, float]) -> str:
    return ngettext(
        "above %(pct)s %% for %(n)s minute",
        "above %(pct)s %% for %(n)s minutes",
        _count(p["window_min"]),
    ) % {"pct": human_number(p["pct"]), "n": human_number(p["window_min"])}


def _offline(p: dict[str, float]) -> str:
    n = p["missed_intervals"]
    return ngettext("after %(n)s missed check-in", "after %(n)s missed check-ins", _count(n)) % {
        "n": human_number(n)
    }


def _process(p: dict[str, float]) -> str:
    return _("fewer than %(n)s running") % {"n": human_number(p["min_count"])}


def _backup(p: dict[str, float]) -> str:
    n = p["max_age_hours"]
    return ngettext(
        "last run failed or no heartbeat for %(n)s hour",
        "last run failed or no heartbeat for %(n)s hours",
        _count(n),
    ) % {"n": human_number(n)}


def _reboot(p: dict[str, float]) -> str:
    n = p["days"]
    return ngettext("pending for %(n)s day", "pending for %(n)s days", _count(n)) % {
        "n": human_number(n)
    }


PARAM_TEXT: dict[str, Any] = {
    CheckKind.OFFLINE: _offline,
    CheckKind.DISK: _disk,
    CheckKind.DISK_FORECAST: _forecast,
    CheckKind.CPU: _sustained,
    CheckKind.MEMORY: _sustained,
    CheckKind.PROCESS: _process,
    CheckKind.BACKUP: _backup,
    CheckKind.REBOOT_PENDING: _reboot,
}


def describe_params(kind: str, params: Any) -> str:
    """A check's thresholds as a person reads them, e.g. "above 95 % for 15 minutes".

    A row names only what it changes, so the kind's built-in values fill in the rest.
    Parameters the kind does not know (an old row, a kind since changed) are shown as
    "name: value" pairs; "" when the kind has no thresholds at all (service, SMART).
    """
    own = params if isinstance(params, dict) else {}
    spec = checks.DEFAULTS.get(kind)
    known = dict(spec.params) if spec is not None else {}
    merged: dict[str, Any] = {**known}
    extra: dict[str, Any] = {}
    for name, value in own.items():
        if name not in known:
            extra[name] = value
            continue
        try:
            merged[name] = float(value)
        except (TypeError, ValueError):
            extra[name] = value
    parts = []
    describe = PARAM_TEXT.get(kind)
    if describe is not None and known:
        try:
            parts.append(describe(merged))
        except (KeyError, TypeError, ValueError):
            extra = {**merged, **extra}
    elif known:
        extra = {**merged, **extra}
    parts.extend(f"{name}: {human_number(value)}" for name, value in extra.items())
    return "; ".join(parts)


@staff_view("GET", "HEAD", "POST", write=True)
def check_list(request: HttpRequest, client_id: Any) -> HttpResponse:
    """The client's checks: what is built in, the client's defaults and per-device overrides.

    Two queries: the client and its rows (with their devices).
    """
    user = _user(request)
    client = _client_or_404(user, client_id)
    form = CheckForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            checks.save_check(
                actor=user,
                client=client,
                device=data["device"],
                kind=data["kind"],
                target=data["target"],
                severity=data["severity"],
                params=data["params"],
                fail_after=data["fail_after"],
                clear_after=data["clear_after"],
                is_enabled=data["is_enabled"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Check saved."))
            return redirect("monitoring:check_list", client_id=client.public_id)
    rows = list(
        Check.objects.filter(client=client)
        .select_related("device")
        .order_by("device_id", "kind", "target")
    )
    return render(
        request,
        "monitoring/check_list.html",
        {
            "client": client,
            "defaults": [
                (r, describe_params(r.kind, r.params)) for r in rows if r.device_id is None
            ],
            "overrides": [
                (r, describe_params(r.kind, r.params)) for r in rows if r.device_id is not None
            ],
            "built_in": [
                (
                    CheckKind(kind).label,
                    Severity(spec.severity).label,
                    spec,
                    describe_params(kind, spec.params),
                )
                for kind, spec in checks.DEFAULTS.items()
                if spec.built_in
            ],
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@staff_view("POST", write=True)
def check_delete(request: HttpRequest, client_id: Any, check_id: int) -> HttpResponse:
    """Remove a default or an override: what is above it applies again."""
    user = _user(request)
    client = _client_or_404(user, client_id)
    check = Check.objects.visible_to(user).filter(client=client, pk=check_id).first()
    if check is None:
        raise Http404("No such check")
    checks.delete_check(actor=user, check=check)
    messages.success(request, _("Check removed."))
    return redirect("monitoring:check_list", client_id=client.public_id)

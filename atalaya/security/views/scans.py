"""Security pages: findings across clients (filters), a finding (accept, mark as known
device), a site's scans, a scan's hosts and ports, the site's schedule and "scan now".

MSP staff only (anyone else 404); changes need an administrator or technician (403).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, Site, User
from atalaya.security.access import public_id_or_404
from atalaya.security.models import (
    Finding,
    FindingKind,
    FindingSeverity,
    FindingStatus,
    ScanRun,
    ScanSchedule,
    can_write_security,
)
from atalaya.security.scans import findings as services
from atalaya.security.scans import schedule as scheduling
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 200


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def visible_findings(user: Any) -> QuerySet[Finding]:
    return Finding.objects.visible_to(user).select_related("client", "site", "ticket")


def get_finding_or_404(user: Any, public_id: object) -> Finding:
    """A finding by public id, or 404 (also for whoever may not see security)."""
    finding = visible_findings(user).filter(public_id=public_id_or_404(public_id)).first()
    if finding is None:
        raise Http404("No such finding")
    return finding


def get_scan_or_404(user: Any, public_id: object) -> ScanRun:
    scan = (
        ScanRun.objects.visible_to(user)
        .select_related("client", "site", "device")
        .filter(public_id=public_id_or_404(public_id))
        .first()
    )
    if scan is None:
        raise Http404("No such scan")
    return scan


def get_site_or_404(user: Any, public_id: object) -> Site:
    if not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")
    site = (
        Site.objects.filter(
            client__in=Client.objects.visible_to(user), public_id=public_id_or_404(public_id)
        )
        .select_related("client")
        .first()
    )
    if site is None:
        raise Http404("No such site")
    return site


class AcceptForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)
    until = forms.DateField(
        label=gettext_lazy("Accepted until"), widget=forms.DateInput(attrs={"type": "date"})
    )


class KnownForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the device"), max_length=200)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea)


class ScheduleForm(forms.Form):
    device = forms.ChoiceField(label=gettext_lazy("Agent that scans"))
    every_hours = forms.IntegerField(label=gettext_lazy("Every (hours)"), min_value=1, initial=24)
    targets = forms.CharField(
        label=gettext_lazy("Targets (empty: the agent's networks)"), required=False
    )
    ports = forms.CharField(label=gettext_lazy("Ports (empty: default list)"), required=False)
    ticket_min_severity = forms.ChoiceField(
        label=gettext_lazy("Open tickets from severity"),
        choices=[("", gettext_lazy("Never"))] + list(FindingSeverity.choices),
        required=False,
    )
    is_enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)

    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.devices = {str(d.public_id): d for d in site.devices.filter(retired_at__isnull=True)}
        cast(forms.ChoiceField, self.fields["device"]).choices = [
            (k, d.display_name or d.hostname) for k, d in self.devices.items()
        ]


@staff_view("GET", "HEAD")
def finding_list(request: HttpRequest) -> HttpResponse:
    """Findings of every client, open ones first; filters by client, status, kind, severity."""
    user = _user(request)
    qs = visible_findings(user)
    status = request.GET.get("status", "open")
    if status in FindingStatus.values:
        qs = qs.filter(status=status)
    kind = request.GET.get("kind", "")
    if kind in FindingKind.values:
        qs = qs.filter(kind=kind)
    severity = request.GET.get("severity", "")
    if severity in FindingSeverity.values:
        qs = qs.filter(severity=severity)
    client = request.GET.get("client", "")
    if client:
        try:
            qs = qs.filter(client__public_id=uuid.UUID(client))
        except ValueError:
            qs = qs.none()
    return render(
        request,
        "security/scans/finding_list.html",
        {
            "findings": list(qs.order_by("-last_seen_at", "pk")[:PER_PAGE]),
            "clients": list(Client.objects.visible_to(user).order_by("name")),
            "status": status,
            "kind": kind,
            "severity": severity,
            "client": client,
            "statuses": FindingStatus.choices,
            "kinds": FindingKind.choices,
            "severities": FindingSeverity.choices,
        },
    )


def _finding_page(
    request: HttpRequest, finding: Finding, status: int = 200, **forms_: Any
) -> HttpResponse:
    return render(
        request,
        "security/scans/finding_detail.html",
        {
            "finding": finding,
            "accept_form": forms_.get("accept_form") or AcceptForm(),
            "known_form": forms_.get("known_form") or KnownForm(initial={"name": finding.hostname}),
            "can_write": can_write_security(_user(request)),
        },
        status=status,
    )


@staff_view("GET", "HEAD")
def finding_detail(request: HttpRequest, finding_id: Any) -> HttpResponse:
    return _finding_page(request, get_finding_or_404(_user(request), finding_id))


@staff_view("POST", write=True)
def finding_accept(request: HttpRequest, finding_id: Any) -> HttpResponse:
    """Accept a finding with a reason until a date (end of that day)."""
    user = _user(request)
    finding = get_finding_or_404(user, finding_id)
    form = AcceptForm(request.POST)
    if form.is_valid():
        until = timezone.make_aware(datetime.combine(form.cleaned_data["until"], time(23, 59)))
        try:
            services.accept_finding(
                finding, actor=user, reason=form.cleaned_data["reason"], until=until
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Finding accepted."))
            return redirect("security:finding_detail", finding.public_id)
    return _finding_page(request, finding, status=400, accept_form=form)


@staff_view("POST", write=True)
def finding_known(request: HttpRequest, finding_id: Any) -> HttpResponse:
    """Mark the unknown device of a finding as a known device of its site."""
    user = _user(request)
    finding = get_finding_or_404(user, finding_id)
    form = KnownForm(request.POST)
    if form.is_valid():
        try:
            services.mark_known_device(finding, actor=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Device marked as known."))
            return redirect("security:finding_detail", finding.public_id)
    return _finding_page(request, finding, status=400, known_form=form)


def _site_page(
    request: HttpRequest, site: Site, status: int = 200, form: Any = None
) -> HttpResponse:
    existing = ScanSchedule.objects.filter(site=site).select_related("device").first()
    initial: dict[str, Any] = {}
    if existing is not None:
        initial = {
            "device": str(existing.device.public_id),
            "every_hours": existing.every_hours,
            "targets": existing.targets,
            "ports": existing.ports,
            "ticket_min_severity": existing.ticket_min_severity,
            "is_enabled": existing.is_enabled,
        }
    return render(
        request,
        "security/scans/site_scans.html",
        {
            "site": site,
            "scans": list(site.scans.select_related("device").order_by("-created_at")[:100]),
            "schedule": existing,
            "form": form or ScheduleForm(site=site, initial=initial),
            "can_write": can_write_security(_user(request)),
        },
        status=status,
    )


@staff_view("GET", "HEAD")
def site_scans(request: HttpRequest, site_id: Any) -> HttpResponse:
    return _site_page(request, get_site_or_404(_user(request), site_id))


@staff_view("POST", write=True)
def site_schedule(request: HttpRequest, site_id: Any) -> HttpResponse:
    """Save the site's scan schedule and ticket policy."""
    user = _user(request)
    site = get_site_or_404(user, site_id)
    form = ScheduleForm(request.POST, site=site)
    if form.is_valid():
        data = form.cleaned_data
        try:
            scheduling.save_schedule(
                actor=user,
                site=site,
                device=form.devices[data["device"]],
                every_hours=data["every_hours"],
                targets=data["targets"],
                ports=data["ports"],
                ticket_min_severity=data["ticket_min_severity"],
                is_enabled=data["is_enabled"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Scan schedule saved."))
            return redirect("security:site_scans", site.public_id)
    return _site_page(request, site, status=400, form=form)


@staff_view("POST", write=True)
def site_scan_now(request: HttpRequest, site_id: Any) -> HttpResponse:
    """Queue a scan now on the schedule's agent (or the chosen one)."""
    user = _user(request)
    site = get_site_or_404(user, site_id)
    form = ScheduleForm(request.POST, site=site)
    form.is_valid()
    device = form.devices.get(request.POST.get("device", ""))
    if device is None:
        form.add_error("device", _("Choose an active device of this site."))
        return _site_page(request, site, status=400, form=form)
    try:
        scan = scheduling.queue_scan(
            actor=user,
            device=device,
            targets=request.POST.get("targets", ""),
            ports=request.POST.get("ports", ""),
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _site_page(request, site, status=400, form=form)
    messages.success(request, _("Scan queued; the agent runs it at its next check-in."))
    return redirect("security:scan_detail", scan.public_id)


@staff_view("GET", "HEAD")
def scan_detail(request: HttpRequest, scan_id: Any) -> HttpResponse:
    """A scan's hosts and their open ports, with what each matched in the inventory."""
    scan = get_scan_or_404(_user(request), scan_id)
    return render(
        request,
        "security/scans/scan_detail.html",
        {
            "scan": scan,
            "hosts": list(scan.hosts.select_related("device", "known_device")[:5000]),
            "findings": list(
                Finding.objects.filter(last_scan=scan).order_by("-severity", "fingerprint")[:500]
            ),
        },
    )


urlpatterns: list[URLPattern] = [
    path("findings/", finding_list, name="finding_list"),
    path("findings/<str:finding_id>/", finding_detail, name="finding_detail"),
    path("findings/<str:finding_id>/accept/", finding_accept, name="finding_accept"),
    path("findings/<str:finding_id>/known/", finding_known, name="finding_known"),
    path("sites/<str:site_id>/scans/", site_scans, name="site_scans"),
    path("sites/<str:site_id>/scans/schedule/", site_schedule, name="site_schedule"),
    path("sites/<str:site_id>/scans/now/", site_scan_now, name="site_scan_now"),
    path("scans/<str:scan_id>/", scan_detail, name="scan_detail"),
]

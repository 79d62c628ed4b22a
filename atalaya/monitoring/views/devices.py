"""Device pages: the fleet list (per client and site, filters, keyset pages) and a
device's page (inventory, volumes and forecasts, metric charts, alerts, actions).

MSP staff only (404 for anyone else, portal users included); changes need a role
that may write (403) and go through monitoring.actions. Devices are loaded through
monitoring.access. The list costs the same handful of queries at any depth of a
100,000-device fleet: ids of one keyset page, their rows, their open-alert counts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, Site, User
from atalaya.monitoring import actions, forms
from atalaya.monitoring.access import get_device_or_404, visible_actions, visible_devices
from atalaya.monitoring.charts import TimeSeries, time_chart
from atalaya.monitoring.display import human_bytes, volume_forecast
from atalaya.monitoring.models import (
    Alert,
    Device,
    MetricRollup,
    MetricSample,
    Script,
    Volume,
    VolumeRollup,
    VolumeSample,
)
from atalaya.monitoring.queries import device_page, encode_cursor, filter_devices, open_alert_counts
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 50
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# A forecast further out than this is drawn only up to it.
FORECAST_HORIZON = timedelta(days=60)
ACTIONS_ON_PAGE = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _is_fragment(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and htmx.target == target  # type: ignore[union-attr]


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@staff_view("GET", "HEAD")
def device_list(request: HttpRequest) -> HttpResponse:
    """Devices with their status, last check-in, OS and open alerts; filter and search."""
    user = _user(request)
    clients = list(
        Client.objects.visible_to(user).order_by("name").values_list("pk", "public_id", "name")
    )
    wanted_client = _uuid_or_none(request.GET.get("client"))
    client_pk = next((pk for pk, pid, _n in clients if pid == wanted_client), None)
    sites: list[tuple[int, uuid.UUID, str]] = []
    if client_pk is not None:
        sites = list(
            Site.objects.filter(client_id=client_pk)
            .order_by("name")
            .values_list("pk", "public_id", "name")
        )
    form = forms.DeviceFilterForm(
        request.GET,
        clients=[(str(pid), name) for _pk, pid, name in clients],
        sites=[(str(pid), name) for _pk, pid, name in sites],
    )
    rows: list[Device] = []
    more = False
    counts: dict[int, int] = {}
    status_counts: dict[str, int] = {}
    if form.is_valid():
        data = form.cleaned_data
        site_pk = next((pk for pk, pid, _n in sites if str(pid) == data["site"]), None)
        base = filter_devices(
            visible_devices(user),
            client=cast(Client, Client(pk=client_pk)) if client_pk else None,
            site=cast(Site, Site(pk=site_pk)) if site_pk else None,
            q=data["q"],
        )
        status_counts = dict(
            base.values_list("status").annotate(n=Count("id")).order_by().values_list("status", "n")
        )
        qs = base.filter(status=data["status"]) if data["status"] else base
        try:
            rows, more = device_page(qs, PER_PAGE, data["after"] or None)
        except ValidationError as exc:
            add_service_errors(form, ValidationError({"after": exc.message_dict["cursor"]}))
        counts = open_alert_counts([d.pk for d in rows])
    for device in rows:
        device.open_alerts = counts.get(device.pk, 0)  # type: ignore[attr-defined]
    next_query = ""
    if more and rows:
        query = request.GET.copy()
        query["after"] = encode_cursor(rows[-1])
        next_query = query.urlencode()
    first_query = ""
    if request.GET.get("after"):
        query = request.GET.copy()
        query.pop("after", None)
        first_query = query.urlencode() or "_=1"
    context = {
        "form": form,
        "devices": rows,
        "next_query": next_query,
        "first_query": first_query,
        "status_counts": [
            (value, label, status_counts.get(value, 0))
            for value, label in forms.DeviceStatus.choices
        ],
        "total": sum(status_counts.values()),
    }
    template = (
        "monitoring/_device_results.html"
        if _is_fragment(request, "device-results")
        else "monitoring/device_list.html"
    )
    return render(request, template, context)


# --- the device page ------------------------------------------------------------------------


def _metric_charts(device: Device, range_key: str, now_s: int, tz: Any) -> list[Any]:
    """CPU and memory (and load) over the range: raw samples for 24 h, rollups beyond."""
    span = int(RANGES[range_key].total_seconds())
    start = now_s - span
    gap = max(device.checkin_interval_s * 5, 600)
    if range_key == "24h":
        rows = list(
            MetricSample.objects.filter(device=device, t__gte=start)
            .order_by("t")
            .values_list("t", "cpu_pct", "mem_pct", "swap_pct", "load1")
        )
        cpu = [(t, c) for t, c, _m, _s, _l in rows]
        mem = [(t, m) for t, _c, m, _s, _l in rows]
        swap = [(t, s) for t, _c, _m, s, _l in rows]
        load = [(t, v) for t, _c, _m, _s, v in rows]
        peak = None
    else:
        gap = 3 * 900
        # Rollups: the bucket's number, percentages in hundredths (models.MetricRollup).
        buckets = (
            MetricRollup.objects.filter(device=device, bucket__gte=-(-start // 900))
            .order_by("bucket")
            .values_list(
                "bucket",
                "cpu_avg_x100",
                "cpu_max_x100",
                "mem_avg_x100",
                "swap_max_x100",
                "load1_avg",
            )
        )

        def pct(value: int | None) -> float | None:
            return None if value is None else value / 100

        cpu, mem, swap, load = [], [], [], []
        peak = []
        for b, c, x, m, s, v in buckets:
            t = b * 900 + 450
            cpu.append((t, pct(c)))
            peak.append((t, pct(x)))
            mem.append((t, pct(m)))
            swap.append((t, pct(s)))
            load.append((t, v))
    usage = [
        TimeSeries(_("CPU %") if peak is None else _("CPU % (average)"), cpu),
        TimeSeries(_("Memory %"), mem),
        TimeSeries(_("Swap %"), swap),
    ]
    if peak is not None:
        usage.insert(1, TimeSeries(_("CPU % (peak)"), peak, dashed=True))
    empty = _("No samples in this period")
    charts = [
        time_chart(
            usage,
            start=start,
            end=now_s,
            title=_("CPU and memory use"),
            tz=tz,
            y_max=100,
            gap_s=gap,
            empty_text=empty,
            chart_id=f"usage-{range_key}",
        )
    ]
    if any(v is not None for _t, v in load):
        charts.append(
            time_chart(
                [TimeSeries(_("Load (1 min)"), load)],
                start=start,
                end=now_s,
                title=_("System load"),
                tz=tz,
                gap_s=gap,
                empty_text=empty,
                height=180,
                chart_id=f"load-{range_key}",
            )
        )
    return charts


def _volume_chart(volume: Volume, range_key: str, now_s: int, tz: Any) -> Any:
    """Free space of one volume over the range, and the forecast line to the day it is full."""
    start = now_s - int(RANGES[range_key].total_seconds())
    if range_key == "24h":
        history: list[tuple[int, float | None]] = [
            (t, free / 2**30)
            for t, free in VolumeSample.objects.filter(volume=volume, t__gte=start)
            .order_by("t")
            .values_list("t", "free_bytes")
        ]
    else:
        history = [
            (b * 900 + 450, free / 2**10)
            for b, free in VolumeRollup.objects.filter(volume=volume, bucket__gte=-(-start // 900))
            .order_by("bucket")
            .values_list("bucket", "free_avg_mib")
        ]
    series = [TimeSeries(_("Free space (GiB)"), history)]
    end = now_s
    if volume.forecast_full_at is not None:
        full_s = int(volume.forecast_full_at.timestamp())
        horizon = now_s + int(FORECAST_HORIZON.total_seconds())
        end_s = min(full_s, horizon)
        free_now = volume.free_bytes / 2**30
        # The fitted line, from the free space now to zero at the forecast moment.
        at_end = free_now * (full_s - end_s) / max(full_s - now_s, 1)
        series.append(
            TimeSeries(
                _("Forecast"),
                [(now_s, free_now), (end_s, at_end)],
                colour="#b42318",
                dashed=True,
                is_projection=True,
            )
        )
        end = max(end_s, now_s + 3600)
    return time_chart(
        series,
        start=start,
        end=end,
        title=_("Free space on %(mount)s") % {"mount": volume.mountpoint},
        description=_("Free space in GiB; the dashed line is the disk-full forecast."),
        tz=tz,
        gap_s=3 * 900 if range_key != "24h" else 3600,
        now=now_s,
        empty_text=_("No samples in this period"),
        chart_id=f"volume-{range_key}",
    )


def _inventory(device: Device) -> dict[str, Any]:
    data = device.inventory if isinstance(device.inventory, dict) else {}
    software = data.get("software")
    network = data.get("network")
    return {
        "data": data,
        "memory": human_bytes(data["memory_total"])
        if isinstance(data.get("memory_total"), int)
        else "",
        "network": [n for n in network if isinstance(n, dict)] if isinstance(network, list) else [],
        "software": [s for s in software if isinstance(s, dict)]
        if isinstance(software, list)
        else None,
        "users": (device.latest or {}).get("users") or [],
    }


def device_context(request: HttpRequest, device: Device, **extra: Any) -> dict[str, Any]:
    """Everything the device page shows; a fixed number of queries whatever the device holds."""
    user = _user(request)
    now = timezone.now()
    now_s = int(now.timestamp())
    tz = timezone.get_current_timezone()
    range_key = request.GET.get("range", "24h")
    if range_key not in RANGES:
        range_key = "24h"
    volumes = list(device.volumes.order_by("mountpoint"))
    for item in volumes:
        item.forecast = volume_forecast(item, now)  # type: ignore[attr-defined]
    present = [v for v in volumes if v.is_present]
    chosen = request.GET.get("volume")
    volume: Volume | None = next((v for v in present if v.mountpoint == chosen), None)
    if volume is None and present:
        # The one that fills soonest, else the fullest.
        soon = [(v.forecast_full_at, v.pk, v) for v in present if v.forecast_full_at is not None]
        volume = min(soon)[2] if soon else max(present, key=lambda v: v.used_pct)
    can_act = user.can_run_remote_actions and device.retired_at is None
    context: dict[str, Any] = {
        "device": device,
        "now": now,
        "range": range_key,
        "ranges": [(key, key) for key in RANGES],
        "volumes": volumes,
        "volume": volume,
        "charts": _metric_charts(device, range_key, now_s, tz),
        "volume_chart": _volume_chart(volume, range_key, now_s, tz) if volume is not None else None,
        "alerts": list(
            Alert.objects.visible_to(user)
            .filter(device=device, resolved_at__isnull=True)
            .select_related("ticket")
            .order_by("-opened_at")[:50]
        ),
        "actions": list(
            visible_actions(user)
            .filter(device=device)
            .select_related("script", "created_by")
            .order_by("-created_at", "-id")[:ACTIONS_ON_PAGE]
        ),
        "inventory": _inventory(device),
        "can_act": can_act,
        "can_edit": user.can_write_tickets and device.retired_at is None,
    }
    if can_act and "action_form" not in extra:
        context["action_form"] = forms.ActionForm(scripts=_approved_scripts())
    context.update(extra)
    return context


def _approved_scripts() -> Any:
    return Script.objects.filter(approved_at__isnull=False, retired_at__isnull=True).order_by(
        "name"
    )


@staff_view("GET", "HEAD")
def device_detail(request: HttpRequest, device_id: Any) -> HttpResponse:
    """A device: inventory, volumes with forecasts, charts, open alerts, action history."""
    device = get_device_or_404(_user(request), device_id)
    context = device_context(request, device)
    if _is_fragment(request, "device-charts"):
        return render(request, "monitoring/_device_charts.html", context)
    return render(request, "monitoring/device_detail.html", context)


@staff_view("GET", "HEAD", "POST", write=True)
def device_edit(request: HttpRequest, device_id: Any) -> HttpResponse:
    """Change a device's display name, site, parent and check-in interval."""
    user = _user(request)
    device = get_device_or_404(user, device_id)
    initial = {
        "display_name": device.display_name,
        "site": device.site.public_id,
        "parent": device.parent.public_id if device.parent is not None else None,
        "checkin_interval_s": device.checkin_interval_s,
    }
    form = forms.DeviceForm(request.POST or None, device=device, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.update_device(
                actor=user,
                device=device,
                display_name=data["display_name"],
                site=data["site"],
                parent=data["parent"],
                checkin_interval_s=data["checkin_interval_s"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Device saved."))
            return redirect("monitoring:device_detail", device_id=device.public_id)
    return render(
        request,
        "monitoring/device_form.html",
        {"form": form, "device": device},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@staff_view("POST", write=True)
def device_retire(request: HttpRequest, device_id: Any) -> HttpResponse:
    """Stop monitoring a device; its agent's token stops working."""
    user = _user(request)
    device = get_device_or_404(user, device_id)
    try:
        actions.retire_device(actor=user, device=device)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Device retired; its agent can no longer check in."))
    return redirect("monitoring:device_detail", device_id=device.public_id)

"""Device queries shared by the pages and the API: filters, keyset pages, alert counts.

The device list may hold 100,000 rows: pages are walked by (hostname, id) keyset,
never by counting or by offset, and a page costs the same queries at any depth.
"""

from __future__ import annotations

import base64
import binascii
import json

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Site
from atalaya.monitoring.models import Alert, Device


def open_alert_counts(device_ids: list[int]) -> dict[int, int]:
    """Open alerts per device, one grouped query."""
    if not device_ids:
        return {}
    return dict(
        Alert.objects.filter(device_id__in=device_ids, resolved_at__isnull=True)
        .values_list("device_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("device_id", "n")
    )


def filter_devices(
    qs: QuerySet[Device],
    *,
    client: Client | None = None,
    site: Site | None = None,
    status: str | None = None,
    q: str = "",
    include_retired: bool = False,
) -> QuerySet[Device]:
    """The device list's filters, shared by the page and the API."""
    if not include_retired:
        qs = qs.filter(retired_at__isnull=True)
    if client is not None:
        qs = qs.filter(client=client)
    if site is not None:
        qs = qs.filter(site=site)
    if status:
        qs = qs.filter(status=status)
    if q.strip():
        qs = qs.filter(hostname__icontains=q.strip())
    return qs


def encode_cursor(device: Device) -> str:
    raw = json.dumps([device.hostname, device.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def after_cursor(qs: QuerySet[Device], cursor: str) -> QuerySet[Device]:
    """Devices after the cursor in (hostname, id) order: a keyset page at any depth."""
    bad = ValidationError(
        {"cursor": [_("This cursor is not valid for this list; start again without it.")]}
    )
    try:
        hostname, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not isinstance(hostname, str) or not isinstance(pk, int) or isinstance(pk, bool):
        raise bad
    if abs(pk) >= 2**63 or "\x00" in hostname:
        raise bad
    return qs.filter(hostname__gte=hostname).exclude(hostname=hostname, id__lte=pk)


def device_page(qs: QuerySet[Device], limit: int, cursor: str | None) -> tuple[list[Device], bool]:
    """One page of devices in (hostname, id) order, and whether another follows."""
    qs = qs.order_by("hostname", "id")
    if cursor:
        qs = after_cursor(qs, cursor)
    # Ids first (an index walk), then the page's rows with their joins.
    ids = list(qs.values_list("id", flat=True)[: limit + 1])
    found = Device.objects.select_related("client", "site", "parent").in_bulk(ids[:limit])
    return [found[pk] for pk in ids[:limit] if pk in found], len(ids) > limit

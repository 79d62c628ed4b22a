"""Template filters of the monitoring pages: status badges, sizes, durations."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from atalaya.monitoring.display import human_bytes, human_duration_ms
from atalaya.monitoring.models import ActionStatus, DeviceStatus

register = template.Library()


@register.filter
def device_status_badge(value: Any) -> SafeString:
    try:
        label = str(DeviceStatus(value).label)
    except ValueError:
        label = str(value)
    return format_html('<span class="badge device-{}">{}</span>', value, label)


@register.filter
def action_status_badge(value: Any) -> SafeString:
    try:
        label = str(ActionStatus(value).label)
    except ValueError:
        label = str(value)
    return format_html('<span class="badge action-{}">{}</span>', value, label)


@register.filter
def bytes_human(value: Any) -> str:
    return human_bytes(value)


@register.filter
def duration_ms(value: Any) -> str:
    return human_duration_ms(value)

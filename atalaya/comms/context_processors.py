"""The portal's announcement banner, on every page a client's user sees."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def portal_banners(request: HttpRequest) -> dict[str, Any]:
    return {}

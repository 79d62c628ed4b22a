"""/api/v1 routes of security: links."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["security"])

"""/api/v1 routes of security: awareness."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["security"])

"""/api/v1 routes of security: fixes."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["security"])

"""/api/v1 routes of security: scans."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["security"])

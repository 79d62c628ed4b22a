"""/api/v1 endpoints of the calls app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["calls"])

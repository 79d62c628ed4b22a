"""/api/v1/billing: each part of billing adds its endpoints to this router."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["billing"])

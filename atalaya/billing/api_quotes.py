"""/api/v1/billing/quotes: quotes for service packages."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["billing"])

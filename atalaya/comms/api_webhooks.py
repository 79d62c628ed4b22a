"""/api/v1/webhooks: outbound webhooks and their delivery log."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["webhooks"])

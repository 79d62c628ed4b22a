"""Security's /api/v1 router: each area's routes live in its own module, included here."""

from __future__ import annotations

from ninja import Router

from atalaya.security import api_awareness, api_coverage, api_fixes, api_links, api_scans

router = Router(tags=["security"])
for _area in (api_scans, api_links, api_coverage, api_awareness, api_fixes):
    router.add_router("/", _area.router)

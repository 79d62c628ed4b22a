"""Security's technician pages under /security/; each area lists its own patterns."""

from __future__ import annotations

from atalaya.security.views import awareness, coverage, fixes, links, overview, scans

app_name = "security"

urlpatterns = [
    *overview.urlpatterns,
    *scans.urlpatterns,
    *links.urlpatterns,
    *coverage.urlpatterns,
    *awareness.urlpatterns,
    *fixes.urlpatterns,
]

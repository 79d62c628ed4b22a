"""Monthly reports in the client portal (included under /portal/reports/, names portal:report_*)."""

from __future__ import annotations

urlpatterns: list = []

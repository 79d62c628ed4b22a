"""URL map: technician UI, client portal, the API; every route is walked by the isolation test."""

from __future__ import annotations

from django.urls import include, path

from atalaya.api import api
from atalaya.core.views import auth as core_auth

urlpatterns = [
    path("", core_auth.home, name="home"),
    path("", include("atalaya.core.urls")),
    path("tickets/", include("atalaya.tickets.urls")),
    path("mail/", include("atalaya.mail.urls")),
    path("announcements/", include("atalaya.comms.urls")),
    path("monitoring/", include("atalaya.monitoring.urls")),
    path("billing/", include("atalaya.billing.urls")),
    path("security/", include("atalaya.security.urls")),
    path("kb/", include("atalaya.kb.urls")),
    path("calls/", include("atalaya.calls.urls")),
    path("reports/", include("atalaya.reports.urls")),
    path("news/", include("atalaya.comms.public_urls")),
    path("hooks/calls/", include("atalaya.calls.hook_urls")),
    path("portal/", include("atalaya.portal.urls")),
    path("agent/v1/", include("atalaya.monitoring.agent_api.urls")),
    path("api/v1/", api.urls),
]

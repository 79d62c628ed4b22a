"""Monthly reports in the client portal (included under /portal/reports/, names portal:report_*)."""

from __future__ import annotations

from django.urls import path

from atalaya.reports import portal_views

urlpatterns = [
    path("", portal_views.report_list, name="report_list"),
    path("<uuid:report_id>/", portal_views.report_detail, name="report_detail"),
    path("<uuid:report_id>/pdf/", portal_views.report_pdf, name="report_pdf"),
]

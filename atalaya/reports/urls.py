"""Technician pages of the reports app (mounted at /reports/)."""

from __future__ import annotations

from django.urls import path

from atalaya.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("generate/", views.report_generate, name="generate"),
    path("approve-all/", views.report_approve_all, name="approve_all"),
    path("<uuid:report_id>/", views.report_detail, name="detail"),
    path("<uuid:report_id>/pdf/", views.report_pdf, name="pdf"),
    path("<uuid:report_id>/approve/", views.report_approve, name="approve"),
    path("<uuid:report_id>/skip/", views.report_skip, name="skip"),
    path("<uuid:report_id>/regenerate/", views.report_regenerate, name="regenerate"),
    path("clients/<uuid:client_id>/", views.client_settings, name="client_settings"),
]

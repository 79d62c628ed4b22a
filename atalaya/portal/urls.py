"""Portal routes; tickets are addressed by their public number, never a row id."""

from __future__ import annotations

from django.urls import include, path

from atalaya.billing.views import portal as billing_views
from atalaya.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.ticket_list, name="ticket_list"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/<int:number>/", views.ticket_detail, name="ticket_detail"),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
    path("announcements/", views.announcement_list, name="announcement_list"),
    path(
        "announcements/<uuid:announcement_id>/",
        views.announcement_detail,
        name="announcement_detail",
    ),
    path("invoices/", billing_views.invoice_list, name="invoice_list"),
    path("invoices/<uuid:invoice_id>/", billing_views.invoice_detail, name="invoice_detail"),
    path("invoices/<uuid:invoice_id>/pdf/", billing_views.invoice_pdf, name="invoice_pdf"),
    path("kb/", include("atalaya.kb.portal_urls")),
    path("quotes/", include("atalaya.billing.quotes_portal_urls")),
    path("reports/", include("atalaya.reports.portal_urls")),
]

"""The billing pages (MSP staff); each part of billing adds its routes from its views module."""

from __future__ import annotations

from django.urls import path

from atalaya.billing.views import invoices as invoice_views
from atalaya.billing.views import profile as profile_views
from atalaya.billing.views import settings as settings_views

app_name = "billing"
urlpatterns: list = [
    # Invoices (the billing area's front page is the invoice list).
    path("invoices/", invoice_views.invoice_list, name="invoice_list"),
    path("invoices/new/", invoice_views.invoice_new, name="invoice_new"),
    path("invoices/<uuid:invoice_id>/", invoice_views.invoice_detail, name="invoice_detail"),
    path("invoices/<uuid:invoice_id>/edit/", invoice_views.draft_edit, name="draft_edit"),
    path("invoices/<uuid:invoice_id>/lines/", invoice_views.line_add, name="line_add"),
    path(
        "invoices/<uuid:invoice_id>/lines/<int:line_id>/remove/",
        invoice_views.line_remove,
        name="line_remove",
    ),
    path("invoices/<uuid:invoice_id>/issue/", invoice_views.invoice_issue, name="invoice_issue"),
    path(
        "invoices/<uuid:invoice_id>/discard/", invoice_views.invoice_discard, name="invoice_discard"
    ),
    path(
        "invoices/<uuid:invoice_id>/credit-note/",
        invoice_views.credit_note_new,
        name="credit_note_new",
    ),
    path("invoices/<uuid:invoice_id>/pdf/", invoice_views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<uuid:invoice_id>/send/", invoice_views.invoice_send, name="invoice_send"),
    path("clients/<uuid:client_id>/profile/", profile_views.profile_edit, name="profile_edit"),
    path("settings/", settings_views.settings_edit, name="settings"),
    path("series/", settings_views.series_list, name="series_list"),
]

"""Quotes in the client portal (included under /portal/quotes/, names portal:quote_*)."""

from __future__ import annotations

from django.urls import path

from atalaya.billing.views import portal_quotes as views

urlpatterns: list = [
    path("", views.quote_list, name="quote_list"),
    path("<uuid:quote_id>/", views.quote_detail, name="quote_detail"),
    path("<uuid:quote_id>/pdf/", views.quote_pdf, name="quote_pdf"),
    path("<uuid:quote_id>/accept/", views.quote_accept, name="quote_accept"),
    path("<uuid:quote_id>/decline/", views.quote_decline, name="quote_decline"),
]

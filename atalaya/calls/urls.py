"""Technician pages of the calls app."""

from __future__ import annotations

from django.urls import path

from atalaya.calls import views

app_name = "calls"
urlpatterns = [
    path("", views.call_list, name="list"),
    path("new/", views.call_new, name="new"),
    path("lookup/", views.caller_lookup, name="lookup"),
    path("ringing/", views.ringing, name="ringing"),
    path("phone-systems/", views.phone_system_list, name="phone_system_list"),
    path("phone-systems/new/", views.phone_system_new, name="phone_system_new"),
    path(
        "phone-systems/<str:phone_system_id>/",
        views.phone_system_detail,
        name="phone_system_detail",
    ),
    path(
        "phone-systems/<str:phone_system_id>/rotate/",
        views.phone_system_rotate,
        name="phone_system_rotate",
    ),
    path(
        "phone-systems/<str:phone_system_id>/active/",
        views.phone_system_active,
        name="phone_system_active",
    ),
]

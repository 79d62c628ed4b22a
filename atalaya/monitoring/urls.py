"""The technicians' monitoring pages: devices, alerts, actions, scripts, enrollment."""

from __future__ import annotations

from django.urls import path  # noqa: F401

app_name = "monitoring"
urlpatterns: list = []

"""Technician pages of the reports app."""

from __future__ import annotations

app_name = "reports"
urlpatterns: list = []

"""Technician pages of the calls app."""

from __future__ import annotations

app_name = "calls"
urlpatterns: list = []

"""Technician pages of the kb app."""

from __future__ import annotations

app_name = "kb"
urlpatterns: list = []

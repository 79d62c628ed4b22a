"""The MSP's public pages, no login: announcements marked public and their Atom feed."""

from __future__ import annotations

app_name = "public"
urlpatterns: list = []

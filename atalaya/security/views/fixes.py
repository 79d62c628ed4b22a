"""Security pages: fixes (URL patterns at the end, included by security/urls.py)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

"""Quotes in the client portal (included under /portal/quotes/, names portal:quote_*)."""

from __future__ import annotations

urlpatterns: list = []

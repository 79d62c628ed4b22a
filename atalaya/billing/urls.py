"""The billing pages (MSP staff); each part of billing adds its routes from its views module."""

from __future__ import annotations

app_name = "billing"
urlpatterns: list = []

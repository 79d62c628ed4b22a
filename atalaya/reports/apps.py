from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "atalaya.reports"
    label = "reports"
    verbose_name = "Client reports"

from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "atalaya.monitoring"
    label = "monitoring"
    verbose_name = "Remote monitoring"

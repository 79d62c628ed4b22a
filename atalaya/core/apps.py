from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "atalaya.core"
    label = "core"
    verbose_name = "Atalaya core"

from __future__ import annotations

from django.apps import AppConfig


class KbConfig(AppConfig):
    name = "atalaya.kb"
    label = "kb"
    verbose_name = "Knowledge base"

from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "atalaya.portal"
    label = "portal"
    verbose_name = "Client portal"

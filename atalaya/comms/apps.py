from __future__ import annotations

from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "atalaya.comms"
    label = "comms"
    verbose_name = "Client communications"

from __future__ import annotations

from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "atalaya.mail"
    label = "mail"
    verbose_name = "Mail"

    def ready(self) -> None:
        # Notifications follow the ticket services' signals (mail/notify.py).
        from atalaya.mail import notify  # noqa: F401

from __future__ import annotations

from django.urls import path

from atalaya.mail.views import inbound

app_name = "mail"
urlpatterns = [
    # Received mail (views/inbound.py).
    path("", inbound.mail_log, name="log"),
    # Outgoing mail and templates (views/outbox.py).
    # Mailboxes (views/mailboxes.py).
]

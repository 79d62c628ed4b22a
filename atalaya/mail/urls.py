from __future__ import annotations

from django.urls import path

from atalaya.mail.views import inbound
from atalaya.mail.views import mailboxes as mailbox_views

app_name = "mail"
urlpatterns = [
    # Received mail (views/inbound.py).
    path("", inbound.mail_log, name="log"),
    # Outgoing mail and templates (views/outbox.py).
    # Mailboxes (views/mailboxes.py).
    path("mailboxes/", mailbox_views.mailbox_list, name="mailboxes"),
    path("mailboxes/new/", mailbox_views.mailbox_create, name="mailbox_create"),
    path("mailboxes/<int:mailbox_id>/", mailbox_views.mailbox_edit, name="mailbox_edit"),
    path("mailboxes/<int:mailbox_id>/fetch/", mailbox_views.mailbox_fetch, name="mailbox_fetch"),
]

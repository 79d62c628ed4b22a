from __future__ import annotations

from django.urls import path

from atalaya.mail.views import inbound
from atalaya.mail.views import mailboxes as mailbox_views
from atalaya.mail.views import outbox as outbox_views

app_name = "mail"
urlpatterns = [
    # Received mail (views/inbound.py).
    path("", inbound.mail_log, name="log"),
    path("dead-letters/", inbound.dead_letters, name="dead_letters"),
    path("triage/", inbound.triage_list, name="triage"),
    path("received/<int:inbound_id>/", inbound.message_detail, name="message"),
    path("received/<int:inbound_id>/raw/", inbound.message_raw, name="message_raw"),
    path(
        "received/<int:inbound_id>/reprocess/", inbound.message_reprocess, name="message_reprocess"
    ),
    path("received/<int:inbound_id>/triage/", inbound.triage_assign, name="triage_assign"),
    path("received/<int:inbound_id>/move/", inbound.message_move, name="message_move"),
    path("received/<int:inbound_id>/split/", inbound.message_split, name="message_split"),
    # Outgoing mail and templates (views/outbox.py).
    path("outbox/", outbox_views.outbox_list, name="outbox"),
    path("outbox/<int:outbound_id>/retry/", outbox_views.outbox_retry, name="outbox_retry"),
    path("outbox/<int:outbound_id>/cancel/", outbox_views.outbox_cancel, name="outbox_cancel"),
    path("templates/", outbox_views.template_list, name="templates"),
    path(
        "templates/<str:template_key>/<str:language>/",
        outbox_views.template_edit,
        name="template_edit",
    ),
    path(
        "templates/<str:template_key>/<str:language>/reset/",
        outbox_views.template_reset,
        name="template_reset",
    ),
    # Mailboxes (views/mailboxes.py).
    path("mailboxes/", mailbox_views.mailbox_list, name="mailboxes"),
    path("mailboxes/new/", mailbox_views.mailbox_create, name="mailbox_create"),
    path("mailboxes/<int:mailbox_id>/", mailbox_views.mailbox_edit, name="mailbox_edit"),
    path("mailboxes/<int:mailbox_id>/fetch/", mailbox_views.mailbox_fetch, name="mailbox_fetch"),
]

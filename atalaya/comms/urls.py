from __future__ import annotations

from django.urls import path

from atalaya.comms import views
from atalaya.comms.webhooks import views as webhook_views

app_name = "comms"
urlpatterns = [
    path("", views.announcement_list, name="list"),
    path("new/", views.announcement_new, name="new"),
    path("<uuid:announcement_id>/", views.announcement_detail, name="detail"),
    path("<uuid:announcement_id>/edit/", views.announcement_edit, name="edit"),
    path("<uuid:announcement_id>/send/", views.announcement_send, name="send"),
    path("<uuid:announcement_id>/schedule/", views.announcement_schedule, name="schedule"),
    path("<uuid:announcement_id>/cancel/", views.announcement_cancel, name="cancel"),
    path("webhooks/", webhook_views.webhook_list, name="webhook_list"),
    path("webhooks/new/", webhook_views.webhook_new, name="webhook_new"),
    path("webhooks/<uuid:webhook_id>/", webhook_views.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:webhook_id>/edit/", webhook_views.webhook_edit, name="webhook_edit"),
    path("webhooks/<uuid:webhook_id>/rotate/", webhook_views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<uuid:webhook_id>/test/", webhook_views.webhook_test, name="webhook_test"),
    path(
        "webhooks/deliveries/<uuid:delivery_id>/",
        webhook_views.delivery_detail,
        name="webhook_delivery",
    ),
    path(
        "webhooks/deliveries/<uuid:delivery_id>/retry/",
        webhook_views.delivery_retry,
        name="webhook_delivery_retry",
    ),
]

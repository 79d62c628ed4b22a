from __future__ import annotations

from django.urls import path

from atalaya.comms import views

app_name = "comms"
urlpatterns = [
    path("", views.announcement_list, name="list"),
    path("new/", views.announcement_new, name="new"),
    path("<uuid:announcement_id>/", views.announcement_detail, name="detail"),
    path("<uuid:announcement_id>/edit/", views.announcement_edit, name="edit"),
    path("<uuid:announcement_id>/send/", views.announcement_send, name="send"),
    path("<uuid:announcement_id>/schedule/", views.announcement_schedule, name="schedule"),
    path("<uuid:announcement_id>/cancel/", views.announcement_cancel, name="cancel"),
]

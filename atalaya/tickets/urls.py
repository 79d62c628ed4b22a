from __future__ import annotations

from django.urls import path

from atalaya.tickets.views import dashboards
from atalaya.tickets.views import tickets as views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("who/", dashboards.who_is_on_what, name="who"),
    path("flooded/", dashboards.flooded, name="flooded"),
    path("views/", views.saved_view_create, name="saved_view_create"),
    path("views/<int:view_id>/", views.saved_view_open, name="saved_view_open"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("new/", views.ticket_new, name="new"),
    path("new/client-options/", views.client_options, name="client_options"),
    path("<int:number>/", views.ticket_detail, name="detail"),
    path("<int:number>/reply/", views.ticket_reply, name="reply"),
    path("<int:number>/note/", views.ticket_note, name="note"),
    path("<int:number>/time/", views.ticket_time, name="time"),
    path("<int:number>/status/", views.ticket_status, name="status"),
    path("<int:number>/assignee/", views.ticket_assign, name="assign"),
    path("<int:number>/priority/", views.ticket_priority, name="priority"),
    path("<int:number>/classify/", views.ticket_classify, name="classify"),
    path("<int:number>/merge/", views.ticket_merge, name="merge"),
    path("<int:number>/link/", views.ticket_link, name="link"),
    path(
        "<int:number>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
]

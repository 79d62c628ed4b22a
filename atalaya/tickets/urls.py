from __future__ import annotations

from django.urls import path

from atalaya.tickets.views import tickets as views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list, name="list"),
]

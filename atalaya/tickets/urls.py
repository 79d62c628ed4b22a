from __future__ import annotations

from django.urls import path

from atalaya.tickets import views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list, name="list"),
]

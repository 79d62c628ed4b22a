from __future__ import annotations

from django.urls import path

from atalaya.comms import views

app_name = "comms"
urlpatterns = [
    path("", views.announcement_list, name="list"),
]

"""The MSP's public pages, no login: announcements marked public and their Atom feed."""

from __future__ import annotations

from django.urls import path

from atalaya.comms import public

app_name = "public"
urlpatterns = [
    path("", public.news_list, name="list"),
    path("<uuid:announcement_id>/", public.news_detail, name="detail"),
    path("feed/<str:language>.atom", public.news_feed, name="feed"),
]

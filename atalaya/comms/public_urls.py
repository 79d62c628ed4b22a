"""The MSP's public pages, no login: announcements marked public and their Atom feed."""

from __future__ import annotations

from django.urls import path

from atalaya.comms import public

app_name = "public"
urlpatterns = [
    path("", public.news_list, name="list"),
    path("<uuid:announcement_id>/", public.news_detail, name="detail"),
    # One fixed path per language (no parameter): the feed is the same for everyone.
    path("feed/en.atom", public.news_feed, {"language": "en"}, name="feed_en"),
    path("feed/es.atom", public.news_feed, {"language": "es"}, name="feed_es"),
]

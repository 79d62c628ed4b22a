"""Technician pages of the kb app (mounted at /kb/, names kb:*)."""

from __future__ import annotations

from django.urls import path

from atalaya.kb import views

app_name = "kb"
urlpatterns = [
    path("", views.article_list, name="list"),
    path("new/", views.article_new, name="new"),
    path("categories/", views.category_list, name="categories"),
    path("<uuid:article_id>/", views.article_detail, name="detail"),
    path("<uuid:article_id>/edit/", views.article_edit, name="edit"),
    path("reply-links/<int:number>/", views.reply_links, name="reply_links"),
]

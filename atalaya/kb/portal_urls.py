"""The knowledge base in the client portal (included under /portal/kb/, names portal:kb_*)."""

from __future__ import annotations

from django.urls import path

from atalaya.kb import portal_views

urlpatterns = [
    path("", portal_views.kb_list, name="kb_list"),
    path("suggest/", portal_views.kb_suggest, name="kb_suggest"),
    path("<uuid:article_id>/", portal_views.kb_detail, name="kb_detail"),
]

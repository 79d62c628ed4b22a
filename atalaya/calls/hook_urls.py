"""The ring webhook phone systems call (signed, no session), under /hooks/calls/."""

from __future__ import annotations

from django.urls import path

from atalaya.calls import hooks

app_name = "call_hooks"
urlpatterns = [
    path("<str:phone_system_id>/ring/", hooks.ring, name="ring"),
]

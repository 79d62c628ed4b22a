"""Announcements: write, preview, schedule, send, and follow their delivery."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from atalaya.tickets.views.tickets import staff_view


@staff_view("GET", "HEAD")
def announcement_list(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError

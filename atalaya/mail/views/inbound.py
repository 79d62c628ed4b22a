"""Received mail: the log, dead letters, triage of unknown senders, move and split."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from atalaya.tickets.views.tickets import staff_view


@staff_view("GET", "HEAD")
def mail_log(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError

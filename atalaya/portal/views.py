from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("portal")


@login_required
def ticket_new(request: HttpRequest) -> HttpResponse:
    return HttpResponse("portal")


@login_required
def ticket_detail(request: HttpRequest, number: int) -> HttpResponse:
    return HttpResponse("portal")

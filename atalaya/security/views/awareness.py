"""Security pages: awareness (URL patterns at the end, included by security/urls.py).

Staff pages: campaigns list and creation (MSP staff; writes need a security writer).
Public pages: the acknowledgement and opt-out links of a tip mail. GET only shows a
confirmation with a button; the change happens on POST, so a mail scanner that
prefetches links acknowledges nothing. The token is the credential; a browser signed
in as somebody else gets 404 (the link is not theirs).
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User
from atalaya.security import awareness
from atalaya.security.models import AwarenessCampaign, AwarenessDelivery
from atalaya.tickets.views.tickets import staff_view


def _delivery_or_404(request: HttpRequest, token: str) -> AwarenessDelivery:
    delivery = awareness.delivery_for_token(token)
    if delivery is None:
        raise Http404("No such link")
    user = request.user
    if user.is_authenticated and cast(User, user).contact_id != delivery.contact_id:
        raise Http404("No such link")
    return delivery


def _public_page(request: HttpRequest, token: str, *, action: str) -> HttpResponse:
    delivery = _delivery_or_404(request, token)
    done = False
    if action == "ack":
        if request.method == "POST":
            awareness.acknowledge(delivery)
            done = True
        already = delivery.acknowledged_at is not None
    else:
        if request.method == "POST":
            awareness.opt_out(delivery)
            done = True
        already = awareness.has_opted_out(delivery)
    language = delivery.contact.language or "es"
    tip = delivery.tip
    title = tip.title_es if language.startswith("es") else tip.title_en
    return render(
        request,
        "security/awareness/public.html",
        {"action": action, "done": done or already, "tip_title": title, "token": token},
    )


@require_http_methods(["GET", "POST"])
def ack(request: HttpRequest, token: str) -> HttpResponse:
    """Acknowledge a tip: GET confirms, POST records."""
    return _public_page(request, token, action="ack")


@require_http_methods(["GET", "POST"])
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """Opt out of a client's awareness mail: GET confirms, POST records."""
    return _public_page(request, token, action="opt-out")


class CampaignForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.filter(is_active=True).order_by("name"),
        to_field_name="public_id",
        label=gettext_lazy("Client"),
    )
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    starts_on = forms.DateField(
        label=gettext_lazy("Starts on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    every_days = forms.IntegerField(
        min_value=1, max_value=365, initial=7, label=gettext_lazy("Every (days)")
    )


@staff_view("GET", "POST", write=True)
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every client's campaigns with their counts; POST creates one."""
    user = cast(User, request.user)
    form = CampaignForm(request.POST or None, initial={"starts_on": date.today()})
    if request.method == "POST" and form.is_valid():
        try:
            awareness.create_campaign(actor=user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("security:awareness-campaigns")
    campaigns: Any = AwarenessCampaign.objects.visible_to(user).select_related("client")[:200]
    rows = list(campaigns)
    counts = awareness.delivery_counts([c.pk for c in rows])
    for campaign in rows:
        campaign.stats = counts.get(campaign.pk, {"deliveries": 0, "acknowledged": 0})
    return render(
        request, "security/awareness/campaign_list.html", {"campaigns": rows, "form": form}
    )


urlpatterns: list[URLPattern] = [
    path("awareness/", campaign_list, name="awareness-campaigns"),
    path("awareness/ack/<str:token>/", ack, name="awareness-ack"),
    path("awareness/opt-out/<str:token>/", opt_out, name="awareness-opt-out"),
]

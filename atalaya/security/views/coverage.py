"""Security pages: coverage (URL patterns at the end, included by security/urls.py).

The overview of every client's score, a client's page with its items and gaps, and
the attestation form. MSP staff only (404 for anyone else); attesting needs a
security writer (403).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, Contact, User
from atalaya.monitoring.models import Device
from atalaya.security import coverage
from atalaya.security.access import client_or_404
from atalaya.security.models import Protection, can_write_security
from atalaya.tickets.views.tickets import staff_view


@staff_view("GET")
def overview(request: HttpRequest) -> HttpResponse:
    """Every active client's coverage score, worst first."""
    clients = list(Client.objects.filter(is_active=True).order_by("name")[:500])
    return render(request, "security/coverage/overview.html", {"rows": coverage.overview(clients)})


class AttestationForm(forms.Form):
    subject = forms.ChoiceField(label=gettext_lazy("Contact or device"))
    kind = forms.ChoiceField(choices=Protection.choices, label=gettext_lazy("Protection"))
    is_protected = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Protected"))
    product = forms.CharField(max_length=200, required=False, label=gettext_lazy("Product"))
    note = forms.CharField(max_length=500, required=False, label=gettext_lazy("Note"))
    valid_until = forms.DateField(
        label=gettext_lazy("Valid until"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.devices = {
            str(d.public_id): d
            for d in Device.objects.filter(client=client, retired_at__isnull=True)
        }
        self.contacts = {
            str(c.public_id): c for c in Contact.objects.filter(memberships__client=client)
        }
        cast(forms.ChoiceField, self.fields["subject"]).choices = [
            (f"device:{k}", d.display_name or d.hostname) for k, d in self.devices.items()
        ] + [(f"contact:{k}", c.name) for k, c in self.contacts.items()]


@staff_view("GET", "POST", write=True)
def client_coverage(request: HttpRequest, client_id: str) -> HttpResponse:
    """A client's items and gaps; POST records an attestation."""
    user = cast(User, request.user)
    client = client_or_404(user, client_id)
    form = AttestationForm(request.POST or None, client=client)
    if request.method == "POST":
        if not can_write_security(user):
            raise PermissionDenied(_("Your role may not change security records."))
        if form.is_valid():
            kind_name, _sep, key = form.cleaned_data["subject"].partition(":")
            pools: dict[str, dict[str, Any]] = {"device": form.devices, "contact": form.contacts}
            subject = pools[kind_name][key]
            try:
                coverage.attest(
                    actor=user,
                    client=client,
                    kind=form.cleaned_data["kind"],
                    valid_until=form.cleaned_data["valid_until"],
                    device=subject if kind_name == "device" else None,
                    contact=subject if kind_name == "contact" else None,
                    is_protected=form.cleaned_data["is_protected"],
                    product=form.cleaned_data["product"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return redirect("security:coverage-client", client_id=client.public_id)
    return render(
        request,
        "security/coverage/client.html",
        {"client": client, "coverage": coverage.coverage_of(client), "form": form},
    )


urlpatterns: list[URLPattern] = [
    path("coverage/", overview, name="coverage-overview"),
    path("coverage/<str:client_id>/", client_coverage, name="coverage-client"),
]

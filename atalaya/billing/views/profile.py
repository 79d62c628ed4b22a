"""A client's billing profile (tax id, address, invoice e-mail, payment terms), per client."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing.access_invoices import get_billing_client_or_404
from atalaya.billing.forms_invoices import BillingProfileForm
from atalaya.billing.models import BillingProfile, can_write_billing
from atalaya.billing.services.profiles import PROFILE_FIELDS, save_billing_profile
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors


@billing_view("GET", "HEAD", "POST", write=True)
def profile_edit(request: HttpRequest, client_id: Any) -> HttpResponse:
    """Show and change a client's billing profile; a wrong tax id is named on its field."""
    user = user_of(request)
    client = get_billing_client_or_404(user, client_id)
    profile = BillingProfile.objects.filter(client=client).first()
    initial = {name: getattr(profile, name) for name in PROFILE_FIELDS} if profile else {}
    form = BillingProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            save_billing_profile(actor=user, client=client, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Billing profile saved."))
            return redirect("billing:profile_edit", client_id=client.public_id)
    return render(
        request,
        "billing/profile/edit.html",
        {"client": client, "form": form, "can_write": can_write_billing(user)},
        status=400 if request.method == "POST" and form.errors else 200,
    )

"""The MSP's billing settings (administrators) and the numbering series."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing.forms_invoices import BillingSettingsForm, SeriesForm
from atalaya.billing.models import BillingSettings, InvoiceSeries, can_write_billing
from atalaya.billing.services import invoices as services
from atalaya.billing.services.profiles import SETTINGS_FIELDS, save_billing_settings
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors


@billing_view("GET", "HEAD", "POST")
def settings_edit(request: HttpRequest) -> HttpResponse:
    """Who issues the invoices and collects the debits; only administrators change it."""
    user = user_of(request)
    if request.method == "POST" and not user.is_admin:
        raise PermissionDenied(_("Only administrators may change the billing settings."))
    row = BillingSettings.load()
    form = BillingSettingsForm(
        request.POST or None, initial={name: getattr(row, name) for name in SETTINGS_FIELDS}
    )
    if request.method == "POST" and form.is_valid():
        try:
            save_billing_settings(actor=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Billing settings saved."))
            return redirect("billing:settings")
    return render(
        request,
        "billing/invoices/settings.html",
        {"form": form, "can_write": user.is_admin},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@billing_view("GET", "HEAD", "POST", write=True)
def series_list(request: HttpRequest) -> HttpResponse:
    """The numbering series with their next numbers; a new one is created here."""
    user = user_of(request)
    form = SeriesForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = dict(form.cleaned_data)
            services.create_series(actor=user, prefix=data.pop("number_prefix"), **data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "prefix" in exc.error_dict:
                exc.error_dict["number_prefix"] = exc.error_dict.pop("prefix")
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Series created."))
            return redirect("billing:series_list")
    return render(
        request,
        "billing/invoices/series.html",
        {
            "series": list(InvoiceSeries.objects.select_related("credit_note_series")),
            "form": form,
            "can_write": can_write_billing(user),
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )

"""Forms of the catalogue, agreement, recurring-run, time and hour-block pages.

They only shape input; every rule (ranges, VAT rates, mandates, retired products) is
the services', whose ValidationErrors land on the field they name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.billing.forms_invoices import VAT_CHOICES
from atalaya.billing.models import (
    BillingPeriod,
    InvoiceSeries,
    Mandate,
    PaymentMethod,
    Product,
    QuantityMode,
    Unit,
)
from atalaya.core.forms import DateInput
from atalaya.core.models import Client
from atalaya.tickets.models import WorkType


class ProductForm(forms.Form):
    code = forms.CharField(max_length=40, label=_("Code"))
    name_en = forms.CharField(max_length=200, label=_("Name (English)"))
    name_es = forms.CharField(max_length=200, label=_("Name (Spanish)"))
    description_en = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description (English)")
    )
    description_es = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description (Spanish)")
    )
    unit = forms.ChoiceField(choices=Unit.choices, label=_("Unit"))
    unit_price = forms.DecimalField(max_digits=14, decimal_places=4, label=_("Price"))
    vat = forms.ChoiceField(choices=VAT_CHOICES, label=_("VAT"))
    work_type = forms.ModelChoiceField(
        queryset=WorkType.objects.all(),
        required=False,
        label=_("Sets the hourly rate of"),
        help_text=_("Only for an hourly product: the default rate of this work type."),
    )
    components = forms.ModelMultipleChoiceField(
        queryset=Product.objects.none(),
        required=False,
        label=_("Package of"),
        help_text=_("Choose the products this package holds (one of each per unit)."),
    )

    def __init__(self, *args: Any, exclude: Product | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = Product.objects.filter(is_active=True, is_package=False).order_by("code")
        if exclude is not None:
            choices = choices.exclude(pk=exclude.pk)
        self.fields["components"].queryset = choices  # type: ignore[attr-defined]

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        category, rate = data.pop("vat").split(":")
        data["vat_category"], data["vat_rate"] = category, Decimal(rate)
        data.pop("components")
        return data


class AgreementForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="public_id", label=_("Client")
    )
    name = forms.CharField(max_length=200, label=_("Name"))
    billing_period = forms.ChoiceField(choices=BillingPeriod.choices, label=_("Billing period"))
    starts_on = forms.DateField(widget=DateInput(), label=_("Starts on"))
    ends_on = forms.DateField(widget=DateInput(), required=False, label=_("Ends on"))
    series = forms.ModelChoiceField(
        queryset=InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=False),
        label=_("Invoice series"),
    )
    payment_method = forms.ChoiceField(choices=PaymentMethod.choices, label=_("Payment method"))
    mandate = forms.ModelChoiceField(
        queryset=Mandate.objects.none(),
        to_field_name="public_id",
        required=False,
        label=_("Mandate (direct debit)"),
    )
    payment_terms_days = forms.IntegerField(
        min_value=0, max_value=365, initial=30, label=_("Payment terms (days)")
    )

    def __init__(
        self, *args: Any, clients: Any, client: Client | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if client is not None:
            del self.fields["client"]
            mandates = Mandate.objects.filter(client=client)
        else:
            self.fields["client"].queryset = clients  # type: ignore[attr-defined]
            mandates = Mandate.objects.filter(client__in=clients)
        self.fields["mandate"].queryset = mandates.filter(  # type: ignore[attr-defined]
            revoked_at__isnull=True
        )

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("client", None)
        return data


class LineForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True).exclude(unit=Unit.PER_HOUR),
        to_field_name="public_id",
        label=_("Product"),
    )
    quantity_mode = forms.ChoiceField(choices=QuantityMode.choices, label=_("Quantity"))
    quantity = forms.DecimalField(
        max_digits=12, decimal_places=3, initial=1, required=False, label=_("Fixed quantity")
    )
    unit_price = forms.DecimalField(
        max_digits=14,
        decimal_places=4,
        required=False,
        label=_("Price override"),
        help_text=_("Empty: the catalogue's price."),
    )
    description = forms.CharField(max_length=300, required=False, label=_("Own text"))
    starts_on = forms.DateField(widget=DateInput(), required=False, label=_("From"))
    ends_on = forms.DateField(widget=DateInput(), required=False, label=_("Until"))

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("quantity") is None:
            data["quantity"] = Decimal(1)
        return data


class RateForm(forms.Form):
    work_type = forms.ModelChoiceField(queryset=WorkType.objects.all(), label=_("Work type"))
    hourly_rate = forms.DecimalField(max_digits=14, decimal_places=4, label=_("Hourly rate"))


class HourBlockForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="public_id", label=_("Client")
    )
    name = forms.CharField(max_length=200, label=_("Name"))
    hours = forms.DecimalField(max_digits=9, decimal_places=2, min_value=0, label=_("Hours"))
    low_balance_hours = forms.DecimalField(
        max_digits=9, decimal_places=2, min_value=0, initial=2, label=_("Alert at (hours left)")
    )
    purchased_on = forms.DateField(widget=DateInput(), required=False, label=_("Bought on"))
    expires_on = forms.DateField(widget=DateInput(), required=False, label=_("Expires on"))
    price = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        label=_("Invoice it at"),
        help_text=_("Empty: not invoiced. Otherwise a draft invoice for review."),
    )
    series = forms.ModelChoiceField(
        queryset=InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=False),
        required=False,
        label=_("Invoice series"),
    )

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients  # type: ignore[attr-defined]


class DecideForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("approve", _("Approve (burn a block first)")),
            ("invoice", _("Approve to invoice")),
            ("write_off", _("Write off")),
        ]
    )
    hourly_rate = forms.DecimalField(
        max_digits=14, decimal_places=4, required=False, label=_("Hourly rate")
    )
    note = forms.CharField(max_length=300, required=False, label=_("Note"))

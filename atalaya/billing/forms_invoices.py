"""Forms of the invoice pages, billing profiles, billing settings and series.

They only shape input; every rule (ranges, VAT rates, tax ids, IBANs) is the services',
whose ValidationErrors land on the field they name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models import (
    InvoiceKind,
    InvoiceSeries,
    InvoiceStatus,
    PaymentMethod,
    Product,
)
from atalaya.core.forms import DateInput
from atalaya.core.models import Client

# (category:rate) choices for a line; the services accept exactly these.
VAT_CHOICES = [
    ("S:21", _("VAT 21 %")),
    ("S:10", _("VAT 10 %")),
    ("S:4", _("VAT 4 %")),
    ("E:0", _("Exempt")),
    ("AE:0", _("Reverse charge")),
]


class InvoiceFilterForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="public_id", required=False, label=_("Client")
    )
    status = forms.ChoiceField(
        choices=[("", _("Any status")), *InvoiceStatus.choices], required=False, label=_("Status")
    )
    kind = forms.ChoiceField(
        choices=[("", _("Invoices and credit notes")), *InvoiceKind.choices],
        required=False,
        label=_("Kind"),
    )
    overdue = forms.BooleanField(required=False, label=_("Overdue only"))

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["client"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = clients


def _series_field(credit: bool = False) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=credit),
        to_field_name="code",
        label=_("Series"),
    )


class DraftNewForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="public_id", label=_("Client")
    )
    series = _series_field()

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["client"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = clients
        first = InvoiceSeries.objects.filter(is_active=True, is_for_credit_notes=False).first()
        if first is not None:
            self.fields["series"].initial = first.code


class DraftHeaderForm(forms.Form):
    period_start = forms.DateField(required=False, widget=DateInput(), label=_("Period from"))
    period_end = forms.DateField(required=False, widget=DateInput(), label=_("Period to"))
    payment_method = forms.ChoiceField(choices=PaymentMethod.choices, label=_("Payment method"))
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label=_("Notes")
    )


class LineForm(forms.Form):
    """A line from the catalogue (what is left empty comes from the product) or free text."""

    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True),
        to_field_name="code",
        required=False,
        label=_("Product"),
    )
    description = forms.CharField(required=False, max_length=500, label=_("Description"))
    quantity = forms.DecimalField(max_digits=12, decimal_places=3, label=_("Quantity"))
    unit_price = forms.DecimalField(
        max_digits=14, decimal_places=4, required=False, label=_("Unit price")
    )
    vat = forms.ChoiceField(
        choices=[("", _("From the product")), *VAT_CHOICES], required=False, label=_("VAT")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("product") is None:
            if not data.get("description"):
                self.add_error("description", _("Describe the line or choose a product."))
            if data.get("unit_price") is None:
                self.add_error("unit_price", _("Give a price or choose a product."))
            if not data.get("vat"):
                self.add_error("vat", _("Choose the VAT or a product."))
        return data

    def line(self) -> dict[str, Any]:
        data = self.cleaned_data
        line: dict[str, Any] = {
            "product": data.get("product"),
            "description": data.get("description") or "",
            "quantity": data["quantity"],
        }
        if data.get("unit_price") is not None:
            line["unit_price"] = data["unit_price"]
        if data.get("vat"):
            category, rate = data["vat"].split(":")
            line["vat_category"], line["vat_rate"] = category, Decimal(rate)
        return line


class IssueForm(forms.Form):
    issue_date = forms.DateField(
        required=False, widget=DateInput(), label=_("Issue date"), help_text=_("Empty: today.")
    )


class CreditNoteForm(forms.Form):
    """Why, and how much of each line to credit (all of it unless told otherwise)."""

    reason = forms.CharField(max_length=300, label=_("Reason for the correction"))
    whole = forms.BooleanField(required=False, initial=True, label=_("Credit the whole invoice"))

    def __init__(self, *args: Any, lines: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invoice_lines = lines
        for line in lines:
            self.fields[f"qty_{line.pk}"] = forms.DecimalField(
                required=False,
                min_value=Decimal(0),
                max_digits=12,
                decimal_places=3,
                label=line.description,
                help_text=_("Invoiced: %(q)s") % {"q": line.quantity},
            )

    def credit_lines(self) -> list[dict[str, Any]] | None:
        if self.cleaned_data.get("whole"):
            return None
        lines = []
        for line in self.invoice_lines:
            quantity = self.cleaned_data.get(f"qty_{line.pk}")
            if quantity:
                lines.append(
                    {
                        "product": line.product,
                        "description": line.description,
                        "quantity": -quantity,
                        "unit": line.unit,
                        "unit_price": line.unit_price,
                        "vat_category": line.vat_category,
                        "vat_rate": line.vat_rate,
                    }
                )
        return lines


class BillingProfileForm(forms.Form):
    tax_id = forms.CharField(
        max_length=64, required=False, label=_("Tax id"), help_text=_("NIF, NIE, CIF or EU VAT")
    )
    address = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Address")
    )
    postal_code = forms.CharField(max_length=12, required=False, label=_("Postal code"))
    city = forms.CharField(max_length=100, required=False, label=_("City"))
    country = forms.CharField(max_length=2, initial="ES", label=_("Country"))
    invoice_email = forms.CharField(max_length=254, required=False, label=_("Invoice e-mail"))
    payment_terms_days = forms.IntegerField(
        min_value=0, max_value=365, initial=30, label=_("Payment terms (days)")
    )


class BillingSettingsForm(forms.Form):
    legal_name = forms.CharField(max_length=200, label=_("Legal name"))
    tax_id = forms.CharField(max_length=64, label=_("Tax id"))
    address = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Address")
    )
    email = forms.CharField(max_length=254, required=False, label=_("Billing e-mail"))
    iban = forms.CharField(max_length=64, required=False, label=_("IBAN"))
    bic = forms.CharField(max_length=11, required=False, label=_("BIC"))
    creditor_id = forms.CharField(
        max_length=35, required=False, label=_("SEPA creditor identifier")
    )
    prenotification_days = forms.IntegerField(label=_("Pre-notification of debits (days)"))
    bank_data_max_age_hours = forms.IntegerField(label=_("Bank data may be this old (hours)"))


class SeriesForm(forms.Form):
    code = forms.CharField(max_length=20, label=_("Code"))
    # Not "prefix": that name is the form's own HTML prefix attribute.
    number_prefix = forms.CharField(max_length=20, label=_("Prefix"))
    next_number = forms.IntegerField(min_value=1, initial=1, label=_("First number"))
    is_for_credit_notes = forms.BooleanField(required=False, label=_("For credit notes"))
    credit_note_series = forms.ModelChoiceField(
        queryset=InvoiceSeries.objects.filter(is_for_credit_notes=True, is_active=True),
        to_field_name="code",
        required=False,
        label=_("Credit notes go to"),
    )

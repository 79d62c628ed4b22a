"""Forms of the quote pages (staff) and the portal's decision forms.

They only shape input; every rule (validity, start limits, retired products, who may
decide) is the services', whose ValidationErrors land on the field they name.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models import Product, QuoteStatus, Unit
from atalaya.core.forms import DateInput
from atalaya.core.models import Client, Language


def _products() -> Any:
    # Hourly work is billed from tickets, not quoted as a recurring line.
    return (
        Product.objects.filter(is_active=True)
        .exclude(unit=Unit.PER_HOUR)
        .order_by("-is_package", "code")
    )


class QuoteFilterForm(forms.Form):
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(),
        to_field_name="public_id",
        required=False,
        label=_("Client"),
    )
    status = forms.ChoiceField(
        choices=[("", _("Any status")), *QuoteStatus.choices], required=False, label=_("Status")
    )

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients  # type: ignore[attr-defined]


class QuoteLineForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), label=_("Product"))
    quantity = forms.DecimalField(
        max_digits=12, decimal_places=3, min_value=0, initial=1, label=_("Quantity")
    )
    discount_percent = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        required=False,
        label=_("Discount %"),
    )
    description = forms.CharField(
        max_length=300,
        required=False,
        label=_("Text"),
        help_text=_("Empty: the product's name in the quote's language."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = _products()  # type: ignore[attr-defined]

    def line(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class QuoteHeaderForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    intro = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label=_("Introduction")
    )
    valid_until = forms.DateField(widget=DateInput(), label=_("Valid until"))
    proposed_start = forms.DateField(widget=DateInput(), required=False, label=_("Proposed start"))
    language = forms.ChoiceField(choices=Language.choices, label=_("Language"))


class QuoteNewForm(QuoteHeaderForm, QuoteLineForm):
    """A new quote with its first line (more lines are added on its page)."""

    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="public_id", label=_("Client")
    )
    language = forms.ChoiceField(
        choices=[("", _("The client's")), *Language.choices], required=False, label=_("Language")
    )
    field_order = ["client", "title", "intro", "valid_until", "proposed_start", "language"]

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients  # type: ignore[attr-defined]

    def header(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "client": data["client"],
            "title": data["title"],
            "intro": data["intro"],
            "valid_until": data["valid_until"],
            "proposed_start": data["proposed_start"],
            "language": data["language"] or None,
        }

    def line(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data.get(name)
            for name in ("product", "quantity", "discount_percent", "description")
        }


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=1000, required=False, label=_("Why (optional)"))


class AcceptForm(forms.Form):
    start_date = forms.DateField(widget=DateInput(), label=_("Start on"))
    note = forms.CharField(max_length=1000, required=False, label=_("Note (optional)"))


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label=_("Why not?")
    )

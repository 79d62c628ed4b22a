"""Forms of the payments, direct debit and bank pages; the services check the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing import sepa
from atalaya.billing.models import CollectionStatus, PaymentMethod
from atalaya.core.forms import DateInput

# 20 MB: a month of a busy account in camt.053 is a few MB.
MAX_UPLOAD = 20 * 1024 * 1024


class PaymentForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=PaymentMethod.choices)
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2)
    received_on = forms.DateField(label=_("Received on"), widget=DateInput())
    reference = forms.CharField(label=_("Reference"), max_length=140, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = timezone.localdate()


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class MandateForm(forms.Form):
    reference = forms.CharField(label=_("Mandate reference"), max_length=35)
    signed_on = forms.DateField(label=_("Signed on"), widget=DateInput())
    debtor_name = forms.CharField(label=_("Account holder"), max_length=70)
    iban = forms.CharField(label=_("IBAN"), max_length=42)
    bic = forms.CharField(label=_("BIC (optional)"), max_length=11, required=False)


class BatchForm(forms.Form):
    due_on = forms.DateField(label=_("Debit date"), widget=DateInput())


class ReturnForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Return reason"), choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["reason_code"]).choices = sepa.reason_choices()


class CollectionFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All"))] + list(CollectionStatus.choices),
    )


class StatementUploadForm(forms.Form):
    file = forms.FileField(label=_("Statement file (camt.053, camt.054 or Norma 43)"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        return upload


class MatchForm(forms.Form):
    invoice = forms.CharField(label=_("Invoice number"), max_length=40, required=False)
    client = forms.ChoiceField(label=_("or client (as credit)"), required=False, choices=())

    def __init__(self, *args: Any, clients: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["client"]).choices = [("", "—"), *clients]

"""Forms of the reminder pages: propose a run (with a bank-data override), pause, dispute."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from atalaya.core.models import Client


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ProposeForm(forms.Form):
    """Propose a run; ``override_reason`` lets it go ahead on stale bank data (recorded)."""

    override = forms.BooleanField(
        label=gettext_lazy("Go ahead although the bank data is older than allowed"),
        required=False,
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Why (recorded with your name)"), max_length=300, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("override") and not " ".join(str(data.get("override_reason", "")).split()):
            self.add_error("override_reason", gettext_lazy("Say why you override the bank data."))
        return data


class PauseForm(forms.Form):
    client = forms.ModelChoiceField(
        label=gettext_lazy("Client (empty: every client)"),
        queryset=Client.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)
    expires_at = forms.DateTimeField(label=gettext_lazy("Until"), widget=DateTimeInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.order_by("name")  # type: ignore[attr-defined]


class DisputeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("What the client disputes"), max_length=300)


class SkipForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why skip"), max_length=300, required=False)

"""Forms of the monitoring pages: device filters and changes, actions, scripts, enrollment.

Forms only check and convert input; the views hand the cleaned data to the services
(monitoring.actions, monitoring.enrollment), whose ValidationErrors are put back on the
field they name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client, Site
from atalaya.monitoring import actions
from atalaya.monitoring.models import (
    ActionKind,
    ActionStatus,
    Device,
    DeviceStatus,
    Interpreter,
    Script,
)

EXPIRY_CHOICES = [
    ("60", _("1 hour")),
    ("240", _("4 hours")),
    ("1440", _("1 day")),
    ("4320", _("3 days")),
    ("10080", _("7 days")),
    ("43200", _("30 days")),
]


class DeviceFilterForm(forms.Form):
    """The device list's filters; every field optional, unknown values are errors."""

    q = forms.CharField(label=_("Hostname"), max_length=200, required=False)
    # A new client means new site choices: the whole page reloads (HTMX swaps only the table).
    client = forms.ChoiceField(
        label=_("Client"),
        required=False,
        widget=forms.Select(attrs={"onchange": "this.form.submit()"}),
    )
    site = forms.ChoiceField(label=_("Site"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *DeviceStatus.choices]
    )
    after = forms.CharField(required=False, max_length=600, widget=forms.HiddenInput)

    def __init__(
        self, data: Any, *, clients: list[tuple[str, str]], sites: list[tuple[str, str]]
    ) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["client"]).choices = [("", _("All clients")), *clients]
        cast(forms.ChoiceField, self.fields["site"]).choices = [("", _("All sites")), *sites]


class DeviceForm(forms.Form):
    """What a technician may change on a device."""

    display_name = forms.CharField(label=_("Display name"), max_length=255, required=False)
    site = forms.ModelChoiceField(
        label=_("Site"), queryset=Site.objects.none(), to_field_name="public_id"
    )
    parent = forms.ModelChoiceField(
        label=_("Reached through (parent device)"),
        queryset=Device.objects.none(),
        required=False,
        to_field_name="public_id",
        help_text=_("While the parent is offline, this device raises no offline alert."),
    )
    checkin_interval_s = forms.IntegerField(
        label=_("Check-in interval (seconds)"),
        min_value=actions.CHECKIN_INTERVAL_RANGE[0],
        max_value=actions.CHECKIN_INTERVAL_RANGE[1],
    )

    def __init__(self, data: Any = None, *, device: Device, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        site_field = self.fields["site"]
        parent_field = self.fields["parent"]
        assert isinstance(site_field, forms.ModelChoiceField)
        assert isinstance(parent_field, forms.ModelChoiceField)
        site_field.queryset = Site.objects.filter(client_id=device.client_id)
        # Parents are the site's devices (routers, firewalls), never the device itself.
        parent_field.queryset = (
            Device.objects.active()
            .filter(client_id=device.client_id, site_id=device.site_id)
            .exclude(pk=device.pk)
            .order_by("hostname")
        )


class ActionForm(forms.Form):
    """Queue a reboot or an approved script with arguments (one per line)."""

    kind = forms.ChoiceField(label=_("Action"), choices=ActionKind.choices)
    script = forms.ModelChoiceField(
        label=_("Script"),
        queryset=Script.objects.none(),
        required=False,
        to_field_name="public_id",
        empty_label=_("— choose an approved script —"),
    )
    arguments = forms.CharField(
        label=_("Arguments, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=actions.MAX_ARGUMENTS * (actions.MAX_ARGUMENT_CHARS + 2),
    )
    expires_in = forms.TypedChoiceField(
        label=_("Keep for an offline device"),
        choices=EXPIRY_CHOICES,
        coerce=int,
        initial="1440",
    )

    def __init__(self, data: Any = None, *, scripts: QuerySet[Script], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        field = self.fields["script"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = scripts

    def clean_arguments(self) -> list[str]:
        text = self.cleaned_data.get("arguments") or ""
        return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "script": data.get("script"),
            "arguments": data.get("arguments") or [],
            "expires_in": timedelta(minutes=data["expires_in"]),
        }


class ActionFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *ActionStatus.choices]
    )


class ScriptForm(forms.Form):
    """A new script for the library (approved later by an administrator)."""

    name = forms.CharField(label=_("Name"), max_length=actions.SCRIPT_NAME_MAX)
    description = forms.CharField(
        label=_("What it does"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    interpreter = forms.ChoiceField(label=_("Interpreter"), choices=Interpreter.choices)
    body = forms.CharField(
        label=_("Script"),
        strip=False,
        max_length=actions.SCRIPT_BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code"}),
    )
    timeout_s = forms.IntegerField(
        label=_("Time limit (seconds)"),
        min_value=actions.SCRIPT_TIMEOUT_RANGE[0],
        max_value=actions.SCRIPT_TIMEOUT_RANGE[1],
        initial=300,
    )


def _site_label(site: Site) -> str:
    return f"{site.client.name} — {site.name}"


class EnrollmentTokenForm(forms.Form):
    """A site's enrollment token: how long it is valid and how many machines may use it."""

    site = forms.ModelChoiceField(
        label=_("Site"), queryset=Site.objects.none(), to_field_name="public_id"
    )
    name = forms.CharField(label=_("Name"), max_length=100, initial=_("New machines"))
    valid_days = forms.IntegerField(
        label=_("Valid for (days)"), min_value=1, max_value=365, initial=7
    )
    max_uses = forms.IntegerField(
        label=_("Machines it may enroll"), min_value=1, max_value=100_000, initial=1
    )

    def __init__(self, data: Any = None, *, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        field = self.fields["site"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = sites
        field.label_from_instance = _site_label  # type: ignore[method-assign,assignment]

    def expires_at(self) -> Any:
        return timezone.now() + timedelta(days=self.cleaned_data["valid_days"])


def client_choices(clients: QuerySet[Client]) -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in clients.values_list("public_id", "name")]

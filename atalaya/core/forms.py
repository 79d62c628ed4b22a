"""Forms of the client pages: client details and business hours, sites, holidays, mail
domains, contacts and portal logins.

Forms only check and convert input; the views hand the cleaned data to core.services,
which validate across objects and write with an audit event. A service's
ValidationError is put back on the form field it names (see add_service_errors).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client, Contact, Language, Site, known_time_zones
from atalaya.core.phones import region_for, region_for_zone, to_e164

PHONE_HELP = _("Any usual way of writing it; numbers without +country are read as local.")


def _phone(value: str, region: str) -> str:
    """A typed number as E.164 for the form's cleaned data, or the form field's error."""
    try:
        return to_e164(value, region)
    except ValidationError as exc:
        raise forms.ValidationError(exc.message_dict["phone"]) from None


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    """Region/City zone names (and UTC), sorted once per process; legacy aliases left out."""
    names = sorted(z for z in known_time_zones() if "/" in z or z == "UTC")
    return [(zone, zone) for zone in names]


def weekday_choices() -> list[tuple[str, Any]]:
    """ISO weekday digits (1 = Monday) with Django's translated day names."""
    return [(str(i + 1), WEEKDAYS[i]) for i in range(7)]


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class ClientForm(forms.Form):
    """A client's details and business-hours calendar (zone, working days, hours)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    legal_name = forms.CharField(label=_("Legal name"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=time_zone_choices, initial="Europe/Madrid"
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False, help_text=PHONE_HELP)
    working_days = forms.MultipleChoiceField(
        label=_("Working days"),
        choices=weekday_choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["1", "2", "3", "4", "5"],
    )
    workday_starts_at = forms.TimeField(
        label=_("Working day starts at"), widget=TimeInput(), initial="09:00"
    )
    workday_ends_at = forms.TimeField(
        label=_("Working day ends at"), widget=TimeInput(), initial="18:00"
    )
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea, required=False, max_length=10_000
    )
    is_active = forms.BooleanField(label=_("Active client"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not editing:
            # A new client is active; deactivating is an edit.
            del self.fields["is_active"]

    @classmethod
    def initial_for(cls, client: Client) -> dict[str, Any]:
        return {
            "name": client.name,
            "legal_name": client.legal_name,
            "language": client.language,
            "time_zone": client.time_zone,
            "phone": client.phone,
            "notes": client.notes,
            "is_active": client.is_active,
            "working_days": list(client.working_days),
            "workday_starts_at": client.workday_starts_at,
            "workday_ends_at": client.workday_ends_at,
        }

    def clean_working_days(self) -> str:
        return "".join(sorted(set(self.cleaned_data["working_days"])))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("phone"):
            try:
                data["phone"] = _phone(data["phone"], region_for_zone(data.get("time_zone")))
            except forms.ValidationError as exc:
                self.add_error("phone", exc)
        starts, ends = data.get("workday_starts_at"), data.get("workday_ends_at")
        if starts and ends and starts >= ends:
            self.add_error("workday_ends_at", _("The working day must end after it starts."))
        return data


class SiteForm(forms.Form):
    """A new site of a client."""

    name = forms.CharField(label=_("Name"), max_length=200)
    address = forms.CharField(
        label=_("Address"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)


class HolidayForm(forms.Form):
    """A day the client is closed."""

    date = forms.DateField(label=_("Date"), widget=DateInput())
    name = forms.CharField(label=_("Name"), max_length=120, required=False)


class MailDomainForm(forms.Form):
    """A mail domain that identifies the client (e.g. example.com)."""

    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("Mail from unknown senders at this domain goes to this client."),
    )


def _site_field(client: Client) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("Site"),
        queryset=Site.objects.filter(client=client),
        to_field_name="public_id",
        required=False,
        empty_label=_("No particular site"),
    )


def _add_role_fields(form: forms.Form) -> None:
    """The contact's roles at this client: announcements can go to one role only."""
    form.fields["is_decision_maker"] = forms.BooleanField(label=_("Decision maker"), required=False)
    form.fields["is_technical"] = forms.BooleanField(label=_("Technical contact"), required=False)
    form.fields["is_billing"] = forms.BooleanField(label=_("Billing contact"), required=False)
    form.fields["is_user"] = forms.BooleanField(
        label=_("User we look after"), required=False, initial=True
    )


class ContactForm(forms.Form):
    """A new person at the client, with their roles there."""

    name = forms.CharField(label=_("Name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False, help_text=PHONE_HELP)
    job_title = forms.CharField(label=_("Job title"), max_length=120, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"language": client.language, "time_zone": client.time_zone})
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["site"] = _site_field(client)
        _add_role_fields(self)

    def clean_phone(self) -> str:
        return _phone(self.cleaned_data.get("phone") or "", region_for(self.client))


class AttachContactForm(forms.Form):
    """An existing contact (of another client) who also works for this client."""

    def __init__(
        self, *args: Any, client: Client, contacts: QuerySet[Contact], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"] = forms.ModelChoiceField(
            label=_("Contact"),
            to_field_name="public_id",
            queryset=contacts.exclude(memberships__client=client).order_by("name", "email"),
        )
        self.fields["site"] = _site_field(client)
        self.fields["job_title"] = forms.CharField(
            label=_("Job title"), max_length=120, required=False
        )
        _add_role_fields(self)


class PortalLoginForm(forms.Form):
    """A portal login for a contact: user name (their e-mail by default) and a password."""

    username = forms.CharField(label=_("User name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data

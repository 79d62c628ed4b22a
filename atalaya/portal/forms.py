"""Forms of the client portal: list filters, opening a ticket, replying.

The forms only shape and bound the input; every rule about what may be written
(whose site, which priorities, file types and sizes) is enforced again by
atalaya.tickets.services, whose errors the views attach back to these fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from atalaya.core.models import Client, Site
from atalaya.tickets.models import Priority
from atalaya.tickets.services import MAX_BODY_LENGTH

# More files than this in one message is a mistake or an attack, not a support request.
MAX_FILES_PER_MESSAGE = 10

STATUS_FILTERS = [
    # A context, because "Open" as a filter of many tickets is not "Open" as one's status.
    ("open", pgettext_lazy("tickets filter", "Open")),
    ("resolved", pgettext_lazy("tickets filter", "Resolved")),
    ("all", pgettext_lazy("tickets filter", "All")),
]

PORTAL_PRIORITIES = [
    (Priority.LOW.value, _("Low")),
    (Priority.NORMAL.value, _("Normal")),
    (Priority.HIGH.value, _("High")),
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (up to MAX_FILES_PER_MESSAGE) under one field name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if not data:
            return []
        files = data if isinstance(data, (list, tuple)) else [data]
        if len(files) > MAX_FILES_PER_MESSAGE:
            raise ValidationError(
                _("At most %(n)d files per message.") % {"n": MAX_FILES_PER_MESSAGE}
            )
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class SiteChoiceField(forms.ModelChoiceField):
    """Sites labelled by name, or by company and name when the contact has several companies."""

    show_client = False

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.client.name} — {obj.name}" if self.show_client else str(obj.name)


class TicketFilterForm(forms.Form):
    """The list's query string. Invalid values fall back to the defaults, never an error page."""

    q = forms.CharField(required=False, max_length=200, label=_("Search"))
    status = forms.ChoiceField(required=False, choices=STATUS_FILTERS, label=_("Status"))
    client = forms.ModelChoiceField(
        required=False,
        queryset=Client.objects.none(),
        to_field_name="public_id",
        label=_("Company"),
        empty_label=_("All companies"),
    )

    def __init__(self, *args: Any, clients: QuerySet[Client], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        client_field = self.fields["client"]
        assert isinstance(client_field, forms.ModelChoiceField)
        client_field.queryset = clients

    def value(self, name: str, default: Any = None) -> Any:
        """The cleaned value of a field, or ``default`` when it is missing or invalid."""
        if not self.is_bound:
            return default
        self.is_valid()
        return self.cleaned_data.get(name) or default


class NewTicketForm(forms.Form):
    """Open a ticket: for which company (only when the contact has several), where, what."""

    client = forms.ModelChoiceField(
        queryset=Client.objects.none(),
        to_field_name="public_id",
        label=_("Company"),
        empty_label=None,
    )
    site = SiteChoiceField(
        queryset=Site.objects.none(),
        to_field_name="public_id",
        required=False,
        label=_("Site"),
        empty_label=_("— not site-specific —"),
    )
    subject = forms.CharField(max_length=250, label=_("Subject"))
    body = forms.CharField(
        max_length=MAX_BODY_LENGTH,
        required=False,
        label=_("Describe the problem"),
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    priority = forms.ChoiceField(
        choices=PORTAL_PRIORITIES, initial=Priority.NORMAL.value, label=_("Priority")
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, *args: Any, clients: Sequence[Client], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clients = list(clients)
        client_ids = [c.pk for c in self.clients]
        client_field = self.fields["client"]
        site_field = self.fields["site"]
        assert isinstance(client_field, forms.ModelChoiceField)
        assert isinstance(site_field, SiteChoiceField)
        client_field.queryset = Client.objects.filter(pk__in=client_ids)
        site_field.queryset = Site.objects.filter(client_id__in=client_ids).select_related("client")
        if len(self.clients) == 1:
            # One company: nothing to choose, so the field is not shown at all.
            del self.fields["client"]
        else:
            # Several companies: name the company in each site's label so the choice is clear.
            site_field.show_client = True

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "client" not in self.fields and self.clients:
            data["client"] = self.clients[0]
        client, site = data.get("client"), data.get("site")
        if client is not None and site is not None and site.client_id != client.pk:
            self.add_error("site", _("This site belongs to another company."))
        return data


class ReplyForm(forms.Form):
    """A public reply from the client, with optional files."""

    body = forms.CharField(
        max_length=MAX_BODY_LENGTH,
        required=False,
        label=_("Your reply"),
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            not (data.get("body") or "").strip()
            and not data.get("attachments")
            and "body" not in self.errors
        ):
            self.add_error("body", _("Write a message or attach a file."))
        return data

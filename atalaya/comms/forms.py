"""Forms of the announcement pages: they check and convert input; comms.services writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.comms.models import Announcement, Audience, ContactRole
from atalaya.core.models import Client


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AnnouncementForm(forms.Form):
    """Subject and body in both languages, the audience, and when the banner expires.

    Times are read in the viewer's time zone (the middleware activates it).
    """

    subject_en = forms.CharField(label=_("Subject (English)"), max_length=200)
    body_en = forms.CharField(label=_("Text (English)"), widget=forms.Textarea, max_length=20_000)
    subject_es = forms.CharField(label=_("Subject (Spanish)"), max_length=200)
    body_es = forms.CharField(label=_("Text (Spanish)"), widget=forms.Textarea, max_length=20_000)
    audience = forms.ChoiceField(label=_("Audience"), choices=Audience.choices)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[("", _("Any role")), *ContactRole.choices],
        required=False,
        help_text=_("Needed for a role audience; narrows chosen clients too."),
    )
    clients = forms.ModelMultipleChoiceField(
        label=_("Clients"),
        queryset=Client.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For chosen clients; narrows a role audience."),
    )
    expires_at = forms.DateTimeField(
        label=_("Banner shown until"), widget=DateTimeInput(), required=False
    )
    is_public = forms.BooleanField(
        label=_("Public: also show it on the news page and feed (no login)"),
        required=False,
        help_text=_("Anyone can read it there once it is sent, until it expires."),
    )

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["clients"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = clients.filter(is_active=True).order_by("name")

    @classmethod
    def initial_for(cls, announcement: Announcement) -> dict[str, Any]:
        return {
            "subject_en": announcement.subject_en,
            "subject_es": announcement.subject_es,
            "body_en": announcement.body_en,
            "body_es": announcement.body_es,
            "audience": announcement.audience,
            "role": announcement.role,
            "clients": list(announcement.clients.all()),
            "expires_at": announcement.expires_at,
            "is_public": announcement.is_public,
        }


class ScheduleForm(forms.Form):
    """When the periodic job is to send the announcement."""

    scheduled_for = forms.DateTimeField(label=_("Send at"), widget=DateTimeInput())

"""The webhook form: it checks and converts input; webhooks.services writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.comms.webhooks.models import Webhook, WebhookEvent
from atalaya.comms.webhooks.services import MAX_URL_LENGTH


class WebhookForm(forms.Form):
    """Name, receiver URL, the events it gets, and whether it is on."""

    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.CharField(
        label=_("Receiver URL"),
        max_length=MAX_URL_LENGTH,
        help_text=_("http:// or https://; addresses on your own network are fine."),
        widget=forms.URLInput(),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    @classmethod
    def initial_for(cls, webhook: Webhook) -> dict[str, Any]:
        return {
            "name": webhook.name,
            "url": webhook.url,
            "events": list(webhook.events),
            "is_active": webhook.is_active,
        }

"""The "log a call" form and the phone-system forms.

The call form names the caller as ``pick`` ("<contact id>:<client id>", one of the
lookup's matches) or, for a number nobody has yet, just a client. ``file_as`` is "new"
or the number of one of the caller's open tickets. ``token`` is the form's idempotency
token: rendered once, it makes a double submit one call.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.calls.models import Direction
from atalaya.calls.services import MAX_NOTE, MAX_QUERY
from atalaya.core.models import Client, Contact, User
from atalaya.tickets.forms import CategoryChoiceField
from atalaya.tickets.models import Category, Ticket


def new_token() -> str:
    return uuid.uuid4().hex


class CallForm(forms.Form):
    """Who called, what about, and where to file it."""

    q = forms.CharField(
        label=_("Caller (phone or name)"),
        max_length=MAX_QUERY,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off", "autofocus": True}),
    )
    pick = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The first line becomes the subject of a new ticket. Ctrl+Enter saves."),
    )
    file_as = forms.CharField(required=False, max_length=20, initial="new")
    category = CategoryChoiceField(
        label=_("Category"),
        queryset=Category.objects.all(),
        required=False,
    )
    client = forms.ModelChoiceField(
        label=_("Client (when the caller is not a contact yet)"),
        queryset=Client.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    number = forms.CharField(label=_("Number"), max_length=40, required=False)
    direction = forms.ChoiceField(
        label=_("Direction"), choices=Direction.choices, initial=Direction.INBOUND
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    ring = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["client"].queryset = Client.objects.visible_to(user).filter(  # type: ignore[attr-defined]
            is_active=True
        )
        self.initial.setdefault("token", new_token())

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if not token.isalnum():
            raise forms.ValidationError(_("Reload the form: its token is damaged."))
        return token

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["contact"] = None
        pick = (data.get("pick") or "").strip()
        if pick:
            contact, client = self._resolve_pick(pick)
            if contact is None:
                self.add_error(None, _("That caller is no longer there; search again."))
            else:
                data["contact"], data["client"] = contact, client
        elif not data.get("client") and "client" not in self.errors:
            self.add_error(
                "client", _("Pick the caller from the matches, or the client they call for.")
            )
        data["ticket"] = None
        file_as = (data.get("file_as") or "new").strip().lstrip("#")
        if file_as != "new" and data.get("client") is not None:
            ticket = None
            if file_as.isdigit():
                ticket = (
                    Ticket.objects.visible_to(self.user)
                    .filter(number=int(file_as), client=data["client"])
                    .first()
                )
            if ticket is None:
                self.add_error(None, _("That ticket is not one of this client's."))
            data["ticket"] = ticket
        return data

    def _resolve_pick(self, pick: str) -> tuple[Contact | None, Client | None]:
        contact_id, _sep, client_id = pick.partition(":")
        try:
            contact_uuid, client_uuid = uuid.UUID(contact_id), uuid.UUID(client_id)
        except ValueError:
            return None, None
        client = Client.objects.visible_to(self.user).filter(public_id=client_uuid).first()
        contact = (
            Contact.objects.visible_to(self.user)
            .filter(public_id=contact_uuid, memberships__client=client)
            .first()
            if client
            else None
        )
        return contact, client


class PhoneSystemForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)

"""The account page: language and time zone, password, two-factor sign-in, API tokens.

Every signed-in person has one (staff and portal users alike); two-factor enrolment is
for staff. Each form posts to its own URL and every write goes through core.services.
A new token's raw value is rendered in the response to the POST that created it and
never stored, so it is shown exactly once.
"""

from __future__ import annotations

from typing import Any

import pyotp
from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from atalaya.core import services
from atalaya.core.forms import time_zone_choices
from atalaya.core.models import ApiToken, Language, User

# The secret being enrolled waits in the session until the user proves their app has it.
PENDING_TOTP_SECRET = "atalaya_totp_enrolment"
TOTP_ISSUER = "Atalaya"


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=Language.choices)
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"), choices=time_zone_choices)


class PasswordForm(forms.Form):
    current_password = forms.CharField(
        label=gettext_lazy("Current password"),
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput,
    )
    new_password = forms.CharField(
        label=gettext_lazy("New password"), max_length=1000, strip=False, widget=forms.PasswordInput
    )
    new_password_again = forms.CharField(
        label=gettext_lazy("New password again"),
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", _("The two new passwords differ."))
        return data


class TotpCodeForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code from your authenticator app"), max_length=12)


class TotpDisableForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput,
    )


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("What is the token for?"), max_length=100)


def _me(request: HttpRequest) -> User:
    """The signed-in user (every view here is behind login_required)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's field errors on the form, on the field when the form has one."""
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _page(request: HttpRequest, status: int = 200, **forms_and_extra: Any) -> HttpResponse:
    user = _me(request)
    pending = request.session.get(PENDING_TOTP_SECRET, "")
    context: dict[str, Any] = {
        "preferences_form": PreferencesForm(
            initial={"language": user.language, "time_zone": user.time_zone}
        ),
        "password_form": PasswordForm(),
        "totp_code_form": TotpCodeForm(),
        "totp_disable_form": TotpDisableForm(),
        "token_form": TokenForm(),
        "can_use_totp": user.is_msp_staff,
        "totp_pending_secret": pending if user.is_msp_staff and not user.has_totp else "",
        "totp_uri": (
            pyotp.TOTP(pending).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
            if pending
            else ""
        ),
        "tokens": list(ApiToken.objects.filter(user=user).order_by("-created_at")),
        "new_token": None,
    }
    context.update(forms_and_extra)
    return render(request, "core/account.html", context, status=status)


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    """The account page with all its forms."""
    return _page(request)


@login_required
@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    """Save language and time zone; the next page is already shown in them."""
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            services.update_preferences(
                actor=_me(request),
                user=_me(request),
                language=form.cleaned_data["language"],
                time_zone=form.cleaned_data["time_zone"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Your preferences are saved."))
            return redirect("account")
    return _page(request, status=400, preferences_form=form)


@login_required
@require_POST
def password(request: HttpRequest) -> HttpResponse:
    """Change one's password; this session stays signed in, the others are signed out."""
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            services.change_password(
                user=_me(request),
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            update_session_auth_hash(request, _me(request))
            messages.success(request, _("Your password is changed."))
            return redirect("account")
    return _page(request, status=400, password_form=form)


def _require_staff(request: HttpRequest) -> User:
    user = _me(request)
    if not user.is_msp_staff:
        raise PermissionDenied(_("Two-factor sign-in is for staff accounts."))
    return user


@login_required
@require_POST
def totp_start(request: HttpRequest) -> HttpResponse:
    """Begin enrolment: a new secret to add to an authenticator app, not active until confirmed."""
    user = _require_staff(request)
    if user.has_totp:
        messages.info(request, _("Two-factor sign-in is already on."))
        return redirect("account")
    request.session[PENDING_TOTP_SECRET] = services.new_totp_secret()
    return redirect("/account/#totp")


@login_required
@require_POST
def totp_confirm(request: HttpRequest) -> HttpResponse:
    """Finish enrolment with a code from the app; only then does sign-in ask for codes."""
    user = _require_staff(request)
    secret = request.session.get(PENDING_TOTP_SECRET, "")
    form = TotpCodeForm(request.POST)
    if not secret:
        form.is_valid()
        form.add_error(None, _("Start the set-up first."))
    elif form.is_valid():
        try:
            services.enable_totp(user=user, secret=secret, code=form.cleaned_data["code"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            del request.session[PENDING_TOTP_SECRET]
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect("account")
    return _page(request, status=400, totp_code_form=form)


@login_required
@require_POST
def totp_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor sign-in off, after proving the password again."""
    user = _require_staff(request)
    form = TotpDisableForm(request.POST)
    if form.is_valid() and not user.check_password(form.cleaned_data["password"]):
        form.add_error("password", _("That is not your password."))
    if form.is_valid():
        services.disable_totp(actor=user, user=user)
        messages.success(request, _("Two-factor sign-in is off."))
        return redirect("account")
    return _page(request, status=400, totp_disable_form=form)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Issue an API token and show its value once, in this response only."""
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = services.create_api_token(
                actor=_me(request),
                user=_me(request),
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            response = _page(request, new_token={"token": token, "raw": raw})
            # The raw value must not linger in a browser or proxy cache.
            response["Cache-Control"] = "no-store"
            return response
    return _page(request, status=400, token_form=form)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of one's own tokens; requests with it fail from now on."""
    token = ApiToken.objects.filter(pk=token_id, user=_me(request)).first()
    if token is None:
        raise Http404("No such token")
    services.revoke_api_token(actor=_me(request), token=token)
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("account")

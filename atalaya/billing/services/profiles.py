"""A client's billing profile and the MSP's billing settings: validated, audited writes.

Tax ids are stored in the compact form python-stdnum gives (a NIF, NIE, CIF or an EU
VAT number with its country prefix), IBANs as schwifty compacts them and the SEPA
creditor identifier as stdnum's AT-02 check accepts it, so an invoice or a pain.008
file never carries a number that a bank or the tax office would refuse.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from stdnum.eu import at_02
from stdnum.exceptions import ValidationError as StdnumError

from atalaya.billing.models import BillingProfile, BillingSettings, can_write_billing
from atalaya.billing.taxids import validate_iban, validate_tax_id
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit

PROFILE_FIELDS = (
    "tax_id",
    "address",
    "postal_code",
    "city",
    "country",
    "invoice_email",
    "payment_terms_days",
)
SETTINGS_FIELDS = (
    "legal_name",
    "tax_id",
    "address",
    "email",
    "iban",
    "bic",
    "creditor_id",
    "prenotification_days",
    "bank_data_max_age_hours",
)


def _field_error(errors: dict[str, list[str]], field: str, exc: ValidationError) -> None:
    errors.setdefault(field, []).extend(exc.messages)


def clean_profile(data: dict[str, Any]) -> dict[str, Any]:
    """The profile's values checked; a ValidationError names each wrong field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    raw_tax = str(data.get("tax_id") or "").strip()
    if raw_tax:
        try:
            out["tax_id"] = validate_tax_id(raw_tax).value
        except ValidationError as exc:
            _field_error(errors, "tax_id", exc)
    else:
        out["tax_id"] = ""
    for name, limit in (("address", 1000), ("postal_code", 12), ("city", 100)):
        value = str(data.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = [_("At most %(n)d characters.") % {"n": limit}]
        out[name] = value
    country = str(data.get("country") or "ES").strip().upper()
    if len(country) != 2 or not country.isalpha():
        errors["country"] = [_("A two-letter country code (ES, PT, FR…).")]
    out["country"] = country
    email = str(data.get("invoice_email") or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["invoice_email"] = [_("Enter a valid e-mail address.")]
    out["invoice_email"] = email.lower()
    terms = data.get("payment_terms_days", 30)
    try:
        terms = int(terms)
    except (TypeError, ValueError):
        terms = -1
    if not 0 <= terms <= 365:
        errors["payment_terms_days"] = [_("Payment terms are 0 to 365 days.")]
    out["payment_terms_days"] = terms
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def save_billing_profile(*, actor: User | None, client: Client, **data: Any) -> BillingProfile:
    """Create or change a client's billing profile; issued invoices keep their snapshot."""
    if actor is not None and not can_write_billing(actor):
        raise PermissionDenied(_("Your role may not change billing."))
    values = clean_profile(data)
    profile, _created = BillingProfile.objects.select_for_update().get_or_create(client=client)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    for name, value in values.items():
        setattr(profile, name, value)
    profile.save()
    record_audit(actor, client, "billing_profile.save", client=client, before=before, after=values)
    return profile


@transaction.atomic
def save_billing_settings(*, actor: User | None, **data: Any) -> BillingSettings:
    """Change the MSP's billing identity (administrators only): tax id, IBAN, creditor id."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may change the billing settings."))
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    values["legal_name"] = " ".join(str(data.get("legal_name") or "").split())[:200]
    if not values["legal_name"]:
        errors["legal_name"] = [_("The MSP's legal name is required.")]
    try:
        values["tax_id"] = validate_tax_id(str(data.get("tax_id") or "")).value
    except ValidationError as exc:
        _field_error(errors, "tax_id", exc)
    values["address"] = str(data.get("address") or "").strip()[:1000]
    email = str(data.get("email") or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    values["email"] = email
    iban, bic = str(data.get("iban") or "").strip(), str(data.get("bic") or "").strip()
    if iban:
        try:
            account = validate_iban(iban, bic)
            values["iban"], values["bic"] = account.iban, account.bic
        except ValidationError as exc:
            _field_error(errors, "bic" if "BIC" in " ".join(exc.messages) else "iban", exc)
    else:
        values["iban"], values["bic"] = "", bic
    creditor = "".join(str(data.get("creditor_id") or "").split()).upper()
    if creditor:
        try:
            values["creditor_id"] = at_02.validate(creditor)
        except StdnumError:
            errors["creditor_id"] = [
                _("“%(value)s” is not a valid SEPA creditor identifier.") % {"value": creditor[:40]}
            ]
    else:
        values["creditor_id"] = ""
    for name, low, high in (
        ("prenotification_days", 1, 60),
        ("bank_data_max_age_hours", 1, 24 * 30),
    ):
        try:
            number = int(data.get(name))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = -1
        if not low <= number <= high:
            errors[name] = [
                _("A whole number from %(low)d to %(high)d.") % {"low": low, "high": high}
            ]
        values[name] = number
    if errors:
        raise ValidationError(errors)
    row = BillingSettings.load()
    before = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    record_audit(actor, row, "billing_settings.save", before=before, after=values)
    return row

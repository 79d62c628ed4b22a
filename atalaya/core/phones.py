"""Phone numbers: stored in E.164, found however they were typed.

Contacts and clients keep their numbers as E.164 ("+34612345678", parsed by the
``phonenumbers`` library, Google's libphonenumber), so the same line typed as
"612 34 56 78", "+34 612-345-678" or "0034612345678" is one value. Numbers without an
international prefix are read in a region: the client's country (from its time zone)
or ``settings.PHONE_REGION`` (env ATALAYA_PHONE_REGION) (default "ES").

For lookups every stored number also keeps its digits reversed
(``Contact.phone_digits_rev``): a suffix of the number ("the last six digits") is then
a prefix of that column, which an ordinary B-tree index answers as a range on SQLite
and PostgreSQL alike (a ``LIKE '%…'`` could not use an index).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DEFAULT_REGION = "ES"
# Fewer trailing digits than this match too many lines to mean anything.
MIN_SUFFIX_DIGITS = 6
# ITU-T E.164: at most 15 digits after the "+".
MAX_DIGITS = 15
ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")


def default_region() -> str:
    """The install's region for numbers typed without a country code."""
    region = str(getattr(settings, "PHONE_REGION", "") or DEFAULT_REGION).upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


@functools.cache
def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO country, from the system's zone.tab (read once; empty if missing)."""
    countries: dict[str, str] = {}
    try:
        text = ZONE_TAB.read_text(encoding="utf-8")
    except OSError:
        return countries
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            countries[parts[2]] = parts[0]
    return countries


def region_for_zone(time_zone: str | None) -> str:
    """The phone region of a time zone's country ("Atlantic/Canary" → "ES"), else the default.

    Clients carry no country field; their business-hours zone names it well enough for
    reading local numbers (a client in Lisbon types Portuguese numbers).
    """
    country = _zone_countries().get(time_zone or "", "")
    return country if country in phonenumbers.SUPPORTED_REGIONS else default_region()


def region_for(client: Any | None) -> str:
    """The region a client's (or its contacts') local numbers are read in."""
    return region_for_zone(getattr(client, "time_zone", None)) if client else default_region()


def _prepared(text: str) -> str:
    # "0034…" is how Spain (and most of Europe) dials abroad; phonenumbers reads it only
    # from a region whose exit code is 00, so make it the "+" it means.
    value = text.strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    return value


def to_e164(text: str, region: str | None = None, *, field: str = "phone") -> str:
    """``text`` as E.164, or "" for an empty value; a ValidationError naming the problem.

    ``region`` reads numbers typed without a country code; default: the install's.
    """
    value = (text or "").strip()
    if not value:
        return ""
    if len(value) > 40:
        raise ValidationError({field: [_("A phone number has at most 40 characters.")]})
    if not any(c.isdigit() for c in value):
        raise ValidationError(
            {field: [_("“%(value)s” has no digits: it is not a phone number.") % {"value": value}]}
        )
    try:
        number = phonenumbers.parse(_prepared(value), (region or default_region()).upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({field: [_parse_problem(value, exc)]}) from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        where = {"value": value, "region": _region_of(number, region)}
        if reason == phonenumbers.ValidationResult.TOO_SHORT:
            message = _("%(value)s is too short for a phone number of %(region)s.") % where
        elif reason == phonenumbers.ValidationResult.TOO_LONG:
            message = _("%(value)s is too long for a phone number of %(region)s.") % where
        else:
            message = (
                _("%(value)s has the wrong number of digits for a phone number of %(region)s.")
                % where
            )
        raise ValidationError({field: [message]})
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            {
                field: [
                    _("%(value)s is not a valid phone number in %(region)s.")
                    % {"value": value, "region": _region_of(number, region)}
                ]
            }
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _region_of(number: phonenumbers.PhoneNumber, region: str | None) -> str:
    code = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if code in ("ZZ", "001"):
        return f"+{number.country_code}"
    return code or (region or default_region())


def _parse_problem(value: str, exc: phonenumbers.NumberParseException) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return _("%(value)s starts with an unknown country code.") % {"value": value}
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return _("%(value)s is too short for a phone number.") % {"value": value}
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return _("%(value)s is too long for a phone number.") % {"value": value}
    return _("%(value)s is not a phone number.") % {"value": value}


def try_e164(text: str, region: str | None = None) -> str | None:
    """``text`` as E.164, or None when it is not a valid number (for lookups)."""
    try:
        return to_e164(text, region) or None
    except ValidationError:
        return None


def digits_for_search(text: str) -> str:
    """The digits of a typed query ("+34 612-34" → "3461234"); everything else dropped."""
    return "".join(c for c in (text or "") if c.isascii() and c.isdigit())[: MAX_DIGITS + 4]


def reversed_digits(e164: str) -> str:
    """The stored search key of a number: its digits, last first ("+34612" → "21643")."""
    return digits_for_search(e164)[::-1]


def display(e164: str) -> str:
    """A stored number the way people read it ("+34 612 34 56 78"); other text as it is."""
    if not e164 or not e164.startswith("+"):
        return e164 or ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def search_keys(query: str, region: str | None = None) -> tuple[str | None, str | None]:
    """(E.164 form, reversed suffix) a query can match numbers by; either may be None.

    "612 34 56 78", "+34612345678" and "0034 612 345 678" all give the E.164 form; a
    run of at least six digits ("345678", "56 78 90 12") also matches as the end of a
    number, with any national or international prefix the query carried left off by
    matching only its trailing digits.
    """
    e164 = try_e164(query, region) if digits_for_search(query) else None
    digits = digits_for_search(query)
    if digits.startswith("00"):
        digits = digits[2:]
    suffix = digits[::-1] if len(digits) >= MIN_SUFFIX_DIGITS else None
    return e164, suffix


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """[low, high) of the strings that start with ``prefix`` (digits only).

    Written as a range so any B-tree index serves it, whatever the collation; the
    high end is the prefix "plus one" ("129" → "13"), None when it is all nines.
    """
    trimmed = prefix.rstrip("9")
    if not trimmed:
        return prefix, None
    return prefix, trimmed[:-1] + str(int(trimmed[-1]) + 1)

"""Phone numbers in E.164: typed any usual way, refused with a reason, found by any form."""

from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ValidationError

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent, Client, Contact
from atalaya.core.phones import (
    digits_for_search,
    display,
    prefix_range,
    region_for_zone,
    search_keys,
    to_e164,
)


@pytest.mark.parametrize(
    "typed",
    ["612 34 56 78", "+34 612-345-678", "0034612345678", "612345678", " +34 (612) 34.56.78 "],
)
def test_usual_spanish_forms_are_one_number(typed: str) -> None:
    assert to_e164(typed, "ES") == "+34612345678"


def test_landline_with_area_code_in_brackets() -> None:
    assert to_e164("(91) 123 45 67", "ES") == "+34911234567"


def test_region_reads_local_numbers() -> None:
    assert to_e164("020 7946 0958", "GB") == "+442079460958"
    assert region_for_zone("Atlantic/Canary") == "ES"
    assert region_for_zone("Europe/Lisbon") == "PT"
    assert region_for_zone("Not/AZone") == "ES"  # the install's default
    assert to_e164("") == ""


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("hello", "no digits"),
        ("12", "too short"),
        ("+999 123 456 789", "unknown country code"),
        ("612 34 56", "too short"),
        ("612 34 56 78 90 12", "too long"),
        ("+34 412 345 678", "not a valid phone number"),
        ("1" * 41, "at most 40"),
    ],
)
def test_invalid_numbers_say_why(typed: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        to_e164(typed, "ES")
    assert list(caught.value.message_dict) == ["phone"]
    assert problem in caught.value.message_dict["phone"][0]


def test_search_keys_and_ranges() -> None:
    assert digits_for_search("+34 (612) 34-56") == "346123456"
    assert search_keys("612 34 56 78", "ES") == ("+34612345678", "876543216")
    assert search_keys("0034 612345678", "ES") == ("+34612345678", "87654321643")
    assert search_keys("5678", "ES") == (None, None)  # too few digits to mean one line
    assert search_keys("345678", "ES") == (None, "876543")
    assert prefix_range("129") == ("129", "13")
    assert prefix_range("99") == ("99", None)
    assert display("+34612345678") == "+34 612 34 56 78"


def test_services_store_e164_and_refuse_bad_numbers(world: World) -> None:
    contact = core_services.create_contact(
        actor=world.tech, clients=[world.client_a], name="Marta", phone="612 34 56 78"
    )
    assert contact.phone == "+34612345678" and contact.phone_digits_rev == "87654321643"
    with pytest.raises(ValidationError) as caught:
        core_services.create_contact(
            actor=world.tech, clients=[world.client_a], name="Bad", phone="12"
        )
    assert "phone" in caught.value.message_dict
    core_services.set_contact_phone(actor=world.tech, contact=contact, phone="(91) 123 45 67")
    contact.refresh_from_db()
    assert contact.phone == "+34911234567" and contact.phone_digits_rev == "76543211943"
    assert AuditEvent.objects.filter(object_id=str(contact.public_id), action="phone_changed")
    client = core_services.update_client(
        actor=world.admin, client=world.client_a, phone="0034 922 123 456"
    )
    assert client.phone == "+34922123456"
    new = core_services.create_client(
        actor=world.admin, name="Lisboa Lda", time_zone="Europe/Lisbon", phone="212 345 678"
    )
    assert new.phone == "+351212345678"


def test_contact_form_shows_the_problem_on_the_phone_field(world: World) -> None:
    from atalaya.core.forms import ContactForm

    form = ContactForm(
        {"name": "X", "phone": "612", "language": "es", "time_zone": "Europe/Madrid"},
        client=world.client_a,
    )
    assert not form.is_valid() and "too short" in form.errors["phone"][0]
    ok = ContactForm(
        {"name": "X", "phone": "612345678", "language": "es", "time_zone": "Europe/Madrid"},
        client=world.client_a,
    )
    assert ok.is_valid() and ok.cleaned_data["phone"] == "+34612345678"


def test_migration_normalises_existing_numbers(world: World) -> None:
    """Numbers typed before E.164 are rewritten; one that cannot be read is kept as typed."""
    from django.apps import apps

    Contact.objects.filter(pk=world.contact_a.pk).update(phone="612 34 56 78", phone_digits_rev="")
    Contact.objects.filter(pk=world.contact_b.pk).update(phone="ask reception")
    Client.objects.filter(pk=world.client_a.pk).update(phone="0034 91 123 45 67")
    migration = importlib.import_module("atalaya.core.migrations.0004_phones_e164")
    migration.normalise_phones(apps, None)
    a = Contact.objects.get(pk=world.contact_a.pk)
    assert (a.phone, a.phone_digits_rev) == ("+34612345678", "87654321643")
    assert Contact.objects.get(pk=world.contact_b.pk).phone == "ask reception"
    assert Client.objects.get(pk=world.client_a.pk).phone == "+34911234567"

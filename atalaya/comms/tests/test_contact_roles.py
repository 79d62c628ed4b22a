"""Contacts' role flags, set by staff when adding a contact, feed the role audiences."""

from __future__ import annotations

from django.urls import reverse

from atalaya.comms import services
from atalaya.comms.models import Audience, ContactRole
from atalaya.comms.tests.helpers import announce
from atalaya.conftest import World
from atalaya.core.models import AuditEvent, ContactMembership
from atalaya.mail.models import OutboundMessage


def test_admin_sets_roles_on_a_new_and_an_attached_contact(world: World) -> None:
    http = world.http(world.admin)
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    response = http.post(
        url,
        {
            "action": "new",
            "new-name": "Bea Boss",
            "new-email": "bea@alfa.example",
            "new-language": "en",
            "new-time_zone": "Europe/Madrid",
            "new-is_decision_maker": "on",
            "new-is_billing": "on",
        },
    )
    assert response.status_code == 302
    bea = ContactMembership.objects.get(contact__email="bea@alfa.example")
    assert (bea.is_decision_maker, bea.is_technical, bea.is_billing, bea.is_user) == (
        True,
        False,
        True,
        False,
    )
    created = AuditEvent.objects.get(
        object_type="contact", action="created", object_id=str(bea.contact.public_id)
    )
    assert created.after == {
        "name": "Bea Boss",
        "is_decision_maker": True,
        "is_billing": True,
        "is_user": False,
    }
    # Contact B also becomes client A's technical contact.
    response = http.post(
        url,
        {
            "action": "attach",
            "attach-contact": str(world.contact_b.public_id),
            "attach-is_technical": "on",
            "attach-is_user": "on",
        },
    )
    assert response.status_code == 302
    attached = ContactMembership.objects.get(contact=world.contact_b, client=world.client_a)
    assert attached.is_technical and attached.is_user and not attached.is_decision_maker

    bosses = announce(world.tech, audience=Audience.ROLE, role=ContactRole.DECISION_MAKER)
    services.send_announcement(actor=world.tech, announcement=bosses)
    assert list(
        OutboundMessage.objects.filter(announcement=bosses).values_list("to_address", flat=True)
    ) == ["bea@alfa.example"]
    techs = announce(world.tech, audience=Audience.ROLE, role=ContactRole.TECHNICAL)
    services.send_announcement(actor=world.tech, announcement=techs)
    mail = OutboundMessage.objects.get(announcement=techs)
    assert (mail.to_address, mail.client_id) == ("ana@beta.example", world.client_a.pk)


def test_the_form_shows_the_role_checkboxes(world: World) -> None:
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    text = world.http(world.admin).get(url).content.decode()
    for name in ("is_decision_maker", "is_technical", "is_billing", "is_user"):
        assert f'name="new-{name}"' in text and f'name="attach-{name}"' in text

"""Client pages: the permission matrix, what the pages show, the admin forms, query counts."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import (
    AuditEvent,
    Client,
    ContactMembership,
    Holiday,
    MailDomain,
    Site,
    User,
)
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Status


def detail(client: Client) -> str:
    return reverse("client_detail", args=[client.public_id])


def form_urls(world: World) -> dict[str, str]:
    a = world.client_a.public_id
    return {
        "create": reverse("client_create"),
        "edit": reverse("client_edit", args=[a]),
        "site": reverse("client_site_add", args=[a]),
        "holiday": reverse("client_holiday_add", args=[a]),
        "domain": reverse("client_mail_domain_add", args=[a]),
        "contact": reverse("client_contact_add", args=[a]),
        "portal": reverse("client_portal_login_add", args=[a, world.contact_a.public_id]),
    }


CLIENT_FORM = {
    "name": "Gamma Gestoría",
    "legal_name": "Gamma Gestoría S.L.",
    "language": "es",
    "time_zone": "Atlantic/Canary",
    "phone": "+34 922 000 000",
    "working_days": ["1", "2", "3", "4"],
    "workday_starts_at": "08:00",
    "workday_ends_at": "15:00",
    "notes": "",
}


# -- permission matrix ---------------------------------------------------------------------


def test_staff_read_client_pages(world: World) -> None:
    for user in (world.admin, world.tech, world.readonly, world.billing):
        http = world.http(user)
        assert http.get(reverse("client_list")).status_code == 200
        assert http.get(detail(world.client_a)).status_code == 200
        assert http.get(detail(world.client_b)).status_code == 200


def test_non_staff_get_404_everywhere(world: World) -> None:
    pages = [reverse("client_list"), detail(world.client_a), detail(world.client_b)]
    forms = list(form_urls(world).values())
    for user in (world.portal_a, world.portal_b):
        http = world.http(user)
        for url in pages + forms:
            assert http.get(url).status_code == 404, (user.username, url)
        for url in forms:
            assert http.post(url, CLIENT_FORM).status_code == 404, (user.username, url)
    assert not Client.objects.filter(name="Gamma Gestoría").exists()


def test_anonymous_users_are_sent_to_sign_in(world: World) -> None:
    for url in [reverse("client_list"), detail(world.client_a), *form_urls(world).values()]:
        response = world.http(None).get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_unknown_client_is_404(world: World) -> None:
    http = world.http(world.admin)
    assert http.get("/clients/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert http.get("/clients/00000000-0000-0000-0000-000000000000/edit/").status_code == 404
    other = reverse(
        "client_portal_login_add", args=[world.client_a.public_id, world.contact_b.public_id]
    )
    assert http.get(other).status_code == 404  # contact_b is not a contact of client A


def test_non_admin_staff_get_403_on_forms(world: World) -> None:
    for user in (world.tech, world.readonly, world.billing):
        http = world.http(user)
        for name, url in form_urls(world).items():
            assert http.get(url).status_code == 403, (user.username, name)
            assert http.post(url, CLIENT_FORM).status_code == 403, (user.username, name)
    assert not Client.objects.filter(name="Gamma Gestoría").exists()


def test_admin_opens_every_form(world: World) -> None:
    http = world.http(world.admin)
    for name, url in form_urls(world).items():
        assert http.get(url).status_code == 200, name


def test_wrong_methods_are_405(world: World) -> None:
    http = world.http(world.admin)
    assert http.post(reverse("client_list")).status_code == 405
    assert http.post(detail(world.client_a)).status_code == 405
    assert http.delete(detail(world.client_a)).status_code == 405
    for name, url in form_urls(world).items():
        assert http.put(url).status_code == 405, name
        assert http.delete(url).status_code == 405, name


# -- list and detail -------------------------------------------------------------------------


def test_client_list_shows_open_ticket_counts(world: World) -> None:
    done = ticket_services.create_ticket(actor=world.tech, client=world.client_a, subject="done")
    ticket_services.change_status(done, actor=world.tech, status=Status.CLOSED)
    ticket_services.create_ticket(actor=world.tech, client=world.client_a, subject="second")
    response = world.http(world.tech).get(reverse("client_list"))
    counts = {c.name: c.open_count for c in response.context["page"]}
    assert counts == {"Alfa Asesores": 2, "Beta Bodegas": 1}
    assert (
        reverse("tickets:list") + f"?client={world.client_a.public_id}" in response.content.decode()
    )


def test_client_list_filter(world: World) -> None:
    response = world.http(world.tech).get(reverse("client_list"), {"q": "beta"})
    assert [c.name for c in response.context["page"]] == ["Beta Bodegas"]


def test_client_list_query_count(world: World, django_assert_max_num_queries: Any) -> None:
    for i in range(25):
        client = core_services.create_client(actor=None, name=f"Client {i:02}")
        for j in range(2):
            ticket_services.create_ticket(actor=world.tech, client=client, subject=f"t{j}")
    http = world.http(world.readonly)
    # Session, user, the page's count and the page itself.
    with django_assert_max_num_queries(4):
        response = http.get(reverse("client_list"))
    assert len(response.context["page"]) == 27
    assert all(c.open_count == 2 for c in response.context["page"] if c.name.startswith("Client"))


def test_client_page_shows_everything(world: World) -> None:
    core_services.add_holidays(
        actor=None, client=world.client_a, days=[(date(2099, 1, 6), "Reyes")]
    )
    core_services.add_contact_to_client(
        actor=None,
        contact=world.contact_b,
        client=world.client_a,
        job_title="Outsourced accountant",
    )
    closed = ticket_services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Old printer"
    )
    ticket_services.change_status(closed, actor=world.tech, status=Status.CLOSED)
    html = world.http(world.tech).get(detail(world.client_a)).content.decode()
    for text in (
        "Reyes",
        "alfa.example",
        "HQ",
        "Contact of Alfa Asesores",
        "Contact of Beta Bodegas",
        "Outsourced accountant",
        "portal@alfa.example",
        "VPN does not connect",
        "Old printer",
        "Client created",
    ):
        assert text in html, text
    # The contact of both clients links to the other client's page.
    assert detail(world.client_b) in html
    # The other client's tickets are not on this page.
    assert "Printer jammed" not in html
    # Only admins see the form links.
    assert reverse("client_edit", args=[world.client_a.public_id]) not in html
    admin_html = world.http(world.admin).get(detail(world.client_a)).content.decode()
    assert reverse("client_edit", args=[world.client_a.public_id]) in admin_html
    # Contact B already has a login; a contact without one gets a link to create it.
    assert "/portal-login/" not in admin_html
    marta = core_services.create_contact(actor=None, clients=[world.client_a], name="Marta")
    admin_html = world.http(world.admin).get(detail(world.client_a)).content.decode()
    assert (
        reverse("client_portal_login_add", args=[world.client_a.public_id, marta.public_id])
        in admin_html
    )


def test_client_page_escapes_user_text(world: World) -> None:
    client = core_services.create_client(
        actor=None, name="<script>alert(1)</script>", notes="<img src=x onerror=alert(1)>"
    )
    html = world.http(world.tech).get(detail(client)).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_client_page_query_count_is_fixed(world: World, django_assert_max_num_queries: Any) -> None:
    http = world.http(world.readonly)
    with django_assert_max_num_queries(15) as baseline:
        http.get(detail(world.client_a))
    for i in range(8):
        contact = core_services.create_contact(
            actor=None,
            clients=[world.client_a, world.client_b],
            name=f"P{i}",
            email=f"p{i}@alfa.example",
        )
        core_services.create_portal_user(
            actor=None, contact=contact, username=f"p{i}", password="x" * 12
        )
        core_services.add_site(actor=None, client=world.client_a, name=f"Site {i}")
        ticket = ticket_services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            subject=f"T{i}",
            contact=contact,
            assignee=world.tech,
        )
        if i % 2:
            ticket_services.change_status(ticket, actor=world.tech, status=Status.RESOLVED)
    with django_assert_max_num_queries(len(baseline)):
        response = http.get(detail(world.client_a))
    assert len(response.context["memberships"]) == 9


# -- forms -----------------------------------------------------------------------------------


def test_admin_creates_a_client(world: World) -> None:
    response = world.http(world.admin).post(reverse("client_create"), CLIENT_FORM)
    client = Client.objects.get(name="Gamma Gestoría")
    assert response.status_code == 302 and response["Location"] == detail(client)
    assert client.working_days == "1234" and client.workday_starts_at == time(8)
    assert client.time_zone == "Atlantic/Canary"
    event = AuditEvent.objects.get(client=client, action="created")
    assert event.actor == world.admin


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"workday_starts_at": "18:00", "workday_ends_at": "09:00"}, "workday_ends_at"),
        ({"working_days": []}, "working_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "Alfa Asesores"}, "name"),
    ],
)
def test_client_form_errors(world: World, change: dict[str, Any], field: str) -> None:
    response = world.http(world.admin).post(reverse("client_create"), {**CLIENT_FORM, **change})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert Client.objects.count() == 2


def test_admin_edits_business_hours_with_audit(world: World) -> None:
    data = {**CLIENT_FORM, "name": "Alfa Asesores", "is_active": "on", "workday_ends_at": "14:00"}
    response = world.http(world.admin).post(
        reverse("client_edit", args=[world.client_a.public_id]), data
    )
    assert response.status_code == 302
    world.client_a.refresh_from_db()
    assert world.client_a.workday_ends_at == time(14) and world.client_a.working_days == "1234"
    event = AuditEvent.objects.get(client=world.client_a, action="updated")
    assert (
        event.before["workday_ends_at"] == "18:00:00"
        and event.after["workday_ends_at"] == "14:00:00"
    )
    assert "name" not in event.after
    # Leaving the box unticked deactivates the client.
    data.pop("is_active")
    world.http(world.admin).post(reverse("client_edit", args=[world.client_a.public_id]), data)
    world.client_a.refresh_from_db()
    assert world.client_a.is_active is False


def test_edit_form_starts_from_the_clients_values(world: World) -> None:
    form = (
        world.http(world.admin)
        .get(reverse("client_edit", args=[world.client_a.public_id]))
        .context["form"]
    )
    assert form.initial["name"] == "Alfa Asesores" and form.initial["working_days"] == list("12345")


def test_admin_adds_a_site(world: World) -> None:
    url = reverse("client_site_add", args=[world.client_a.public_id])
    http = world.http(world.admin)
    assert (
        http.post(
            url, {"name": "Warehouse", "address": "Calle 1", "time_zone": "Europe/Madrid"}
        ).status_code
        == 302
    )
    assert Site.objects.filter(client=world.client_a, name="Warehouse").exists()
    assert AuditEvent.objects.filter(
        client=world.client_a, object_type="site", action="created"
    ).exists()
    # Site names are unique per client.
    response = http.post(url, {"name": "Warehouse", "time_zone": "Europe/Madrid"})
    assert response.status_code == 400


def test_admin_adds_a_holiday(world: World) -> None:
    url = reverse("client_holiday_add", args=[world.client_a.public_id])
    http = world.http(world.admin)
    assert http.post(url, {"date": "2099-12-25", "name": "Navidad"}).status_code == 302
    assert Holiday.objects.filter(client=world.client_a, date=date(2099, 12, 25)).exists()
    assert AuditEvent.objects.filter(client=world.client_a, action="holidays_added").exists()
    response = http.post(url, {"date": "2099-12-25", "name": "again"})
    assert response.status_code == 400 and "date" in response.context["form"].errors
    assert http.post(url, {"date": "not a date"}).status_code == 400


def test_admin_adds_a_mail_domain(world: World) -> None:
    url = reverse("client_mail_domain_add", args=[world.client_a.public_id])
    http = world.http(world.admin)
    assert http.post(url, {"domain": " @Alfa-Asesores.ES. "}).status_code == 302
    assert MailDomain.objects.get(domain="alfa-asesores.es").client == world.client_a
    assert AuditEvent.objects.filter(client=world.client_a, action="mail_domain_added").exists()
    for bad in ("not a domain", "beta.example", "a..b"):
        response = http.post(url, {"domain": bad})
        assert response.status_code == 400, bad
        assert "domain" in response.context["form"].errors
    assert MailDomain.objects.get(domain="beta.example").client == world.client_b


def test_admin_adds_a_new_contact(world: World) -> None:
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    response = world.http(world.admin).post(
        url,
        {
            "action": "new",
            "new-name": "Luis",
            "new-email": "Luis@Alfa.example",
            "new-phone": "",
            "new-job_title": "CEO",
            "new-language": "es",
            "new-time_zone": "Europe/Madrid",
            "new-site": str(world.site_a.public_id),
        },
    )
    assert response.status_code == 302
    membership = ContactMembership.objects.get(contact__email="luis@alfa.example")
    assert membership.client == world.client_a and membership.site == world.site_a
    assert membership.job_title == "CEO"


def test_new_contact_cannot_take_another_clients_site(world: World) -> None:
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    response = world.http(world.admin).post(
        url,
        {
            "action": "new",
            "new-name": "Luis",
            "new-language": "es",
            "new-time_zone": "Europe/Madrid",
            "new-site": str(world.site_b.public_id),
        },
    )
    assert response.status_code == 400 and "site" in response.context["new_form"].errors


def test_admin_attaches_an_existing_contact_to_another_client(world: World) -> None:
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    http = world.http(world.admin)
    page = http.get(url)
    choices = [str(v) for v, _ in page.context["attach_form"].fields["contact"].choices if v]
    # Contacts already at this client are not offered.
    assert (
        str(world.contact_b.public_id) in choices and str(world.contact_a.public_id) not in choices
    )
    response = http.post(
        url,
        {
            "action": "attach",
            "attach-contact": str(world.contact_b.public_id),
            "attach-job_title": "Advisor",
        },
    )
    assert response.status_code == 302
    assert set(world.contact_b.clients.all()) == {world.client_a, world.client_b}
    assert AuditEvent.objects.filter(client=world.client_a, action="added_to_client").exists()
    # The contact's portal login now sees both clients.
    assert set(Client.objects.visible_to(world.portal_b)) == {world.client_a, world.client_b}
    again = http.post(url, {"action": "attach", "attach-contact": str(world.contact_b.public_id)})
    assert again.status_code == 400


def test_contact_form_without_action_is_400(world: World) -> None:
    url = reverse("client_contact_add", args=[world.client_a.public_id])
    assert world.http(world.admin).post(url, {"new-name": "x"}).status_code == 400


def test_admin_gives_a_contact_a_portal_login(world: World) -> None:
    contact = core_services.create_contact(
        actor=None, clients=[world.client_a], name="Marta", email="marta@alfa.example"
    )
    url = reverse("client_portal_login_add", args=[world.client_a.public_id, contact.public_id])
    http = world.http(world.admin)
    assert http.get(url).context["form"].initial["username"] == "marta@alfa.example"
    mismatch = http.post(
        url,
        {
            "username": "marta",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-2",
        },
    )
    assert mismatch.status_code == 400
    taken = http.post(
        url,
        {
            "username": "portal@beta.example",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert taken.status_code == 400 and "username" in taken.context["form"].errors
    response = http.post(
        url,
        {
            "username": "marta@alfa.example",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="marta@alfa.example")
    assert user.is_portal and user.contact == contact and user.check_password("a-long-passphrase-1")
    assert AuditEvent.objects.filter(
        client=world.client_a, object_type="user", action="created"
    ).exists()
    # A second login for the same contact is refused.
    again = http.post(
        url,
        {
            "username": "marta2",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert again.status_code == 400 and User.objects.filter(contact=contact).count() == 1
    assert "already has a portal login" in http.get(url).content.decode()


def test_update_client_service_rules(world: World) -> None:
    with pytest.raises(core_services.PermissionDenied):
        core_services.update_client(actor=world.tech, client=world.client_a, phone="1")
    with pytest.raises(core_services.ValidationError):
        core_services.update_client(actor=world.admin, client=world.client_a, public_id="x")
    with pytest.raises(core_services.ValidationError):
        core_services.update_client(actor=world.admin, client=world.client_a, working_days="89")
    # A refused change does not linger on the caller's object.
    assert world.client_a.working_days == "12345"
    before = AuditEvent.objects.count()
    core_services.update_client(actor=world.admin, client=world.client_a, phone="")
    assert AuditEvent.objects.count() == before  # nothing changed, nothing recorded

"""The dashboard pages: who may see them, what they show, and how many queries they cost."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Category, Priority, Status

WHO = reverse("tickets:who")
FLOODED = reverse("tickets:flooded")
SVG_RE = re.compile(r"<svg\b.*?</svg>", re.S)


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in SVG_RE.findall(html)]  # noqa: S314 - our own output


@pytest.mark.parametrize("url", [WHO, FLOODED])
def test_staff_see_the_dashboards(world: World, url: str) -> None:
    for user in (world.admin, world.tech, world.readonly, world.billing):
        assert world.http(user).get(url).status_code == 200, user.username


@pytest.mark.parametrize("url", [WHO, FLOODED])
def test_portal_users_get_404_and_anonymous_users_sign_in(world: World, url: str) -> None:
    assert world.http(world.portal_a).get(url).status_code == 404
    assert world.http(world.portal_b).get(url).status_code == 404
    response = world.http(None).get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", [WHO, FLOODED])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_dashboards_are_read_only(world: World, url: str, method: str) -> None:
    assert getattr(world.http(world.admin), method)(url).status_code == 405


def test_who_is_on_what_page(world: World) -> None:
    ticket_services.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.tech)
    ticket_services.update_ticket(world.ticket_b, actor=world.tech, subject="<b>Printer</b> jammed")
    response = world.http(world.readonly).get(WHO)
    html = response.content.decode()
    groups = response.context["groups"]
    assert [g["group"].label for g in groups] == ["Unassigned", "Admin", "Tech"]
    assert [r.number for r in groups[2]["rows"]] == [world.ticket_a.number]
    assert [r.number for r in groups[0]["rows"]] == [world.ticket_b.number]
    assert reverse("tickets:detail", args=[world.ticket_a.number]) in html
    assert reverse("client_detail", args=[world.client_a.public_id]) in html
    assert "&lt;b&gt;Printer&lt;/b&gt; jammed" in html and "<b>Printer" not in html
    (chart,) = svgs(html)
    assert chart.get("role") == "img"


def test_who_is_on_what_query_count_does_not_grow(
    world: World, django_assert_max_num_queries: object
) -> None:
    categories = list(Category.objects.all())
    for i in range(6):
        person = core_services.create_staff_user(
            actor=None, username=f"t{i}", password="x" * 12, role="technician", first_name=f"T{i}"
        )
        for j in range(4):
            ticket_services.create_ticket(
                actor=world.tech,
                client=world.client_a if j % 2 else world.client_b,
                site=world.site_a if j % 2 else world.site_b,
                subject=f"s{i}{j}",
                category=categories[j],
                assignee=person,
                priority=Priority.HIGH,
            )
    http = world.http(world.admin)
    # Session, user, then staff, open tickets, their clients, categories.
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        response = http.get(WHO)
    assert response.status_code == 200
    assert response.context["board"].total == 26


def test_flooded_page_default_and_switch(world: World) -> None:
    http = world.http(world.tech)
    response = http.get(FLOODED)
    assert response.context["days"] == 30 and len(response.context["report"].days) == 30
    assert len(http.get(FLOODED, {"days": 90}).context["report"].days) == 90
    for bogus in ("7", "abc", "-1", "99999999999999999999"):
        assert http.get(FLOODED, {"days": bogus}).context["days"] == 30
    html = response.content.decode()
    charts = svgs(html)
    assert len(charts) == 2
    assert {c.get("aria-labelledby") for c in charts} == {
        "flood-new-title flood-new-desc",
        "flood-open-title flood-open-desc",
    }
    assert 'href="?days=90"' in html


def test_flooded_page_lists_categories_growing_fastest_first(world: World) -> None:
    vpn = Category.objects.get(slug="remote-access")
    printing = Category.objects.get(slug="printing")
    now = datetime.now(UTC)
    for i in range(4):
        ticket_services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            subject="vpn",
            category=vpn,
            now=now - timedelta(days=1, minutes=i),
        )
    ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="printer",
        category=printing,
        now=now - timedelta(days=20),
    )
    response = world.http(world.tech).get(FLOODED)
    keys = [c.key for c in response.context["report"].categories]
    assert keys[0] == "remote-access" and "printing" in keys
    html = response.content.decode()
    assert html.index("Remote access / VPN") < html.index("Printing")
    new_chart = next(c for c in svgs(html) if c.get("aria-labelledby", "").startswith("flood-new"))
    legend = [t.text for t in new_chart.iter("{http://www.w3.org/2000/svg}text")]
    assert "Remote access / VPN" in legend


def test_flooded_page_category_names_in_spanish(world: World) -> None:
    ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="vpn",
        category=Category.objects.get(slug="remote-access"),
    )
    world.tech.language = "es"
    world.tech.save(update_fields=["language"])
    html = world.http(world.tech).get(FLOODED).content.decode()
    assert "Acceso remoto / VPN" in html


@time_machine.travel(datetime(2024, 6, 30, 22, 30, tzinfo=UTC), tick=False)
def test_flooded_days_are_the_viewers_local_days(world: World) -> None:
    # 22:30 UTC on 30 June is already 1 July in Madrid, still 30 June in New York.
    ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="late",
        category=Category.objects.get(slug="security"),
    )
    world.tech.time_zone = "America/New_York"
    world.tech.save(update_fields=["time_zone"])
    madrid = world.http(world.admin).get(FLOODED).context["report"]
    new_york = world.http(world.tech).get(FLOODED).context["report"]
    assert madrid.days[-1] == date(2024, 7, 1) and madrid.new_per_day[-1] == 1
    assert new_york.days[-1] == date(2024, 6, 30) and new_york.new_per_day[-1] == 1


def test_flooded_query_count_is_fixed(world: World, django_assert_max_num_queries: object) -> None:
    categories = list(Category.objects.all())
    now = datetime.now(UTC)
    for i in range(30):
        ticket = ticket_services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            subject=f"t{i}",
            category=categories[i % len(categories)],
            now=now - timedelta(days=i * 2, hours=i),
        )
        if i % 3 == 0:
            ticket_services.change_status(
                ticket, actor=world.tech, status=Status.RESOLVED, now=now - timedelta(days=i)
            )
    http = world.http(world.admin)
    # Session, user, then the report's five queries.
    with django_assert_max_num_queries(7):  # type: ignore[operator]
        response = http.get(FLOODED, {"days": 90})
    assert sum(response.context["report"].new_per_day) == 32

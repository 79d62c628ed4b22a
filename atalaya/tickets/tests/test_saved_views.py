"""Saved views: each staff user names list queries, opens and deletes only their own."""

from __future__ import annotations

import pytest

from atalaya.conftest import World
from atalaya.tickets.models import SavedView

CREATE = "/tickets/views/"


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def open_url(view: SavedView) -> str:
    return f"/tickets/views/{view.pk}/"


def delete_url(view: SavedView) -> str:
    return f"/tickets/views/{view.pk}/delete/"


def test_save_the_current_query_and_come_back_to_it(world: World) -> None:
    http = world.http(world.tech)
    response = http.post(CREATE, {"name": "My urgent", "query": "?assignee=me&priority=urgent"})
    view = SavedView.objects.get(user=world.tech)
    assert (view.name, view.query) == ("My urgent", "assignee=me&priority=urgent")
    assert (
        response.status_code == 302
        and response["Location"] == "/tickets/?assignee=me&priority=urgent"
    )
    listed = http.get("/tickets/").content.decode()
    assert "My urgent" in listed and open_url(view) in listed
    opened = http.get(open_url(view))
    assert (
        opened.status_code == 302 and opened["Location"] == "/tickets/?assignee=me&priority=urgent"
    )


def test_same_name_replaces_the_query(world: World) -> None:
    http = world.http(world.tech)
    http.post(CREATE, {"name": "Mine", "query": "assignee=me"})
    http.post(CREATE, {"name": "Mine", "query": "assignee=me&status=all"})
    assert list(SavedView.objects.filter(user=world.tech).values_list("query", flat=True)) == [
        "assignee=me&status=all"
    ]


def test_the_list_page_offers_to_save_its_filters(world: World) -> None:
    content = (
        world.http(world.tech).get("/tickets/", {"priority": "high", "page": "1"}).content.decode()
    )
    assert 'name="query" value="priority=high"' in content and "Save view" in content


def test_other_users_views_are_invisible_and_untouchable(world: World) -> None:
    theirs = SavedView.objects.create(user=world.admin, name="Admin only", query="status=all")
    http = world.http(world.tech)
    assert "Admin only" not in http.get("/tickets/").content.decode()
    assert http.get(open_url(theirs)).status_code == 404
    assert http.post(delete_url(theirs)).status_code == 404
    assert SavedView.objects.filter(pk=theirs.pk).exists()


def test_delete_own_view(world: World) -> None:
    mine = SavedView.objects.create(user=world.tech, name="Old", query="status=new")
    response = world.http(world.tech).post(delete_url(mine))
    assert response.status_code == 302 and not SavedView.objects.filter(pk=mine.pk).exists()


def test_unknown_view_is_404(world: World) -> None:
    http = world.http(world.tech)
    assert http.get("/tickets/views/999999/").status_code == 404
    assert http.post("/tickets/views/999999/delete/").status_code == 404


@pytest.mark.parametrize("role", ["readonly", "billing"])
def test_read_only_staff_may_keep_views_too(world: World, role: str) -> None:
    # A saved view is the user's own preference, not a change to any ticket.
    user = getattr(world, role)
    assert world.http(user).post(CREATE, {"name": "Look", "query": "status=all"}).status_code == 302
    assert SavedView.objects.filter(user=user, name="Look").exists()


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404(world: World, role: str) -> None:
    mine = SavedView.objects.create(user=world.tech, name="Mine", query="")
    http = world.http(getattr(world, role))
    assert http.post(CREATE, {"name": "X", "query": ""}).status_code == 404
    assert http.get(open_url(mine)).status_code == 404
    assert http.post(delete_url(mine)).status_code == 404
    assert not SavedView.objects.exclude(user=world.tech).exists()


def test_wrong_methods_are_405(world: World) -> None:
    mine = SavedView.objects.create(user=world.tech, name="Mine", query="")
    http = world.http(world.tech)
    assert http.get(CREATE).status_code == 405
    assert http.get(delete_url(mine)).status_code == 405
    assert http.post(open_url(mine)).status_code == 405


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "query": "a=b"},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "query": "q=" + "x" * 1000},
    ],
)
def test_bad_input_is_reported_not_saved(world: World, data: dict[str, str]) -> None:
    response = world.http(world.tech).post(CREATE, data, follow=True)
    assert response.status_code == 200
    assert "The view was not saved" in response.content.decode()
    assert not SavedView.objects.exists()


def test_names_are_escaped(world: World) -> None:
    SavedView.objects.create(user=world.tech, name="<script>alert(1)</script>", query="")
    content = world.http(world.tech).get("/tickets/").content.decode()
    assert "<script>alert(1)</script>" not in content and "&lt;script&gt;" in content


def test_queries_are_re_encoded_so_headers_stay_clean(world: World) -> None:
    http = world.http(world.tech)
    response = http.post(CREATE, {"name": "Odd", "query": "q=a b\r\nSet-Cookie: x=1&page=3"})
    assert response.status_code == 302 and "\n" not in response["Location"]
    view = SavedView.objects.get(name="Odd")
    assert "page" not in view.query and "\n" not in view.query
    # A row written some other way is still opened safely.
    raw = SavedView.objects.create(user=world.tech, name="Raw", query="q=x\r\nX-Evil: 1")
    opened = http.get(open_url(raw))
    assert opened.status_code == 302 and "\n" not in opened["Location"]

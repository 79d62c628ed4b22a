"""The security dashboard: overdue and due-soon fixes for staff, nothing for anyone else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from atalaya.security.models import TemporaryFix


def test_overdue_and_due_soon_fixes_show_on_the_dashboard(
    world: Any, django_assert_max_num_queries: Any
) -> None:
    today = timezone.localdate()
    for title, days in (("Overdue VPN bypass", -3), ("Guest wifi open", 5), ("Far away", 60)):
        TemporaryFix.objects.create(
            client=world.client_a,
            title=title,
            reason="crisis",
            owner=world.tech,
            revert_by=today + timedelta(days=days),
        )
    staff = world.http(world.readonly)
    with django_assert_max_num_queries(8):
        page = staff.get("/security/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Overdue VPN bypass" in text and "Guest wifi open" in text and "Far away" not in text
    assert "1 overdue fix" in text
    assert world.http(world.portal_a).get("/security/").status_code == 404
    assert world.http(world.tech).post("/security/").status_code == 405

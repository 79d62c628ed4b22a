"""The demo's call log: a phone system, extensions, E.164 phones and filed calls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from atalaya.calls import services
from atalaya.calls.models import Call, PhoneSystem
from atalaya.core.demo import load_demo
from atalaya.core.models import Contact, User

NOW = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_demo_calls() -> None:
    with time_machine.travel(NOW, tick=False):
        load_demo(tickets=150, now=NOW)
    assert PhoneSystem.objects.count() == 1
    assert User.objects.get(username="tecnico1").phone_extension
    phones = list(Contact.objects.values_list("phone", flat=True))
    assert phones and all(p.startswith("+34") and len(p) == 12 for p in phones)
    calls = list(Call.objects.select_related("ticket"))
    assert 1 <= len(calls) <= 12 and all(c.ticket and c.event for c in calls)
    some = Contact.objects.first()
    assert some is not None
    assert services.find_callers(User.objects.get(username="admin"), some.phone[-9:])

"""Client A's call and a phone system, for the isolation walk (see core/tests/test_isolation.py).

The call is logged through the service (a note on client A's ticket, carrying the
marker); the phone system belongs to the MSP, so its name carries none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _a_call(a: Any) -> Any:
    from atalaya.calls import services

    if "call" not in a.extra:
        a.extra["call"] = services.log_call(
            actor=a.world.tech,
            client=a.world.client_a,
            contact=a.world.contact_a,
            note="alfa-secret call",
            ticket=a.world.ticket_a,
        )
    return a.extra["call"]


def _a_phone_system(a: Any) -> Any:
    from atalaya.calls.models import PhoneSystem

    if "phone_system" not in a.extra:
        a.extra["phone_system"] = PhoneSystem.objects.create(name="Isolation PBX")
    return a.extra["phone_system"]


SAMPLES: dict[str, Callable[[Any], Any]] = {
    "call_id": lambda a: _a_call(a).public_id,
    "phone_system_id": lambda a: _a_phone_system(a).public_id,
}

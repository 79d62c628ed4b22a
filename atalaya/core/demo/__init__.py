"""Demo data: an MSP, its team, twelve client companies and three months of tickets.

``build_plan`` makes the whole demo in pure Python from a seed; ``load_demo`` replays it
through the service functions. The demo's passwords (``admin`` / ``admin``, ``demo``)
exist only in demo data; see ``atalaya demo``.
"""

from __future__ import annotations

from atalaya.core.demo.loader import (
    DEMO_CLIENT_NAMES,
    DemoError,
    DemoResult,
    conflicts,
    demo_logins,
    is_loaded,
    load_demo,
)
from atalaya.core.demo.plan import DEFAULT_SEED, DEFAULT_TICKETS, build_plan

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_TICKETS",
    "DEMO_CLIENT_NAMES",
    "DemoError",
    "DemoResult",
    "build_plan",
    "conflicts",
    "demo_logins",
    "is_loaded",
    "load_demo",
]

"""Demo register of temporary fixes: what an MSP recorded to get people working from home.

Through the fixes' services, dated as if recorded weeks ago, so the register shows
each state: one overdue (escalated by the reminder run), one due in two days, one
renewed with its new reason, and one undone with how.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from atalaya.security.fixes import services

# (client index, kind, title, reason, recorded days ago, revert-by days from today,
#  evidence port)
FIXES = [
    (
        0,
        "firewall",
        "RDP 3389 forwarded to the reception PC",
        "The accountant works from home during the lockdown",
        25,
        -2,
        3389,
    ),
    (
        0,
        "personal_device",
        "Personal laptop of the sales manager on the VPN",
        "Company laptop waiting for a replacement disk",
        12,
        2,
        None,
    ),
    (
        1,
        "mfa_exception",
        "MFA off for the warehouse shared tablet",
        "The tablet cannot run the authenticator until it is updated",
        20,
        10,
        None,
    ),
    (
        2,
        "shared_account",
        "Shared mailbox login for the temporary staff",
        "Three temps start on Monday before their accounts exist",
        30,
        40,
        None,
    ),
]


def load_security_fixes(loader: Any, seed: int) -> dict[str, int]:
    now = loader.plan.now
    today = now.date()
    clients = [loader.clients[plan.spec.key] for plan in loader.plan.clients]
    owner = loader.users.get("tecnico1") or loader.users["admin"]
    made = []
    for index, kind, title, reason, ago, revert_in, port in FIXES:
        if index >= len(clients):
            continue
        made.append(
            services.create_fix(
                actor=owner,
                client=clients[index],
                kind=kind,
                title=title,
                reason=reason,
                owner=owner,
                revert_by=today + timedelta(days=revert_in),
                evidence_port=port,
                now=now - timedelta(days=ago),
            )
        )
    if len(made) >= 3:
        services.renew_fix(
            actor=owner,
            fix=made[2],
            revert_by=made[2].revert_by + timedelta(days=14),
            reason="The tablet update is delayed by the vendor",
            now=now - timedelta(days=2),
        )
    if len(made) >= 4:
        services.close_fix(
            actor=owner,
            fix=made[3],
            undo_note="Personal accounts created; the shared login was disabled",
            now=now - timedelta(days=1),
        )
    loader.progress(f"{len(made)} temporary fixes in the register")
    return {"fixes": len(made)}

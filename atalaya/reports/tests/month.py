"""A hand-built March 2026 for client A (Europe/Madrid), shared by the reports tests.

Every number the figures test asserts follows from the rows made here; see the
comments for why each row counts or does not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from atalaya.billing.models import Payment, PaymentAllocation
from atalaya.billing.tests.factories import issued_invoice
from atalaya.monitoring.models import Alert, Device, MetricRollup
from atalaya.security.models import Finding, TemporaryFix
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Category, Ticket

YEAR, MONTH = 2026, 3


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _ticket(world: Any, subject: str, category: Category | None, **stamps: Any) -> Ticket:
    ticket = ticket_services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        site=world.site_a,
        contact=world.contact_a,
        subject=subject,
        body="alfa-secret body",
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        category=category, updated_at=z(2026, 4, 1), **stamps
    )
    return ticket


def build_march(world: Any) -> None:
    """Client A's March 2026: tickets, devices with rollups, alerts, findings, fixes, invoices."""
    vpn, mail = Category.objects.order_by("pk")[:2]
    # Opened 2 Mar 09:00 CET, answered after 60 business minutes, resolved in time.
    _ticket(
        world,
        "T1",
        vpn,
        created_at=z(2026, 3, 2, 8),
        first_response_due_at=z(2026, 3, 2, 12),
        first_responded_at=z(2026, 3, 2, 9),
        resolution_due_at=z(2026, 3, 5, 8),
        resolved_at=z(2026, 3, 4, 8),
        status="resolved",
    )
    # Answered late (180 business minutes), resolution due in March and never resolved.
    _ticket(
        world,
        "T2",
        vpn,
        created_at=z(2026, 3, 10, 8),
        first_response_due_at=z(2026, 3, 10, 9),
        first_responded_at=z(2026, 3, 10, 11),
        resolution_due_at=z(2026, 3, 12, 8),
        status="open",
    )
    # 23:30 on 31 March in Madrid (CEST): March; its clocks run past the month: uncounted.
    _ticket(
        world,
        "T3",
        None,
        created_at=z(2026, 3, 31, 21, 30),
        first_response_due_at=z(2026, 4, 1, 9),
        resolution_due_at=z(2026, 4, 3, 9),
        status="new",
    )
    # 00:30 on 1 April in Madrid: not March.
    _ticket(world, "T4", vpn, created_at=z(2026, 3, 31, 22, 30), status="new")
    # Opened in February, resolved in March after its due time.
    _ticket(
        world,
        "T5",
        mail,
        created_at=z(2026, 2, 20, 8),
        first_response_due_at=z(2026, 2, 20, 9),
        first_responded_at=z(2026, 2, 20, 8, 30),
        resolution_due_at=z(2026, 3, 1, 8),
        resolved_at=z(2026, 3, 3, 10),
        status="closed",
    )

    def device(name: str, enrolled: datetime, retired: datetime | None = None) -> Device:
        return Device.objects.create(
            client=world.client_a,
            site=world.site_a,
            hostname=name,
            token_hash=name.ljust(64, "x"),
            token_hint=name[:4],
            enrolled_at=enrolled,
            retired_at=retired,
        )

    d1 = device("alfa-pc1", z(2026, 1, 1))
    d2 = device("alfa-pc2", z(2026, 3, 16))
    device("alfa-old", z(2025, 1, 1), z(2026, 2, 1))  # retired before March
    first = int(z(2026, 2, 28, 23).timestamp()) // 900  # 1 March 00:00 CET
    last = int(z(2026, 3, 31, 22).timestamp()) // 900  # 1 April 00:00 CEST
    assert last - first == 2972
    d2_first = int(z(2026, 3, 16).timestamp()) // 900
    rows = [MetricRollup(device=d1, bucket=b, samples=15) for b in range(first, last - 100)]
    rows += [MetricRollup(device=d2, bucket=b, samples=15) for b in range(d2_first, last)]
    MetricRollup.objects.bulk_create(rows)

    def alert(severity: str, at: datetime, target: str, suppressed: str = "") -> None:
        Alert.objects.create(
            client=world.client_a,
            site=world.site_a,
            device=d1,
            kind="disk",
            target=target,
            severity=severity,
            message="alfa-secret",
            opened_at=at,
            resolved_at=at,
            suppressed_reason=suppressed,
        )

    alert("warning", z(2026, 3, 3), "/a")
    alert("warning", z(2026, 3, 4), "/b")
    alert("critical", z(2026, 3, 5), "/c")
    alert("warning", z(2026, 3, 6), "/d", suppressed="parent_offline")
    alert("critical", z(2026, 4, 2), "/e")

    def finding(fp: str, seen: datetime, status: str = "open", resolved: Any = None) -> None:
        Finding.objects.create(
            client=world.client_a,
            site=world.site_a,
            kind="risky_service",
            severity="high",
            status=status,
            fingerprint=fp,
            title=fp,
            first_seen_at=seen,
            last_seen_at=seen,
            resolved_at=resolved,
        )

    finding("f1", z(2026, 2, 1), "resolved", z(2026, 3, 5))  # closed in March
    finding("f2", z(2026, 3, 10))  # new, open
    finding("f3", z(2026, 1, 10))  # open
    finding("f4", z(2026, 1, 10), "accepted")  # accepted: not open
    finding("f5", z(2026, 4, 2))  # April

    def fix(title: str, created: datetime, revert_by: date, closed: Any = None) -> None:
        TemporaryFix.objects.create(
            client=world.client_a,
            title=title,
            reason="alfa-secret",
            owner=world.tech,
            created_by=world.tech,
            created_at=created,
            revert_by=revert_by,
            status="closed" if closed else "open",
            closed_at=closed,
        )

    fix("RDP opened", z(2026, 2, 1), date(2026, 3, 20))  # open, overdue at month end
    fix("MFA off", z(2026, 3, 1), date(2026, 4, 30), z(2026, 4, 5))  # open at month end
    fix("Shared login", z(2026, 2, 1), date(2026, 3, 15), z(2026, 3, 10))  # undone in March

    feb = issued_invoice(
        world.client_a, [("Support", "1", "100.00", "21")], issue_date=date(2026, 2, 10)
    )
    issued_invoice(world.client_a, [("Support", "1", "100.00", "21")], issue_date=date(2026, 3, 10))
    issued_invoice(world.client_a, [("Support", "1", "50.00", "21")], issue_date=date(2026, 4, 2))
    payment = Payment.objects.create(
        client=world.client_a,
        method="transfer",
        amount=Decimal("121.00"),
        received_on=date(2026, 3, 1),
    )
    PaymentAllocation.objects.create(payment=payment, invoice=feb, amount=Decimal("121.00"))

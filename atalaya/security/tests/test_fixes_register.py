"""The register of temporary fixes: recording, renewing, closing, reminders, evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.core.models import AuditEvent
from atalaya.mail.models import OutboundMessage
from atalaya.security.fixes import evidence, reminders, services
from atalaya.security.models import (
    Finding,
    FindingKind,
    FindingStatus,
    FixStatus,
    ReminderStage,
    ScanHost,
    ScanRun,
    ScanSource,
    ScanStatus,
    TemporaryFix,
    TemporaryFixReminder,
)

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)


def new_fix(world: Any, **overrides: Any) -> TemporaryFix:
    fields: dict[str, Any] = {
        "actor": world.tech,
        "client": world.client_a,
        "kind": "firewall",
        "title": "RDP opened on the reception PC",
        "reason": "The accountant must work from home tonight",
        "owner": world.tech,
        "revert_by": TODAY + timedelta(days=20),
        "evidence_port": 3389,
        "now": NOW,
    }
    fields.update(overrides)
    return services.create_fix(**fields)


@pytest.fixture
def emails(world: Any) -> Any:
    for user, address in ((world.tech, "tech@msp.example"), (world.admin, "admin@msp.example")):
        user.email = address
        user.save(update_fields=["email"])
    world.admin.language = "es"
    world.admin.save(update_fields=["language"])
    return world


def test_a_fix_is_recorded_with_its_links_and_an_audit_event(world: Any) -> None:
    fix = new_fix(world, tickets=[world.ticket_a])
    assert fix.status == FixStatus.OPEN
    assert list(fix.tickets.all()) == [world.ticket_a]
    assert AuditEvent.objects.filter(object_id=str(fix.public_id), action="fix.created").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revert_by", None),
        ("revert_by", TODAY - timedelta(days=1)),
        ("revert_by", TODAY + timedelta(days=400)),
        ("title", "   "),
        ("reason", ""),
        ("evidence_port", 70000),
        ("kind", "whatever"),
    ],
)
def test_bad_input_names_the_field(world: Any, field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        new_fix(world, **{field: value})
    assert field in exc.value.message_dict
    assert not TemporaryFix.objects.exists()


def test_links_of_another_client_are_refused(world: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        new_fix(world, tickets=[world.ticket_b])
    assert "tickets" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.tickets_by_number(world.client_a, [world.ticket_b.number])
    assert not TemporaryFix.objects.exists()


def test_the_owner_must_be_a_technician_or_administrator(world: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        new_fix(world, owner=world.readonly)
    assert "owner" in exc.value.message_dict


def test_read_only_staff_may_not_record(world: Any) -> None:
    with pytest.raises(PermissionDenied):
        new_fix(world, actor=world.readonly)


def test_renewing_needs_a_reason_and_a_later_date(world: Any) -> None:
    fix = new_fix(world)
    with pytest.raises(ValidationError) as exc:
        services.renew_fix(
            actor=world.tech, fix=fix, revert_by=fix.revert_by, reason="still", now=NOW
        )
    assert "revert_by" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.renew_fix(
            actor=world.tech,
            fix=fix,
            revert_by=fix.revert_by + timedelta(days=7),
            reason=" ",
            now=NOW,
        )
    assert "reason" in exc.value.message_dict
    later = fix.revert_by + timedelta(days=7)
    renewed = services.renew_fix(
        actor=world.tech, fix=fix, revert_by=later, reason="Lockdown extended", now=NOW
    )
    assert renewed.revert_by == later
    renewal = renewed.renewals.get()
    assert (renewal.old_revert_by, renewal.reason) == (fix.revert_by, "Lockdown extended")


def test_closing_records_how_and_happens_once(world: Any) -> None:
    fix = new_fix(world)
    with pytest.raises(ValidationError) as exc:
        services.close_fix(actor=world.tech, fix=fix, undo_note="")
    assert "undo_note" in exc.value.message_dict
    closed = services.close_fix(actor=world.tech, fix=fix, undo_note="Rule removed", now=NOW)
    assert (closed.status, closed.undo_note, closed.closed_by) == (
        FixStatus.CLOSED,
        "Rule removed",
        world.tech,
    )
    with pytest.raises(ValidationError):
        services.close_fix(actor=world.tech, fix=closed, undo_note="again")
    with pytest.raises(ValidationError):
        services.renew_fix(
            actor=world.tech, fix=closed, revert_by=TODAY + timedelta(days=60), reason="x"
        )


@pytest.mark.parametrize(
    ("days_left", "stage"),
    [(20, None), (14, "d14"), (4, "d14"), (3, "d3"), (1, "d3"), (0, "d0"), (-1, "overdue")],
)
def test_stage_for_days_left(days_left: int, stage: str | None) -> None:
    assert reminders.stage_for(days_left) == stage


def test_reminders_go_once_per_stage_and_renewal_starts_over(emails: Any) -> None:
    world = emails
    fix = new_fix(world, revert_by=TODAY + timedelta(days=14))
    at = NOW.replace(hour=12)
    assert reminders.send_due_reminders(now=at).sent == 1
    assert reminders.send_due_reminders(now=at + timedelta(hours=1)).sent == 0
    mail = OutboundMessage.objects.get()
    assert mail.to_address == "tech@msp.example" and "14" in mail.subject
    # Eleven days later: the 3-day reminder, once.
    assert reminders.send_due_reminders(now=at + timedelta(days=11)).sent == 1
    stages = set(TemporaryFixReminder.objects.values_list("stage", flat=True))
    assert stages == {ReminderStage.DAYS_14, ReminderStage.DAYS_3}
    # A renewal to a later date starts a fresh set for the new date.
    services.renew_fix(
        actor=world.tech,
        fix=fix,
        revert_by=TODAY + timedelta(days=20),
        reason="extended",
        now=at + timedelta(days=11),
    )
    assert reminders.send_due_reminders(now=at + timedelta(days=11, hours=2)).sent == 1
    assert OutboundMessage.objects.count() == 3


def test_overdue_fixes_escalate_to_administrators_in_their_language(emails: Any) -> None:
    world = emails
    fix = new_fix(world, revert_by=TODAY + timedelta(days=1))
    run = reminders.send_due_reminders(now=NOW + timedelta(days=2))
    assert (run.sent, run.escalated) == (1, 1)
    fix.refresh_from_db()
    assert fix.escalated_at is not None
    to_admin = OutboundMessage.objects.get(to_address="admin@msp.example")
    assert to_admin.language == "es" and "vencida" in to_admin.subject.lower()
    assert OutboundMessage.objects.filter(to_address="tech@msp.example").count() == 1
    assert reminders.send_due_reminders(now=NOW + timedelta(days=3)).sent == 0


def test_closed_fixes_get_no_reminders(emails: Any) -> None:
    fix = new_fix(emails, revert_by=TODAY + timedelta(days=2))
    services.close_fix(actor=emails.tech, fix=fix, undo_note="done", now=NOW)
    assert reminders.send_due_reminders(now=NOW + timedelta(days=5)).sent == 0
    assert not OutboundMessage.objects.exists()


def _scan(
    world: Any,
    finished_at: datetime,
    ports: list[int],
    ip: str = "10.0.0.5",
    name: str = "reception",
) -> ScanRun:
    scan = ScanRun.objects.create(
        client=world.client_a,
        site=world.site_a,
        source=ScanSource.NMAP,
        status=ScanStatus.DONE,
        created_at=finished_at,
        finished_at=finished_at,
    )
    ScanHost.objects.create(
        scan=scan, ip=ip, hostname=name, ports=[{"port": p, "proto": "tcp"} for p in ports]
    )
    return scan


def test_a_closed_fix_whose_port_a_later_scan_sees_open_becomes_a_finding(world: Any) -> None:
    fix = new_fix(world, evidence_host="reception")
    before = _scan(world, NOW + timedelta(hours=1), [3389])
    # Still open and the fix still open: nothing to say.
    assert evidence.check_scan_against_fixes(before) == []
    services.close_fix(
        actor=world.tech, fix=fix, undo_note="Rule removed", now=NOW + timedelta(hours=2)
    )
    assert evidence.check_scan_against_fixes(before) == []  # that scan was before the close
    later = _scan(world, NOW + timedelta(days=1), [80, 3389])
    [finding] = evidence.check_scan_against_fixes(later)
    assert (finding.kind, finding.severity, finding.port, finding.fix) == (
        FindingKind.FIX_NOT_UNDONE,
        "high",
        3389,
        fix,
    )
    # The next scan that still sees it refreshes the same finding, no copy.
    again = _scan(world, NOW + timedelta(days=2), [3389])
    assert [f.pk for f in evidence.check_scan_against_fixes(again)] == [finding.pk]
    assert Finding.objects.count() == 1
    finding.refresh_from_db()
    assert finding.last_scan == again and finding.status == FindingStatus.OPEN
    # Another host, or the port closed: nothing.
    assert (
        evidence.check_scan_against_fixes(
            _scan(world, NOW + timedelta(days=3), [3389], "10.0.0.9", "kitchen")
        )
        == []
    )


def test_a_scan_of_another_client_proves_nothing_about_this_one(world: Any) -> None:
    fix = new_fix(world)
    services.close_fix(actor=world.tech, fix=fix, undo_note="done", now=NOW)
    scan = ScanRun.objects.create(
        client=world.client_b,
        site=world.site_b,
        source=ScanSource.NMAP,
        status=ScanStatus.DONE,
        finished_at=NOW + timedelta(days=1),
    )
    ScanHost.objects.create(scan=scan, ip="10.0.0.5", ports=[{"port": 3389, "proto": "tcp"}])
    assert evidence.check_scan_against_fixes(scan) == []

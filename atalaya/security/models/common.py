"""What every security model shares: who may see it, who may change it, severities."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, TICKET_WRITER_ROLES


def is_security_reader(user: Any) -> bool:
    """Security pages and API are for MSP staff, like monitoring: anyone else gets 404."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.role in STAFF_ROLES
    )


def can_write_security(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.role in TICKET_WRITER_ROLES)


def require_security_writer(actor: Any) -> None:
    """Every security write's check: administrators and technicians; ``None`` is Atalaya
    itself (a scan result, the scheduler, the CLI)."""
    if actor is not None and not can_write_security(actor):
        raise PermissionDenied(_("Your role may not change security records."))


class StaffOnlyQuerySet(models.QuerySet[Any]):
    """Rows with a non-null ``client``; visible to MSP staff only, fails closed."""

    def visible_to(self, user: Any) -> Any:
        return self.all() if is_security_reader(user) else self.none()


class FindingSeverity(models.TextChoices):
    INFO = "info", _("Information")
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


SEVERITY_RANK = {s.value: n for n, s in enumerate(FindingSeverity)}

"""The evaluator's plain rows: devices, volumes and states as read, the compiled plan of
checks, and an observation (no queries here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atalaya.monitoring.checks import EffectiveCheck
from atalaya.monitoring.models import CheckKind


@dataclass
class Observation:
    """One check's verdict on one device this time."""

    kind: str
    target: str
    is_failing: bool
    severity: str
    value: float | None
    message: str
    check: EffectiveCheck

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(slots=True)
class _State:
    """A CheckState row as the evaluator works on it (plain attributes, no model)."""

    id: int | None
    device_id: int
    key: str
    is_failing: bool = False
    consecutive_failures: int = 0
    consecutive_passes: int = 0
    value: float | None = None
    message: str = ""
    evaluated_at: datetime | None = None

    def facts(self) -> tuple[Any, ...]:
        return (
            self.is_failing,
            self.consecutive_failures,
            self.consecutive_passes,
            self.value,
            self.message,
        )


@dataclass(slots=True)
class _Device:
    """The columns of a device the checks read: ``latest`` only in the parts they use."""

    pk: int
    client_id: int
    site_id: int
    hostname: str
    display_name: str
    interval: int
    enrolled_t: float
    services: dict[str, Any]
    processes: dict[str, Any]
    # The SMART disks reported unhealthy (None: no SMART report at all).
    smart: list[Any] | None
    has_reboot: bool
    reboot_pending: bool
    # The newest sample's epoch second and (CPU, memory) percent, from ``latest``.
    newest_t: float | None = None
    newest: tuple[float | None, float | None] = (None, None)

    @property
    def name(self) -> str:
        return self.display_name or self.hostname


@dataclass(slots=True)
class _Volume:
    device_id: int
    mountpoint: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    full_t: float | None


@dataclass
class _Plan:
    """The checks in force on a device, compiled once per distinct set (per client)."""

    disk: dict[str, EffectiveCheck]
    forecast: dict[str, EffectiveCheck]
    cpu: EffectiveCheck | None
    mem: EffectiveCheck | None
    services: list[tuple[str, EffectiveCheck]]
    processes: list[tuple[str, EffectiveCheck, float]]
    backups: list[tuple[str, EffectiveCheck, float]]
    smart: EffectiveCheck | None
    reboot: EffectiveCheck | None

    @classmethod
    def of(cls, in_force: dict[tuple[str, str], EffectiveCheck]) -> _Plan:
        by_kind: dict[str, list[tuple[str, EffectiveCheck]]] = defaultdict(list)
        for (kind, target), check in in_force.items():
            by_kind[str(kind)].append((target, check))
        # A named backup job's own check replaces the catch-all for that job.
        backups = sorted(by_kind[CheckKind.BACKUP], key=lambda item: item[0] == "")
        return cls(
            disk=dict(by_kind[CheckKind.DISK]),
            forecast=dict(by_kind[CheckKind.DISK_FORECAST]),
            cpu=in_force.get((CheckKind.CPU, "")),
            mem=in_force.get((CheckKind.MEMORY, "")),
            services=by_kind[CheckKind.SERVICE],
            processes=[(t, c, c.param("min_count")) for t, c in by_kind[CheckKind.PROCESS]],
            backups=[(t, c, c.param("max_age_hours") * 3600) for t, c in backups],
            smart=in_force.get((CheckKind.SMART, "")),
            reboot=in_force.get((CheckKind.REBOOT_PENDING, "")),
        )


@dataclass
class _Facts:
    volumes: dict[int, list[_Volume]] = field(default_factory=dict)
    sustained: dict[tuple[int, str, int], tuple[int, float | None, float | None, int]] = field(
        default_factory=dict
    )
    jobs: dict[int, dict[str, tuple[int, bool, str]]] = field(default_factory=dict)

"""Remote monitoring: devices and their agents, metric history, checks, alerts, actions.

A device belongs to one client and one site (non-null keys: the isolation boundary).
Its agent authenticates with a device token of its own type (``atd_…``, stored
hashed), never with a user's; an agent token reaches its own device and nothing else.

Metric history is kept in narrow tables keyed by (device or volume, epoch second):
raw samples for ``ATALAYA_METRICS_RAW_HOURS`` (48 h), then 15-minute rollups for
``ATALAYA_METRICS_ROLLUP_DAYS`` (90 days), keyed by the bucket's number and stored in
small integers (see MetricRollup). The composite primary keys make a replayed
spool batch idempotent (a sample already stored is skipped by the key) and cost no
extra index; epoch seconds instead of datetimes keep the rows small on SQLite, which
stores datetimes as text.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Site, clients_of


def _staff_only(queryset: models.QuerySet[Any], user: Any) -> models.QuerySet[Any]:
    if user is not None and getattr(user, "is_msp_staff", False):
        return queryset.all()
    return queryset.none()


class EnrollmentTokenQuerySet(models.QuerySet["EnrollmentToken"]):
    def visible_to(self, user: Any) -> EnrollmentTokenQuerySet:
        # Enrollment tokens let a machine join a client's fleet: MSP staff only.
        return _staff_only(self, user)  # type: ignore[return-value]


class EnrollmentToken(models.Model):
    """A site's token for enrolling agents: expiring, revocable, usable ``max_uses`` times.

    Stored as a SHA-256 hash like API tokens; the raw value (``ate_…``) is shown once.
    """

    PREFIX = "ate_"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="enrollment_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = EnrollmentTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")), name="enrollment_uses_bounded"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint})"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now and self.uses < self.max_uses


class DeviceStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    OVERDUE = "overdue", _("Overdue")
    OFFLINE = "offline", _("Offline")
    MAINTENANCE = "maintenance", _("In maintenance")
    # Enrolled, never checked in yet.
    PENDING = "pending", _("Waiting for first check-in")


class DeviceQuerySet(models.QuerySet["Device"]):
    def visible_to(self, user: Any) -> DeviceQuerySet:
        """Staff see every device; a portal user their clients' devices; anyone else none."""
        return self.filter(client__in=clients_of(user))

    def active(self) -> DeviceQuerySet:
        return self.filter(retired_at__isnull=True)


class Device(models.Model):
    """A monitored machine at a client's site, with its agent's token and latest state.

    ``latest`` holds the newest check-in's snapshot (uptime, users, services and
    processes asked about, SMART, reboot pending, metrics the platform lacks) and
    ``inventory`` the hardware, OS, network and software inventory, re-sent by the
    agent only when it changes. ``parent`` is the device this one is reached through
    (the site's router or firewall): while the parent is offline, the children's
    offline alerts are suppressed.
    """

    TOKEN_PREFIX = "atd_"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="devices")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="devices")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    hostname = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True, default="")
    # The machine's own stable id (/etc/machine-id, the Windows MachineGuid): enrolling
    # the same machine at the same site again re-keys its device instead of adding one.
    machine_id = models.CharField(max_length=128, blank=True, default="")
    token_hash = models.CharField(max_length=64, unique=True)
    token_hint = models.CharField(max_length=12)
    enrolled_with = models.ForeignKey(
        EnrollmentToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    platform = models.CharField(max_length=20, blank=True, default="")
    os_name = models.CharField(max_length=120, blank=True, default="")
    os_version = models.CharField(max_length=120, blank=True, default="")
    agent_version = models.CharField(max_length=40, blank=True, default="")
    scripts_enabled = models.BooleanField(default=False)
    inventory = models.JSONField(default=dict, blank=True)
    inventory_hash = models.CharField(max_length=64, blank=True, default="")
    inventory_at = models.DateTimeField(null=True, blank=True)
    latest = models.JSONField(default=dict, blank=True)
    checkin_interval_s = models.PositiveIntegerField(default=60)
    # Bumped whenever what the agent should collect changes (services and processes to
    # watch, the interval); a check-in with an older version gets the new configuration.
    config_version = models.PositiveIntegerField(default=1)
    # Lets the check-in hot path skip the actions query for the many devices with none.
    has_pending_actions = models.BooleanField(default=False)
    status = models.CharField(
        max_length=12, choices=DeviceStatus.choices, default=DeviceStatus.PENDING
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    enrolled_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Server clock minus agent clock at the last check-in, in seconds.
    clock_skew_s = models.IntegerField(default=0)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]
        indexes = [
            models.Index(fields=["client", "site", "hostname"], name="device_client_site"),
            # The offline sweep: devices not seen since a cut-off.
            models.Index(fields=["last_seen_at"], name="device_last_seen"),
            models.Index(fields=["status"], name="device_status"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.hostname

    @classmethod
    def generate_token(cls) -> str:
        return cls.TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def name(self) -> str:
        return self.display_name or self.hostname


class Volume(models.Model):
    """A file system of a device as last reported, with its disk-full forecast.

    The forecast is a least-squares line through the volume's free space over the
    forecast window (at least 6 h of history); ``forecast_full_at`` is where the line
    reaches zero, and stays empty when free space is not shrinking or the fit is poor
    (``forecast_r2`` below the threshold).
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="volumes")
    mountpoint = models.CharField(max_length=500)
    device_name = models.CharField(max_length=255, blank=True, default="")
    fstype = models.CharField(max_length=40, blank=True, default="")
    total_bytes = models.BigIntegerField(default=0)
    used_bytes = models.BigIntegerField(default=0)
    free_bytes = models.BigIntegerField(default=0)
    is_read_only = models.BooleanField(default=False)
    # A volume the agent stopped reporting (unplugged disk) is kept for its history.
    is_present = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    forecast_full_at = models.DateTimeField(null=True, blank=True)
    # Change of free space in bytes per hour (negative: filling up).
    forecast_slope = models.FloatField(null=True, blank=True)
    forecast_r2 = models.FloatField(null=True, blank=True)
    forecast_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["mountpoint"]
        constraints = [
            models.UniqueConstraint(fields=["device", "mountpoint"], name="volume_once_per_device")
        ]

    def __str__(self) -> str:
        return self.mountpoint

    @property
    def used_pct(self) -> float:
        return 100.0 * self.used_bytes / self.total_bytes if self.total_bytes else 0.0


class MetricSample(models.Model):
    """One raw check-in's device metrics (kept 48 h). ``t`` is the epoch second collected.

    Missing values are metrics the agent's platform does not provide.
    """

    pk = models.CompositePrimaryKey("device", "t")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    t = models.BigIntegerField()
    cpu_pct = models.FloatField(null=True)
    mem_pct = models.FloatField(null=True)
    swap_pct = models.FloatField(null=True)
    load1 = models.FloatField(null=True)

    def __str__(self) -> str:
        return f"{self.device_id}@{self.t}"


class VolumeSample(models.Model):
    """One raw check-in's free space of a volume (kept 48 h)."""

    pk = models.CompositePrimaryKey("volume", "t")
    volume = models.ForeignKey(Volume, on_delete=models.CASCADE, related_name="+", db_index=False)
    t = models.BigIntegerField()
    free_bytes = models.BigIntegerField()
    used_pct = models.FloatField()

    def __str__(self) -> str:
        return f"{self.volume_id}@{self.t}"


class RealField(models.FloatField):
    """A single-precision float (``real``): 4 bytes on PostgreSQL instead of 8, for
    rollup values where 7 significant digits are plenty (a load average)."""

    def db_type(self, connection: Any) -> str:
        return "real"


class Int4ForeignKey(models.ForeignKey):
    """A foreign key held in a 4-byte ``integer`` column although the target's key is a
    ``bigint``: the rollup tables hold ~400 rows a device-day for 90 days, and on
    PostgreSQL 4 bytes off the key are 8 off every row and every index entry (the
    alignment). Good while ids stay below 2³¹ (two billion devices or volumes ever
    enrolled); past that an insert fails loudly ("integer out of range")."""

    def db_type(self, connection: Any) -> str:
        return "integer"


class MetricRollup(models.Model):
    """A device's metrics over one 15-minute bucket, kept 90 days: what 7- and 30-day
    charts read.

    Sized for ~100 rows a device-day over 90 days: ``bucket`` is the bucket's number
    (its first epoch second / 900; an integer, good for 60,000 years), percentages are
    hundredths of a percent in a smallint (0.01 % is finer than any chart), the load a
    ``real``, the device key an ``integer``: 24 bytes of data a row instead of 72.
    """

    pk = models.CompositePrimaryKey("device", "bucket")
    device = Int4ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.IntegerField()
    samples = models.PositiveSmallIntegerField()
    cpu_avg_x100 = models.SmallIntegerField(null=True)
    cpu_max_x100 = models.SmallIntegerField(null=True)
    mem_avg_x100 = models.SmallIntegerField(null=True)
    mem_max_x100 = models.SmallIntegerField(null=True)
    swap_max_x100 = models.SmallIntegerField(null=True)
    load1_avg = RealField(null=True)

    def __str__(self) -> str:
        return f"{self.device_id}@{self.bucket}"


class VolumeRollup(models.Model):
    """A volume's free space over one 15-minute bucket: what forecasts and 30-day charts read.

    ``bucket`` is the bucket's number (first epoch second / 900); free space is in whole
    MiB (an integer column: 2 PiB at most, and the forecast fits whole MiB anyway), the
    peak use in hundredths of a percent, the volume key an ``integer``: 20 bytes of data a
    row instead of 48, and 8 fewer in each primary-key entry.
    """

    pk = models.CompositePrimaryKey("volume", "bucket")
    volume = Int4ForeignKey(Volume, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.IntegerField()
    samples = models.PositiveSmallIntegerField()
    used_pct_max_x100 = models.SmallIntegerField()
    free_avg_mib = models.IntegerField()
    free_min_mib = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.volume_id}@{self.bucket}"


class JobHeartbeat(models.Model):
    """A backup (or other scheduled) job's report from the device: ran, ok or failed.

    Sent by ``atalaya-agent report-job NAME --ok|--fail``; the backup check alerts when
    the newest heartbeat failed or is older than the job's expected period.
    """

    pk = models.CompositePrimaryKey("device", "name", "t")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    t = models.BigIntegerField()
    is_ok = models.BooleanField()
    message = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name}@{self.t}"


class CheckKind(models.TextChoices):
    OFFLINE = "offline", _("Offline")
    DISK = "disk", _("Disk space")
    DISK_FORECAST = "disk_forecast", _("Disk full forecast")
    CPU = "cpu", _("CPU sustained")
    MEMORY = "memory", _("Memory sustained")
    SERVICE = "service", _("Service down")
    PROCESS = "process", _("Process down")
    BACKUP = "backup", _("Backup job")
    SMART = "smart", _("Disk health (SMART)")
    REBOOT_PENDING = "reboot_pending", _("Reboot pending")
    # Raised once for a site whose devices all went dark, instead of one per device.
    SITE_OFFLINE = "site_offline", _("Site offline")


class Severity(models.TextChoices):
    INFO = "info", _("Information")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class CheckQuerySet(models.QuerySet["Check"]):
    def visible_to(self, user: Any) -> CheckQuerySet:
        return _staff_only(self, user)  # type: ignore[return-value]


class Check(models.Model):
    """A monitoring rule: a client's default (``device`` empty) or one device's override.

    ``target`` names what the rule watches where the kind needs it (a mountpoint, a
    service, a process, a backup job; empty means every volume for disk checks).
    ``params`` holds the kind's thresholds (see ``monitoring.checks.DEFAULTS``).
    An alert opens after ``fail_after`` consecutive failing evaluations and clears
    after ``clear_after`` consecutive passing ones (hysteresis).
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="checks")
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, related_name="checks"
    )
    kind = models.CharField(max_length=20, choices=CheckKind.choices)
    target = models.CharField(max_length=255, blank=True, default="")
    is_enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    params = models.JSONField(default=dict, blank=True)
    fail_after = models.PositiveSmallIntegerField(default=1)
    clear_after = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = CheckQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "kind", "target"],
                condition=models.Q(device__isnull=True),
                name="check_default_once",
            ),
            models.UniqueConstraint(
                fields=["device", "kind", "target"],
                condition=models.Q(device__isnull=False),
                name="check_override_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


class CheckState(models.Model):
    """Where one (device, check) stands: consecutive failures and passes, latest value.

    ``key`` is ``kind`` or ``kind:target``. It is what turns a single bad sample into
    nothing and N in a row into an alert. The evaluator writes it only when it changes
    (failures are counted up to ``fail_after``, passes up to ``clear_after``), and a
    passing check with nothing counted needs no row at all: a missing row and a settled
    one mean the same.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="check_states")
    key = models.CharField(max_length=300)
    is_failing = models.BooleanField(default=False)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_passes = models.PositiveIntegerField(default=0)
    value = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, default="")
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "key"], name="check_state_once")]
        indexes = [
            # The evaluator reads only the unsettled states (failing, counting, or a
            # pending reboot's "since"): a settled one behaves like no row at all.
            models.Index(
                fields=["device"],
                name="check_state_unsettled",
                condition=models.Q(is_failing=True)
                | models.Q(consecutive_failures__gt=0)
                | models.Q(key="reboot_pending", value__isnull=False),
            ),
            # "Already evaluated for this check-in": states written since a moment.
            models.Index(fields=["device", "evaluated_at"], name="check_state_evaluated"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.key}"


class AlertQuerySet(models.QuerySet["Alert"]):
    def visible_to(self, user: Any) -> AlertQuerySet:
        if user is not None and getattr(user, "role", None) in STAFF_ROLES and user.is_active:
            return self.all()
        return self.none()

    def open(self) -> AlertQuerySet:
        return self.filter(resolved_at__isnull=True)


class Alert(models.Model):
    """A problem a check found on a device (or a whole site): one open alert per (device, check).

    The alert opens a ticket for its client (category "monitoring"), notes every change
    of severity or value on it and a note on recovery; the ticket is resolved with the
    alert only if no technician has touched it. ``suppressed_reason`` is set when the
    alert is held back (maintenance window, parent offline, site offline): it is kept
    for the record but opens no ticket.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="alerts")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="alerts")
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    kind = models.CharField(max_length=20, choices=CheckKind.choices)
    target = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    suppressed_reason = models.CharField(max_length=40, blank=True, default="")
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "kind", "target"],
                condition=models.Q(resolved_at__isnull=True, device__isnull=False),
                name="alert_open_once_per_device_check",
            ),
            models.UniqueConstraint(
                fields=["site", "kind"],
                condition=models.Q(resolved_at__isnull=True, device__isnull=True),
                name="alert_open_once_per_site_check",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "-opened_at"], name="alert_client_opened"),
            models.Index(
                fields=["-opened_at"],
                name="alert_open_recent",
                condition=models.Q(resolved_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def is_snoozed(self, now: datetime | None = None) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > (now or timezone.now())


class Recurrence(models.TextChoices):
    NONE = "none", _("Once")
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every week")
    MONTHLY = "monthly", _("Every month")


class MaintenanceWindowQuerySet(models.QuerySet["MaintenanceWindow"]):
    def visible_to(self, user: Any) -> MaintenanceWindowQuerySet:
        return _staff_only(self, user)  # type: ignore[return-value]


class MaintenanceWindow(models.Model):
    """A planned period in which a client's devices (all, one site's, or one) raise no alerts.

    ``starts_at``/``ends_at`` are the first occurrence; a recurring window repeats
    daily, weekly or monthly from it (in the site's or client's time zone, so 02:00
    stays 02:00 across daylight-saving changes) until ``repeat_until``.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="maintenance_windows")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    recurrence = models.CharField(
        max_length=10, choices=Recurrence.choices, default=Recurrence.NONE
    )
    repeat_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="maintenance_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at


class Interpreter(models.TextChoices):
    SH = "sh", "sh"
    BASH = "bash", "bash"
    PYTHON = "python", "Python"
    POWERSHELL = "powershell", "PowerShell"


class ScriptQuerySet(models.QuerySet["Script"]):
    def visible_to(self, user: Any) -> ScriptQuerySet:
        return _staff_only(self, user)  # type: ignore[return-value]


class Script(models.Model):
    """A script of the MSP's approved library, the only code a remote action may run.

    The body is frozen once approved (an administrator approves); changing it means a
    new script. The agent receives the body inside the signed action, with its SHA-256.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, default="")
    interpreter = models.CharField(max_length=12, choices=Interpreter.choices)
    body = models.TextField()
    sha256 = models.CharField(max_length=64)
    timeout_s = models.PositiveIntegerField(default=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = ScriptQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None and self.retired_at is None


class ActionKind(models.TextChoices):
    REBOOT = "reboot", _("Reboot")
    RUN_SCRIPT = "run_script", _("Run script")
    # A network scan of the device's local networks (security/scans): the result
    # carries the hosts and open ports it found.
    SCAN = "scan", _("Network scan")


class ActionStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent to the agent")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    REFUSED = "refused", _("Refused by the agent")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


ACTION_WAITING = (ActionStatus.QUEUED, ActionStatus.SENT)


class RemoteActionQuerySet(models.QuerySet["RemoteAction"]):
    def visible_to(self, user: Any) -> RemoteActionQuerySet:
        return _staff_only(self, user)  # type: ignore[return-value]


class RemoteAction(models.Model):
    """A reboot or approved script queued for one device, kept until it runs or expires.

    ``envelope`` is the signed action exactly as the agent receives it (canonical JSON
    with the id, device, kind, script, arguments, nonce and expiry) and ``signature``
    its Ed25519 signature: re-sent unchanged until the agent reports a result, so a
    device that was offline gets the very action the technician queued.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=12, choices=ActionKind.choices)
    script = models.ForeignKey(
        Script, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    arguments = models.JSONField(default=list, blank=True)
    nonce = models.CharField(max_length=64, unique=True)
    envelope = models.TextField()
    signature = models.CharField(max_length=128)
    status = models.CharField(
        max_length=12, choices=ActionStatus.choices, default=ActionStatus.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    output = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Why the agent refused (bad signature, expired, replayed, scripts disabled…).
    reason = models.CharField(max_length=300, blank=True, default="")

    objects = RemoteActionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["device", "created_at"],
                name="action_waiting",
                condition=models.Q(status__in=["queued", "sent"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.device_id}"

    @property
    def is_waiting(self) -> bool:
        return self.status in ACTION_WAITING

"""Security's models, one module per part of the job; import them from here."""

from atalaya.security.models.awareness import (
    AwarenessCampaign,
    AwarenessDelivery,
    AwarenessOptOut,
    AwarenessTip,
    CampaignTip,
)
from atalaya.security.models.common import (
    SEVERITY_RANK,
    FindingSeverity,
    can_write_security,
    is_security_reader,
    require_security_writer,
)
from atalaya.security.models.coverage import Protection, ProtectionAttestation
from atalaya.security.models.fixes import (
    FixKind,
    FixStatus,
    ReminderStage,
    TemporaryFix,
    TemporaryFixReminder,
    TemporaryFixRenewal,
)
from atalaya.security.models.links import (
    FeedEntry,
    FeedLoad,
    FeedSource,
    PhishingReport,
    Verdict,
)
from atalaya.security.models.scans import (
    Finding,
    FindingKind,
    FindingStatus,
    KnownDevice,
    ScanHost,
    ScanRun,
    ScanSchedule,
    ScanSource,
    ScanStatus,
)

__all__ = [
    "SEVERITY_RANK",
    "AwarenessCampaign",
    "AwarenessDelivery",
    "AwarenessOptOut",
    "AwarenessTip",
    "CampaignTip",
    "FeedEntry",
    "FeedLoad",
    "FeedSource",
    "Finding",
    "FindingKind",
    "FindingSeverity",
    "FindingStatus",
    "FixKind",
    "FixStatus",
    "KnownDevice",
    "PhishingReport",
    "Protection",
    "ProtectionAttestation",
    "ReminderStage",
    "ScanHost",
    "ScanRun",
    "ScanSchedule",
    "ScanSource",
    "ScanStatus",
    "TemporaryFix",
    "TemporaryFixReminder",
    "TemporaryFixRenewal",
    "Verdict",
    "can_write_security",
    "is_security_reader",
    "require_security_writer",
]

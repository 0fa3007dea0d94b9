"""Typed models of everything in ``config/``, one module per kind: :mod:`.partners`, :mod:`.feeds`,
:mod:`.agreements`, :mod:`.settings`; the parts they share in :mod:`.base`.

Every model forbids unknown keys, so a misspelt key is an error rather than a silently
ignored setting. Cross-file rules (a feed names a partner that exists, and so on) live in
:mod:`crosswalk.config.loader`, which sees all files at once.
"""

from crosswalk.config.models.base import CRON_PRESETS, MANUAL, ON_ARRIVAL, FeedSchedule, Schedule, SchemaId, Slug
from crosswalk.config.models.feeds import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DROPS_PER_RUN,
    AnyFeed,
    Approver,
    CkanTarget,
    Feed,
    FeedFile,
    FileTarget,
    InboundFeed,
    Matching,
    OpenDataFeed,
    OpenDataTargets,
    OutboundFeed,
    PortalFeed,
    SftpTarget,
    StagingTarget,
)
from crosswalk.config.models.partners import DatedKey, Encryption, Partner, SftpEndpoint, SftpPaths
from crosswalk.config.models.settings import (
    AuditSettings,
    GraduationSettings,
    KeyConnections,
    NotificationChannel,
    Operator,
    Settings,
    StagingSettings,
    Webhook,
)

__all__ = [
    "CRON_PRESETS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DROPS_PER_RUN",
    "MANUAL",
    "ON_ARRIVAL",
    "AnyFeed",
    "Approver",
    "AuditSettings",
    "CkanTarget",
    "DatedKey",
    "Encryption",
    "Feed",
    "FeedFile",
    "FeedSchedule",
    "FileTarget",
    "GraduationSettings",
    "InboundFeed",
    "KeyConnections",
    "Matching",
    "NotificationChannel",
    "OpenDataFeed",
    "OpenDataTargets",
    "Operator",
    "OutboundFeed",
    "Partner",
    "PortalFeed",
    "Schedule",
    "SchemaId",
    "Settings",
    "SftpEndpoint",
    "SftpPaths",
    "SftpTarget",
    "Slug",
    "StagingSettings",
    "StagingTarget",
    "Webhook",
]

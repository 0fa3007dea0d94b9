"""Typed models of everything in ``config/``: partners, feeds, agreements and settings.

Every model forbids unknown keys, so a misspelt key is an error rather than a silently
ignored setting. Cross-file rules (a feed names a partner that exists, and so on) live in
:mod:`crosswalk.config.loader`, which sees all files at once.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from crosswalk.transfer.hostkeys import parse_host_key

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
"""Identifiers used in DAG ids, table names and file names: lower case, digits and dashes."""

SchemaId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{1,62}$")]
"""A table schema's id: the stem of its file in ``include/schemas/``."""

CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly")
_CRON_FIELD = r"[\d*/,\-A-Za-z]+"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SftpPaths(_Model):
    """Folders in the partner's SFTP area, as seen after login (chrooted)."""

    inbox: str = Field(description="Where we deliver files for the partner.")
    outbox: str = Field(description="Where the partner drops files for us. Read only to us.")
    quarantine: str = Field(description="Where rejected drops are copied with a reason file.")

    @field_validator("inbox", "outbox", "quarantine")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/"):
            raise ValueError("must be an absolute path without '..'")
        return v.rstrip("/") or "/"


class SftpEndpoint(_Model):
    conn_id: str = Field(description="Airflow connection id holding host, port, user and credentials.")
    host_keys: list[str] = Field(min_length=1, description="Pinned host public keys (OpenSSH format).")
    paths: SftpPaths
    max_sessions: int = Field(
        default=4,
        ge=1,
        le=64,
        description="At most this many of our tasks hold an SFTP session to this partner at once, across every"
        " DAG and worker (the Airflow pool crosswalk_sftp_<partner>; `crosswalk pools` writes them all).",
    )
    transfer_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="Connection attempts per file inside one task attempt (1, 2, 4 ... s apart) before the task"
        " fails and Airflow's retries take over: at most (retries + 1) x transfer_attempts per file.",
    )

    @field_validator("host_keys")
    @classmethod
    def _valid_keys(cls, keys: list[str]) -> list[str]:
        for i, key in enumerate(keys):
            try:
                parse_host_key(key)
            except ValueError as exc:
                raise ValueError(f"host key {i + 1}: {exc}") from exc
        return keys


def _check_age_recipient(v: str) -> str:
    from crosswalk.crypto.age import parse_recipient

    parse_recipient(v)
    return v


class DatedKey(_Model):
    """A public key with an optional validity window, so keys can be rotated without a gap."""

    key: Annotated[str, AfterValidator(_check_age_recipient)]
    valid_from: date | None = None
    valid_until: date | None = None

    def current(self, today: date) -> bool:
        return (self.valid_from is None or self.valid_from <= today) and (
            self.valid_until is None or today <= self.valid_until
        )


_PGP_PUBLIC = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


class Encryption(_Model):
    """How payloads to and from this partner are encrypted.

    ``age`` (the default for flows where we provide the tooling) or ``openpgp`` for partners who
    already exchange files with GnuPG. Either way the manifest carries an SSH signature.
    """

    method: Literal["age", "openpgp"] = Field(description="'age' (age v1, X25519) or 'openpgp' (GnuPG).")
    recipients: list[DatedKey] = Field(default=[], description="age: the partner's age recipients (age1…).")
    openpgp_keys: list[str] = Field(
        default=[],
        description="openpgp: the partner's ASCII-armored public keys; we encrypt to them and require their "
        "signature on what the partner sends.",
    )

    @model_validator(mode="after")
    def _keys_for_method(self) -> Encryption:
        if self.method == "age" and not self.recipients:
            raise ValueError("method 'age' needs at least one entry in 'recipients'")
        if self.method == "openpgp":
            if not self.openpgp_keys:
                raise ValueError("method 'openpgp' needs at least one key in 'openpgp_keys'")
            if any(not k.lstrip().startswith(_PGP_PUBLIC) for k in self.openpgp_keys):
                raise ValueError(f"every 'openpgp_keys' entry must be an ASCII-armored public key ({_PGP_PUBLIC})")
        return self

    def current_recipients(self, today: date) -> list[str]:
        return [k.key for k in self.recipients if k.current(today)]


def _check_signing_key(line: str) -> str:
    key_type, _ = parse_host_key(line)
    if key_type != "ssh-ed25519":
        raise ValueError("signing keys must be ssh-ed25519 (what `ssh-keygen -t ed25519` makes)")
    return line


class Partner(_Model):
    """An organisation we exchange files with."""

    code: Slug
    name: str
    kind: Literal["council", "health_board", "open_data_portal", "other"]
    sftp: SftpEndpoint
    encryption: Encryption
    signing_keys: list[Annotated[str, AfterValidator(_check_signing_key)]] = Field(
        min_length=1,
        description="Pinned Ed25519 public keys whose SSH signatures we accept on this partner's manifests. "
        "The key the partner logs in to SFTP with can serve here too.",
    )

    @property
    def sftp_pool(self) -> str:
        """The Airflow pool that caps our SFTP sessions to this partner (``sftp.max_sessions`` slots)."""
        return f"crosswalk_sftp_{self.code.replace('-', '_')}"


MANUAL, ON_ARRIVAL = "manual", "on_arrival"


def _schedule_check(*words: str):
    """A validator for a schedule: one of ``words``, a cron preset or a five-field cron expression."""
    named = ", ".join(f"'{w}'" for w in words)

    def check(v: str) -> str:
        if v in words or v in CRON_PRESETS or _CRON.match(v):
            return v
        raise ValueError(f"{v!r} is not {named}, one of {', '.join(CRON_PRESETS)}, or a five-field cron expression")

    return check


Schedule = Annotated[
    str,
    AfterValidator(_schedule_check(MANUAL)),
    Field(description="'manual', a cron preset such as '@daily', or a cron expression."),
]

FeedSchedule = Annotated[
    str,
    AfterValidator(_schedule_check(MANUAL, ON_ARRIVAL)),
    Field(
        description="'manual' (runs only when triggered), a cron preset such as '@daily' or a cron expression, or "
        "'on_arrival' (an inbound feed: when a complete drop lands in the partner's outbox; any other feed: when "
        "its source has new data). Anything but 'manual' takes effect only once the graduation gate is passed."
    ),
]


class StagingTarget(_Model):
    table: Annotated[str, StringConstraints(pattern=r"^stg_[a-z0-9_]+$")]


class Matching(_Model):
    """Link each staged batch of this feed to the latest staged batch of an index feed (CHI matching)."""

    against: Slug = Field(description="The inbound feed whose staged batches are the index (e.g. health-index).")
    id_column: str = Field(default="source_id", description="This feed's record id column.")
    upper: float = Field(default=0.90, gt=0, le=1, description="Match probability for an automatic link.")
    lower: float = Field(default=0.50, gt=0, le=1, description="Below this, no match; from here to upper, review.")
    min_lead: float = Field(default=4.0, ge=0, description="Match weight by which the best must beat the runner-up.")
    reviewer: Slug | None = Field(
        default=None,
        description="Partner whose staff review uncertain pairs (default: this feed's partner); the review card "
        "shows only the fields the agreements in force let that organisation see.",
    )

    @model_validator(mode="after")
    def _bands(self) -> Matching:
        if self.lower >= self.upper:
            raise ValueError("lower must be below upper (the review band lies between them)")
        return self


DEFAULT_MAX_BYTES = 2 * 1024**3  # a million-row social-care extract is ~150 MB; headroom of an order of magnitude
DEFAULT_MAX_DROPS_PER_RUN = 200


class InboundFeed(_Model):
    """A partner drops extracts in its outbox; we fetch, check and stage them."""

    id: Slug
    direction: Literal["inbound"]
    description: str
    partner: Slug
    file_pattern: str = Field(description="fnmatch pattern of the data file name, e.g. 'clients_*.csv'.")
    schema_id: SchemaId = Field(alias="schema")
    target: StagingTarget
    schedule: FeedSchedule = "manual"
    tags: list[str] = []
    matching: Matching | None = None
    max_bytes: int = Field(
        DEFAULT_MAX_BYTES,
        ge=1,
        description="Largest data file taken in, as sent and as decrypted (bytes; default 2 GiB). Checked from"
        " the listing before any download, and decryption stops past the manifest's plaintext_size.",
    )
    max_drops_per_run: int = Field(
        DEFAULT_MAX_DROPS_PER_RUN,
        ge=1,
        le=1000,  # under Airflow's max_map_length (1024): one mapped ingest task per drop
        description="New drops taken in per run, oldest first; the rest wait for the next run (the backlog is"
        " logged and audited).",
    )

    @property
    def reviewer(self) -> str:
        """The partner whose staff review this feed's uncertain matches."""
        return (self.matching.reviewer if self.matching else None) or self.partner

    @field_validator("file_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if "/" in v or not v.strip():
            raise ValueError("must be a file-name pattern without '/'")
        return v


class OutboundFeed(_Model):
    """We build an extract from staged data and deliver it to a partner's inbox."""

    id: Slug
    direction: Literal["outbound"]
    description: str
    partner: Slug
    source_feed: Slug = Field(description="The inbound feed whose staged batches this extract is built from.")
    agreement: Slug = Field(description="The agreement that allows this flow.")
    file_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]
    schedule: FeedSchedule = "manual"
    tags: list[str] = []


class PortalFeed(_Model):
    """We publish a table from staged data for a partner's portal to read (a view over versioned tables)."""

    id: Slug
    direction: Literal["publish"]
    description: str
    partner: Slug = Field(description="The partner whose portal reads the table: the agreement's recipient.")
    source_feed: Slug = Field(description="The inbound feed whose latest staged batch is published.")
    agreement: Slug = Field(description="The agreement that allows the portal to see the table.")
    table: Annotated[str, StringConstraints(pattern=r"^pub_[a-z0-9_]+$")] = Field(
        description="The view the portal queries; each version is a table pub_<name>__v<N> behind it."
    )
    keyed_by_chi: bool = Field(
        default=True,
        description="Rows are keyed by CHI: a record without its own valid CHI takes the one matching linked it "
        "to; rows with neither are left out (counted).",
    )
    keep_versions: int = Field(default=2, ge=2, description="Versions whose tables are kept (for rollback).")
    schedule: FeedSchedule = "manual"
    tags: list[str] = []


class Approver(_Model):
    id: str = Field(description="The approver's Airflow user id.")
    name: str = Field(description="The approver's name, as recorded in the audit trail.")


class CkanTarget(_Model):
    conn_id: str = Field(description="Airflow connection: host = the CKAN site URL, password = the API token.")
    organization: Slug = Field(description="The CKAN organisation that owns the dataset.")
    dataset: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{2,100}$")] = Field(
        description="The CKAN dataset name (URL slug)."
    )


class FileTarget(_Model):
    path: str = Field(description="Directory the data package is copied to (e.g. a web server's or SFTP drop's).")


class SftpTarget(_Model):
    partner: Slug = Field(
        description="The partner whose SFTP area receives the package, through its connection and pinned host keys."
    )
    path: Annotated[str, StringConstraints(pattern=r"^/")] = Field(
        description="Absolute directory in that area; the package goes to <path>/<feed>/."
    )


class OpenDataTargets(_Model):
    ckan: CkanTarget | None = None
    file: FileTarget | None = None
    sftp: SftpTarget | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> OpenDataTargets:
        if self.ckan is None and self.file is None and self.sftp is None:
            raise ValueError("name at least one target: ckan, file or sftp")
        return self


class OpenDataFeed(_Model):
    """Aggregates of published data, through disclosure control and sign-off, to open-data portals."""

    id: Slug
    direction: Literal["open_data"]
    title: str
    description: str
    source: Slug = Field(description="The portal publication (direction: publish) the aggregates are built from.")
    agreement: Slug = Field(description="The open_data agreement whose dataset catalogue the table must match.")
    dataset: SchemaId = Field(description="The agreement dataset and table schema of the published table.")
    sql: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+\.sql$")] = Field(
        description="The aggregate query, in include/sql/opendata/."
    )
    council_area: Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{8}$")] = Field(
        description="ONS code of the council area the source covers."
    )
    months: int = Field(default=12, ge=1, le=120, description="Calendar months covered, up to the last full one.")
    update_frequency: Literal["weekly", "monthly", "quarterly", "annually"] = "monthly"
    approver: Approver = Field(
        description="Who signs off go-live in the Airflow UI while the dataset is not automated."
    )
    automated: bool = Field(default=False, description="Publish without waiting for the approver (after sign-off).")
    targets: OpenDataTargets
    schedule: FeedSchedule = "manual"
    tags: list[str] = []

    @property
    def partner(self) -> str:
        """The recipient of open data: everyone."""
        return "public"


AnyFeed = InboundFeed | OutboundFeed | PortalFeed | OpenDataFeed
Feed = Annotated[AnyFeed, Field(discriminator="direction")]


class FeedFile(_Model):
    """One file in ``config/feeds/``; a thin wrapper so the discriminator can choose the model."""

    feed: Feed


class Operator(_Model):
    code: Slug
    name: str


class KeyConnections(_Model):
    """Where our secret keys live: Airflow connections (or the secrets backend), never the repo."""

    age_identities_conn_id: str = Field(
        description="Connection whose extra 'identities' lists our age identities, each with optional "
        "valid_from/valid_until; decryption tries every current one."
    )
    signing_key_conn_id: str = Field(
        description="Connection whose extra 'private_key' holds our Ed25519 SSH signing key (OpenSSH format)."
    )
    openpgp_key_conn_id: str | None = Field(
        default=None,
        description="Connection whose extra 'secret_key' holds our ASCII-armored OpenPGP secret key; needed "
        "only when a partner uses method 'openpgp'.",
    )


class AuditSettings(_Model):
    """The IG evidence: kept by us, independent of Airflow's own clean-up."""

    retention_days: int = Field(
        default=731,
        ge=183,
        description="Audit events older than this are purged by the audit DAG (the purge is itself audited and "
        "keeps the chain verifiable). At least six months; the default is two years.",
    )
    report_dir: str = Field(
        default="reports",
        description="Where the weekly IG report (HTML and CSV) is written: a path, relative to the Airflow "
        "worker's working directory unless absolute (for example a mounted IG share).",
    )
    schedule: Schedule = Field(default="@weekly", description="When the audit DAG runs: report, verify, purge.")


class StagingSettings(_Model):
    """How long staged personal data is kept, and when the retention DAG runs."""

    retention_days: int = Field(
        default=90,
        ge=1,
        description="Rows of batches staged longer ago than this are purged (the ledger keeps the batch).",
    )
    schedule: Schedule = Field(default="@daily", description="When the retention DAG runs.")


class Webhook(_Model):
    conn_id: str = Field(
        description="Airflow connection: host = the webhook URL, password = a bearer token (optional)."
    )


class NotificationChannel(_Model):
    """Where a team or partner hears about failures, quarantines and approvals waiting for them."""

    id: Slug
    webhook: Webhook
    on: list[Literal["failure", "quarantine", "approval_needed"]] = Field(
        min_length=1, description="Which notices this channel receives."
    )
    partners: list[Slug] = Field(
        default=[], description="Only notices about these partners (empty: every partner and the system DAGs)."
    )


class GraduationSettings(_Model):
    """When a feed may leave manual running (see :mod:`crosswalk.schedules`)."""

    manual_runs: int = Field(
        default=3,
        ge=1,
        description="Successful manual runs (not dry runs) a feed needs before its schedule takes effect.",
    )


class Settings(_Model):
    """``config/crosswalk.yaml``: settings for the whole deployment."""

    operator: Operator = Field(description="The organisation that runs this Crosswalk.")
    database_conn_id: str = Field(description="Airflow connection id of the staging and audit database.")
    keys: KeyConnections
    owner: str = Field(default="crosswalk", description="Airflow owner of every generated DAG.")
    retries: int = Field(default=2, ge=2, description="Retries for every task; at least 2.")
    retry_delay_seconds: int = Field(default=60, ge=1)
    audit: AuditSettings = AuditSettings()
    staging: StagingSettings = StagingSettings()
    graduation: GraduationSettings = GraduationSettings()
    notifications: list[NotificationChannel] = Field(
        default=[], description="Webhooks told about failures, quarantines and approvals needed."
    )
    arrival_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the triggerer lists an on_arrival feed's outbox for complete drops.",
    )
    open_data_dir: str = Field(
        default="open-data",
        description="The open-data staging area: each dataset's package (CSV, datapackage.json, guidance) is built "
        "here before sign-off. Relative to the worker's working directory unless absolute.",
    )

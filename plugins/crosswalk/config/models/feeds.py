"""Feeds, by direction: inbound drops, outbound deliveries, portal publications, open-data releases."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from crosswalk.config.models.base import ConfigModel, FeedSchedule, SchemaId, Slug


class StagingTarget(ConfigModel):
    table: Annotated[str, StringConstraints(pattern=r"^stg_[a-z0-9_]+$")]


class Matching(ConfigModel):
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


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Expected(ConfigModel):
    """When a partner's drop is due: a file not there by ``by`` plus the grace period, on one of ``days``, raises a
    ``late_file`` notice to the channels that asked (the team's, and the partner's own contact)."""

    by: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        description="Local time of day (HH:MM) the drop is due by."
    )
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default=["mon", "tue", "wed", "thu", "fri"], min_length=1, description="Days a drop is due (default weekdays)."
    )
    grace_minutes: int = Field(default=30, ge=0, le=720, description="How long after `by` before anyone is told.")
    timezone: str = Field(default="Europe/London", description="The partner's time zone (an IANA name).")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{v!r} is not a time zone (an IANA name, e.g. Europe/London)") from exc
        return v


class InboundFeed(ConfigModel):
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
    person_list: Literal["objections", "restricted"] | None = Field(
        default=None,
        description="This feed is a governed list of people, not records to share: 'objections' (people who objected"
        " to the sharing, UK GDPR Art. 21) or 'restricted' (records whose details must not be shared). Agreements"
        " name it in a recipient's population; each drop is the whole list; its schema identifies people by"
        " chi_number, nhs_number or source_id.",
    )
    expected: Expected | None = Field(
        default=None, description="When a drop is due; a late one is told to whoever asked for late_file notices."
    )
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

    @model_validator(mode="after")
    def _list_is_not_matched(self) -> InboundFeed:
        if self.person_list is not None and self.matching is not None:
            raise ValueError("a person list (person_list) is not matched: remove its matching section")
        return self


RECORDS, IDENTIFIERS_BACK = "records", "identifiers_back"
IDENTIFIER_RETURN = "identifier_return"  # the dataset (and table schema) of an identifiers_back return


class OutboundFeed(ConfigModel):
    """We build an extract from staged data and deliver it to a partner's inbox.

    ``kind: records`` sends the source feed's staged records; ``kind: identifiers_back`` returns to the partner
    that sent the source feed what matching found for each of its records (dataset ``identifier_return``): the
    identifier, band, method, reason, person id and what changed since the last return."""

    id: Slug
    direction: Literal["outbound"]
    kind: Literal["records", "identifiers_back"] = "records"
    description: str
    partner: Slug
    source_feed: Slug = Field(description="The inbound feed whose staged batches this extract is built from.")
    agreement: Slug = Field(description="The agreement that allows this flow.")
    file_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]
    schedule: FeedSchedule = "manual"
    tags: list[str] = []

    def dataset(self, source: InboundFeed) -> str:
        """The agreement dataset (and table schema) this feed's extract is made of."""
        return IDENTIFIER_RETURN if self.kind == IDENTIFIERS_BACK else source.schema_id


class PortalFeed(ConfigModel):
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


class Approver(ConfigModel):
    id: str = Field(description="The approver's Airflow user id.")
    name: str = Field(description="The approver's name, as recorded in the audit trail.")


class CkanTarget(ConfigModel):
    conn_id: str = Field(description="Airflow connection: host = the CKAN site URL, password = the API token.")
    organization: Slug = Field(description="The CKAN organisation that owns the dataset.")
    dataset: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{2,100}$")] = Field(
        description="The CKAN dataset name (URL slug)."
    )


class FileTarget(ConfigModel):
    path: str = Field(description="Directory the data package is copied to (e.g. a web server's or SFTP drop's).")


class SftpTarget(ConfigModel):
    partner: Slug = Field(
        description="The partner whose SFTP area receives the package, through its connection and pinned host keys."
    )
    path: Annotated[str, StringConstraints(pattern=r"^/")] = Field(
        description="Absolute directory in that area; the package goes to <path>/<feed>/."
    )


class OpenDataTargets(ConfigModel):
    ckan: CkanTarget | None = None
    file: FileTarget | None = None
    sftp: SftpTarget | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> OpenDataTargets:
        if self.ckan is None and self.file is None and self.sftp is None:
            raise ValueError("name at least one target: ckan, file or sftp")
        return self


class OpenDataFeed(ConfigModel):
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


class FeedFile(ConfigModel):
    """One file in ``config/feeds/``; a thin wrapper so the discriminator can choose the model."""

    feed: Feed

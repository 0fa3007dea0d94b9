"""The project's own settings: who we are, our keys, the database, audit, notifications, graduation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from crosswalk.config.models.base import ConfigModel, Schedule, Slug


class Operator(ConfigModel):
    code: Slug
    name: str


class KeyConnections(ConfigModel):
    """Where our secret keys live: Airflow connections (or the secrets backend), never the repo."""

    age_identities_conn_id: str = Field(
        description="Connection whose extra 'identities' lists our age identities, each with optional "
        "valid_from/valid_until; decryption tries every current one."
    )
    signing_key_conn_id: str = Field(
        description="Connection whose extra 'private_key' holds our Ed25519 SSH signing key (OpenSSH format)."
    )
    disclosure_key_conn_id: str = Field(
        default="crosswalk_disclosure_key",
        description="Connection whose password is our own keyed-hash key (64 hex digits, `crosswalk keygen "
        "--pseudonymisation`) for the per-person disclosure log: never an agreement's pseudonymisation key.",
    )
    openpgp_key_conn_id: str | None = Field(
        default=None,
        description="Connection whose extra 'secret_key' holds our ASCII-armored OpenPGP secret key; needed "
        "only when a partner uses method 'openpgp'.",
    )


class AuditSettings(ConfigModel):
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


class StagingSettings(ConfigModel):
    """How long staged personal data is kept, and when the retention DAG runs."""

    retention_days: int = Field(
        default=90,
        ge=1,
        description="Rows of batches staged longer ago than this are purged (the ledger keeps the batch).",
    )
    schedule: Schedule = Field(default="@daily", description="When the retention DAG runs.")


class Webhook(ConfigModel):
    conn_id: str = Field(
        description="Airflow connection: host = the webhook URL, password = a bearer token (optional)."
    )
    style: Literal["crosswalk", "slack", "teams"] = Field(
        default="crosswalk",
        description="The body posted: 'crosswalk' (our JSON: kind, summary, feed, partner, DAG, run, task), 'slack' "
        "(an incoming webhook's {\"text\"}), 'teams' (a Teams webhook's {\"text\"}).",
    )


class Email(ConfigModel):
    to: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    smtp_conn_id: str = Field(default="smtp_default", description="Airflow's SMTP connection (the smtp provider).")
    from_email: str | None = Field(default=None, description="Sender; default: the SMTP connection's from_email.")


class PluggedNotifier(ConfigModel):
    """Any Airflow notifier (a ``BaseNotifier`` subclass), by import path, with its keyword arguments: Slack's,
    an organisation's own. It receives the task's context with ``crosswalk_notice`` (the notice's fields)."""

    classpath: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")]
    kwargs: dict[str, Any] = {}


NOTICE_KINDS = ("failure", "quarantine", "approval_needed", "late_file")


class NotificationChannel(ConfigModel):
    """Where a team or partner hears about failures, quarantines, approvals waiting and files that have not
    arrived: a webhook (our JSON, Slack or Teams), e-mail through Airflow's SMTP connection, or any Airflow
    notifier."""

    id: Slug
    webhook: Webhook | None = None
    email: Email | None = None
    notifier: PluggedNotifier | None = None
    on: list[Literal["failure", "quarantine", "approval_needed", "late_file"]] = Field(
        min_length=1, description="Which notices this channel receives."
    )
    partners: list[Slug] = Field(
        default=[], description="Only notices about these partners (empty: every partner and the system DAGs)."
    )

    @model_validator(mode="after")
    def _one_way(self) -> NotificationChannel:
        given = [k for k in ("webhook", "email", "notifier") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of webhook, email or notifier (given: {', '.join(given) or 'none'})")
        return self


class GraduationSettings(ConfigModel):
    """When a feed may leave manual running (see :mod:`crosswalk.schedules`)."""

    manual_runs: int = Field(
        default=3,
        ge=1,
        description="Successful manual runs (not dry runs) a feed needs before its schedule takes effect.",
    )


class MatchingSettings(ConfigModel):
    """Where matching scores its pairs (:mod:`crosswalk.matching.engines`). Training always runs on the worker."""

    backend: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="duckdb: on the worker (Splink's advice: up to about 5 million records). spark: through "
        "Splink's Spark support, for a national index (needs pyspark, requirements-spark.txt, and Java 17).",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark's master URL: local[N] runs Spark inside the worker with N cores; spark://host:7077, "
        "yarn or k8s://... sends the scoring to a cluster.",
    )
    checkpoint_dir: str | None = Field(
        default=None,
        description="Where Spark writes its intermediate tables (they hold records; each run's are removed when "
        "it ends). Local mode: the worker's work root when unset. A cluster: required, on storage every executor "
        "reaches (hdfs://..., s3a://...), inside the organisation's boundary.",
    )
    spark_conf: dict[str, str] = Field(
        default={}, description="More Spark settings, e.g. spark.executor.memory: 8g, spark.driver.memory: 8g."
    )


class Settings(ConfigModel):
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
    matching: MatchingSettings = MatchingSettings()
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

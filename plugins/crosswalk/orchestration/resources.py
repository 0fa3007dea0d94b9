"""Adapters from Airflow (connections, task context) to the plain objects the pipelines take."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import URL, Engine

from crosswalk.audit import AuditLog, RunContext
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.errors import ConfigError, CrosswalkError, FatalError
from crosswalk.schedules import ScheduleDecision
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade

log = logging.getLogger(__name__)


def url_from_connection(conn: Any) -> str | URL:
    """SQLAlchemy URL for an Airflow connection of type ``sqlite`` or ``postgres``."""
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
    raise ConfigError(f"connection {conn.conn_id}", "conn_type", f"{conn.conn_type!r}: use 'postgres' or 'sqlite'")


_ENGINES: dict[str, Engine] = {}


def dispose_engines() -> None:
    """Close every pooled connection (before a database is dropped, or at the end of a test)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def engine_for(conn_id: str) -> Engine:
    """The engine for an Airflow connection; one pool per database URL in this process."""
    url = url_from_connection(connection(conn_id))
    key = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    if key not in _ENGINES:
        _ENGINES[key] = make_engine(key)
    return _ENGINES[key]


def connection(conn_id: str) -> Any:
    """An Airflow connection; a missing one is a configuration error (fatal), not a retryable one."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(
            f"connection {conn_id}",
            "conn_id",
            "not defined: add it in the Airflow UI, the secrets backend or AIRFLOW_CONN_*",
        ) from exc


def age_identities(cfg: ProjectConfig) -> list:
    """Our age identities that are current today, from the secrets backend."""
    from datetime import date

    from crosswalk.keys import current_identities

    conn_id = cfg.settings.keys.age_identities_conn_id
    conn = connection(conn_id)
    return current_identities(conn.extra_dejson, conn.password, date.today(), conn_id)


def signing_key(cfg: ProjectConfig):
    from crosswalk.keys import signing_key as load

    conn_id = cfg.settings.keys.signing_key_conn_id
    conn = connection(conn_id)
    return load(conn.extra_dejson, conn.password, conn_id)


def pseudonymisation_key(conn_id: str) -> bytes:
    """An agreement's pseudonymisation key, from the secrets backend (the egress gate's key lookup)."""
    from crosswalk.keys import pseudonymisation_key as parse

    return parse(connection(conn_id).password, conn_id)


def connection_problems(cfg: ProjectConfig) -> list[ConfigError]:
    """Every connection the configuration names, resolved through Airflow's secrets backends.

    What ``crosswalk check`` runs in a deployment: a key or login that does not resolve is found
    before a run needs it. Pseudonymisation keys are also parsed (hex, at least 32 bytes). Only
    presence and shape are checked; no secret is printed.
    """
    from crosswalk.keys import pseudonymisation_key as parse_key

    uses: dict[str, list[str]] = {}
    keys = cfg.settings.keys
    named = [
        (cfg.settings.database_conn_id, "database_conn_id"),
        (keys.age_identities_conn_id, "keys.age_identities_conn_id"),
        (keys.signing_key_conn_id, "keys.signing_key_conn_id"),
        (keys.openpgp_key_conn_id, "keys.openpgp_key_conn_id"),
        *((p.sftp.conn_id, f"partner {p.code}") for p in cfg.partners.values()),
    ]
    for conn_id, use in named:
        if conn_id:
            uses.setdefault(conn_id, []).append(use)
    pseudonym_keys = {
        a.pseudonymisation_key_conn_id: a.id
        for h in cfg.agreements.values()
        for a in h.versions
        if a.pseudonymisation_key_conn_id
    }
    for conn_id, agreement_id in pseudonym_keys.items():
        uses.setdefault(conn_id, []).append(f"agreement {agreement_id} (pseudonymisation key)")
    problems = []
    for conn_id, used_by in sorted(uses.items()):
        try:
            conn = connection(conn_id)
            if conn_id in pseudonym_keys:
                parse_key(conn.password, conn_id)
        except ConfigError as exc:
            problems.append(ConfigError(exc.file, exc.field, f"{exc.reason} (used by {'; '.join(used_by)})"))
    return problems


def missing_pools(cfg: ProjectConfig) -> list[ConfigError] | None:
    """The SFTP pools the DAGs use that Airflow's metadata database lacks (a task in a missing pool is never
    scheduled); None when that database cannot be read from here (a machine outside the deployment)."""
    try:
        from airflow.models.pool import Pool

        present = {p.pool for p in Pool.get_pools()}
    except Exception:  # no metadata database reachable from here: not ours to judge
        return None
    return [
        ConfigError(
            f"partner {p.code}",
            "sftp.max_sessions",
            f"the Airflow pool {p.sftp_pool} does not exist, so this partner's tasks would never be scheduled:"
            " run `crosswalk pools --out pools.json && airflow pools import pools.json`",
        )
        for p in cfg.partners.values()
        if p.sftp_pool not in present
    ]


def openpgp_secret(cfg: ProjectConfig) -> str | None:
    """Our armored OpenPGP secret key, if this deployment has one (only OpenPGP partners need it)."""
    conn_id = cfg.settings.keys.openpgp_key_conn_id
    if conn_id is None:
        return None
    conn = connection(conn_id)
    key = conn.extra_dejson.get("secret_key") or conn.password
    if not key or "BEGIN PGP PRIVATE KEY BLOCK" not in key:
        raise ConfigError(f"connection {conn_id}", "extra.secret_key", "not an ASCII-armored OpenPGP secret key")
    return key


def project_config() -> ProjectConfig:
    # Loaded per task (not cached): a run uses the configuration as it is when the task starts.
    # Table Schema descriptors are checked against the spec by `crosswalk check` and CI, not here.
    return load_config(check_descriptors=False)


def run_context(context: Any) -> RunContext:
    dag_run, ti = context["dag_run"], context["ti"]
    task_id = ti.task_id if getattr(ti, "map_index", -1) in (-1, None) else f"{ti.task_id}[{ti.map_index}]"
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    user = getattr(dag_run, "triggering_user_name", None)
    return RunContext(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        task_id=task_id,
        run_type=run_type,
        triggered_by=user or run_type,
    )


def prepare_database(cfg: ProjectConfig) -> list[str]:
    return upgrade(engine_for(cfg.settings.database_conn_id))


def _sweep_work_root(audit: AuditLog) -> None:
    """Before any work: remove what killed tasks of this host left in the private work root (plaintext,
    extracts, keys), and say so in the audit trail, in counts and bytes."""
    from crosswalk import workroot

    swept = workroot.sweep()
    if swept.removed:
        detail = {"work_root": str(workroot.root()), "directories": swept.removed, "files": swept.files,
                  "bytes": swept.bytes, "live_left_alone": swept.live}  # fmt: skip
        audit.emit("workroot.swept", "succeeded", detail=detail)
        log.warning("Work root: removed %d directory(ies) of dead tasks (%d files, %d bytes)", swept.removed,
                    swept.files, swept.bytes)  # fmt: skip


def actionable_reason(exc: BaseException) -> str:
    """What an operator can do about an exception we did not raise on purpose, without its text (a library's
    message can quote a value): a full disk names the work root and its free space; a lost database says the
    retry redoes the step; anything else is named by type."""
    import errno
    import shutil

    from sqlalchemy.exc import OperationalError

    from crosswalk import workroot

    chain, seen = [exc], {id(exc)}
    for e in chain:  # the whole chain: the first cause is often wrapped twice (a failed rollback on top)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None and id(nxt) not in seen:
                seen.add(id(nxt))
                chain.append(nxt)
    if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain):
        root = workroot.root()
        free = shutil.disk_usage(root).free
        return (
            f"disk full (no space left on device); the work root {root} has {free} bytes free: free space, then retry"
        )
    # SQLAlchemy's OperationalError, or the driver's own (psycopg raises its own from inside a COPY).
    if any(isinstance(e, OperationalError) or type(e).__name__ == "OperationalError" for e in chain):
        return (
            "lost the connection to the database (OperationalError); nothing of this step was committed,"
            " and the retry redoes it from its start"
        )
    return f"unexpected {type(exc).__name__}"


def _account_for_earlier_attempts(audit: AuditLog, ids: dict[str, Any]) -> None:
    """A retry first gives the attempts before it an outcome: one that started and recorded nothing (killed
    mid-work, or our database down when it ended) is recorded as ``task.abandoned`` before this one starts."""
    from crosswalk.audit import earlier_attempts_without_outcome

    if not (audit.run.dag_id and audit.run.run_id and audit.run.task_id):
        return  # not an Airflow task (the CLI): there are no attempts to account for
    for attempt in earlier_attempts_without_outcome(audit.engine, audit.run):
        audit.emit(
            "task.abandoned",
            "failed",
            reason=f"the attempt started {str(attempt['started_at'])[:19]} recorded no outcome (killed, or the"
            " database was unreachable when it ended); this retry redoes its work",
            **ids,
            detail={"noticed_by": "retry"},
        )


@contextlib.contextmanager
def audited_task(audit: AuditLog, **ids: Any) -> Iterator[AuditLog]:
    """Emit ``task.started`` and ``task.succeeded``/``task.failed``; turn fatal errors into no-retry failures.

    Our own errors carry safe messages (names, counts, hashes). Anything else is recorded by type
    only, because a library's message can quote a value (a database's duplicate-key error does).
    """
    from airflow.sdk.exceptions import AirflowFailException

    _account_for_earlier_attempts(audit, ids)
    audit.emit("task.started", "started", **ids)
    try:
        _sweep_work_root(audit)
        yield audit
    except FatalError as exc:
        audit.emit("task.failed", "failed", reason=str(exc), **ids, detail={"error": type(exc).__name__})
        raise AirflowFailException(str(exc)) from exc
    except CrosswalkError as exc:
        audit.emit(
            "task.failed",
            "failed",
            reason=str(exc),
            **ids,
            detail={"error": type(exc).__name__, "retry": True},
        )
        raise
    except Exception as exc:
        reason = actionable_reason(exc)
        log.error("%s", reason)  # first: when the database is what failed, the event below cannot be written
        audit.emit("task.failed", "failed", reason=reason, **ids, detail={"error": type(exc).__name__})
        raise
    audit.emit("task.succeeded", "succeeded", **ids)


def manual_run_history(cfg: ProjectConfig) -> tuple[dict[str, int] | None, str]:
    """Successful manual runs per feed, from our audit trail, for the graduation gate; or None and
    why not, when the database cannot be reached (the gate then keeps feeds manual)."""
    from sqlalchemy.exc import SQLAlchemyError

    from crosswalk.audit import successful_manual_runs

    try:
        return successful_manual_runs(engine_for(cfg.settings.database_conn_id)), ""
    except (CrosswalkError, SQLAlchemyError, OSError) as exc:
        return None, f"cannot read the run history: {type(exc).__name__}"


def schedule_decisions(cfg: ProjectConfig, *, offline: bool = False) -> dict[str, ScheduleDecision]:
    """The graduation gate for every feed (for the DAG factory and ``crosswalk check``).

    The run history is read only when some feed asks for more than manual, and never ``offline``;
    when it is not read, such feeds stay manual and say why.
    """
    from datetime import date

    from crosswalk.schedules import MANUAL, decide

    runs: dict[str, int] | None = {}
    why = ""
    if any(f.schedule != MANUAL for f in cfg.feeds.values()):
        runs, why = (None, "not read with --offline") if offline else manual_run_history(cfg)
    today = date.today()
    return {
        f.id: decide(cfg, f, None if runs is None else runs.get(f.id, 0), today, why_unknown=why)
        for f in cfg.feeds.values()
    }

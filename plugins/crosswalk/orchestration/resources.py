"""Adapters from Airflow's task context to what the pipelines take: the config, the run, an audited task
with its sweep and reasons. Connections are read in :mod:`crosswalk.orchestration.connections`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from crosswalk.audit import AuditLog, RunContext
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.errors import ConfigError, CrosswalkError, FatalError, UnexpectedFailure
from crosswalk.orchestration.connections import engine_for
from crosswalk.schedules import ScheduleDecision
from crosswalk.staging.migrations import upgrade

log = logging.getLogger(__name__)


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


def project_config() -> ProjectConfig:
    # Loaded per task (not cached): a run uses the configuration as it is when the task starts.
    # Table Schema descriptors are checked against the spec by `crosswalk check` and CI, not here.
    return load_config(check_descriptors=False)


DAG_TEST = "dag_test"  # what Airflow's dag.test() records as the triggering user


def run_context(context: Any) -> RunContext:
    dag_run, ti = context["dag_run"], context["ti"]
    task_id = ti.task_id if getattr(ti, "map_index", -1) in (-1, None) else f"{ti.task_id}[{ti.map_index}]"
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    user = getattr(dag_run, "triggering_user_name", None)
    if user == DAG_TEST:  # dag.test() names no one; the person is the account that ran it (the demo's operator)
        import getpass

        user = f"{getpass.getuser()} (dag.test)"
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


def _without_cause(exc: BaseException) -> BaseException:
    """``exc`` with no chained cause or context: what Airflow prints (the task log's traceback, a lineage event's
    error) then holds our message only, never a library's, which can quote the input (pydantic's does)."""
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc


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
        raise AirflowFailException(str(exc)) from _without_cause(exc)
    except CrosswalkError as exc:
        audit.emit(
            "task.failed",
            "failed",
            reason=str(exc),
            **ids,
            detail={"error": type(exc).__name__, "retry": True},
        )
        raise _without_cause(exc) from None
    except Exception as exc:
        if type(exc).__module__.partition(".")[0] == "airflow":
            raise  # Airflow's own signals (a skip, a deferral) pass as they are
        reason = actionable_reason(exc)
        log.error("%s", reason)  # first: when the database is what failed, the event below cannot be written
        audit.emit("task.failed", "failed", reason=reason, **ids, detail={"error": type(exc).__name__})
        raise UnexpectedFailure(reason) from None
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

"""Structured audit events: to the ``audit_event`` table and, as one line, to the task log.

Each event is written in its own transaction so it survives the failure of the work it
describes. Events hold names, counts and hashes, never a record's values: ``detail`` accepts
only scalars, lists of names and mappings of names to names or counts.

The table is a hash chain (:mod:`crosswalk.auditchain`): each event takes the next position and
the hash of the event before it, under a lock (PostgreSQL advisory lock; SQLite's write lock), so
parallel tasks never fork the chain. The table is append-only (triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from crosswalk import auditchain
from crosswalk.logsafety import one_line, shown_name

log = logging.getLogger("crosswalk.audit")

Scalar = str | int | float | bool | None
Detail = dict[str, Scalar | list[str] | dict[str, str | int | float]]


@dataclass(frozen=True)
class RunContext:
    """Who and what is acting: the Airflow run and task, or a command-line user."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    run_type: str | None = None
    triggered_by: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    event: str
    outcome: str
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    event_time: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    run_type: str | None = None
    triggered_by: str | None = None
    feed_id: str | None = None
    partner: str | None = None
    batch_id: str | None = None
    file_name: str | None = None
    file_sha256: str | None = None
    file_size: int | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    reason: str | None = None
    detail: Detail | None = None

    def log_line(self) -> str:
        """Compact JSON of the set fields, for the task log."""
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "event_id"}
        d["event_time"] = self.event_time.isoformat(timespec="milliseconds") + "Z"
        return json.dumps(d, sort_keys=True, separators=(",", ":"))


NAMED = str | int | float  # what a detail mapping may hold for each name


def _check_detail(detail: Detail | None) -> None:
    for k, v in (detail or {}).items():
        ok = (
            isinstance(v, Scalar)
            or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            # names to names, counts or rates, e.g. field -> transform, field -> malformed values blanked,
            # estimated_precision -> 0.998
            or (isinstance(v, dict) and all(isinstance(n, str) and isinstance(x, NAMED) for n, x in v.items()))
        )
        if not ok:
            raise TypeError(
                f"audit detail {k!r} must be a scalar, a list of names or a mapping of names to names, counts or"
                f" rates, not {type(v).__name__}"
            )


class AuditLog:
    """Writes events for one run context."""

    def __init__(self, engine: Engine, run: RunContext) -> None:
        self.engine = engine
        self.run = run

    def emit(self, event: str, outcome: str, **fields) -> AuditEvent:
        with self.engine.begin() as conn:
            return self.append(conn, event, outcome, **fields)

    def emit_once(self, event: str, outcome: str, *, once_by: tuple[str, ...], **fields) -> AuditEvent | None:
        """Emit ``event`` unless one with the same values of the ``once_by`` fields is already recorded: a
        retry or rerun that redoes a step (a drop received again after a killed attempt) records it once.
        Checked under the chain's lock, so two runs at once cannot both record it."""
        with self.engine.begin() as conn:
            auditchain.claim_next(conn)  # the lock first: the check and the append are one step
            where = " AND ".join(f"{k} = :{k}" for k in once_by)
            found = conn.execute(
                text(f"SELECT 1 FROM audit_event WHERE event = :event AND {where} LIMIT 1"),
                {"event": event, **{k: fields[k] for k in once_by}},
            ).first()
            return None if found else self.append(conn, event, outcome, **fields)

    def append(self, conn: Connection, event: str, outcome: str, **fields) -> AuditEvent:
        """Append inside the caller's transaction (which then holds the chain's lock until it commits)."""
        _check_detail(fields.get("detail"))
        # Free-text fields are made safe here, once for every event: one line, escaped, bounded.
        if fields.get("reason") is not None:
            fields["reason"] = one_line(fields["reason"])
        if fields.get("file_name") is not None:
            fields["file_name"] = shown_name(fields["file_name"])
        seq, prev_hash = auditchain.claim_next(conn)
        # Timed inside the lock, so time order and chain order agree.
        ev = AuditEvent(event=event, outcome=outcome, **asdict(self.run), **fields)
        row = asdict(ev)
        row["detail"] = auditchain.detail_text(ev.detail)
        row.update(seq=seq, prev_hash=prev_hash)
        row["event_hash"] = auditchain.event_hash(row)
        conn.execute(
            text(f"INSERT INTO audit_event ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
            row,
        )
        level = logging.WARNING if outcome in ("failed", "quarantined") else logging.INFO
        log.log(level, "AUDIT %s", ev.log_line())
        return ev


def read_events(engine: Engine, **where: str) -> list[dict]:
    """Events in time order, optionally filtered by equality on columns (for reports and tests)."""
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT * FROM audit_event WHERE {clause} ORDER BY seq, event_time, event_id"),
            where,
        ).mappings()
        return [dict(r) for r in rows]


ATTEMPT_OUTCOMES = ("task.succeeded", "task.failed", "task.abandoned")


def _starts_beyond_outcomes(rows) -> list[dict]:
    """Per (run, task): the starts beyond the outcomes, latest first counted as the lost ones."""
    starts: dict[tuple[str, str], list] = {}
    ends: dict[tuple[str, str], int] = {}
    for run_id, task_id, event, at in rows:
        key = (run_id, task_id)
        if event == "task.started":
            starts.setdefault(key, []).append(at)
        else:
            ends[key] = ends.get(key, 0) + 1
    lost = []
    for (run_id, task_id), times in starts.items():
        extra = len(times) - ends.get((run_id, task_id), 0)
        if extra > 0:
            lost += [{"run_id": run_id, "task_id": task_id, "started_at": t} for t in times[len(times) - extra :]]
    return lost


def _attempt_events(engine: Engine, where: str, params: dict) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(
                f"SELECT run_id, task_id, event, event_time FROM audit_event WHERE {where}"
                " AND (event = 'task.started' OR event IN (:o1, :o2, :o3)) ORDER BY seq"
            ),
            {**params, "o1": ATTEMPT_OUTCOMES[0], "o2": ATTEMPT_OUTCOMES[1], "o3": ATTEMPT_OUTCOMES[2]},
        ).all()


def attempts_without_outcome(engine: Engine, dag_id: str, other_than_run: str, since: datetime) -> list[dict]:
    """Task attempts of ``dag_id``'s other runs since ``since`` whose start has no outcome event: the process
    was killed, or the database was down when it ended."""
    rows = _attempt_events(
        engine, "dag_id = :d AND run_id <> :r AND event_time >= :t", {"d": dag_id, "r": other_than_run, "t": since}
    )
    return _starts_beyond_outcomes(rows)


def earlier_attempts_without_outcome(engine: Engine, run: RunContext) -> list[dict]:
    """Earlier attempts of this very task instance (same DAG, run and task) that recorded no outcome. Airflow
    never runs two attempts of one task instance at once, so any such attempt has ended: killed, or unable
    to reach this database when it ended."""
    rows = _attempt_events(
        engine, "dag_id = :d AND run_id = :r AND task_id = :k", {"d": run.dag_id, "r": run.run_id, "k": run.task_id}
    )
    return _starts_beyond_outcomes(rows)


def successful_manual_runs(engine: Engine) -> dict[str, int]:
    """Per feed, the manual runs that finished successfully (``run.succeeded``; dry runs are
    recorded with outcome ``dry_run`` and do not count). No audit table yet means no runs."""
    from sqlalchemy import inspect

    if not inspect(engine).has_table("audit_event"):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT feed_id, COUNT(DISTINCT run_id) FROM audit_event"
                " WHERE event = 'run.succeeded' AND outcome = 'succeeded' AND run_type = 'manual'"
                " GROUP BY feed_id"
            )
        ).all()
    return {feed_id: int(n) for feed_id, n in rows}

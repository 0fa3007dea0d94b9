"""The audit trail as a hash chain: canonical form, hashing, appending under a lock, verifying.

Each event's canonical form is JSON with sorted keys, no spaces, UTF-8, times as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, its ``detail`` as a nested object, its position ``seq`` and the
``prev_hash`` of the event before it (64 zeros for the first); ``event_hash`` is the SHA-256 of
those bytes. Editing any column of an event changes its hash; deleting, reordering or inserting
an event breaks the next event's link. Verifying needs only the rows (or an export of them):
see :func:`verify_rows`, which an auditor can re-implement from this docstring.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

GENESIS = "0" * 64
_LOCK_KEY = 0x43525341  # "CRSA": one chain, one writer at a time
# Every column that the hash covers (all but event_hash itself).
COLUMNS = (
    "seq", "prev_hash", "event_id", "event_time", "event", "outcome", "dag_id", "run_id", "task_id", "run_type",
    "triggered_by", "feed_id", "partner", "batch_id", "file_name", "file_sha256", "file_size", "rows_in",
    "rows_out", "reason", "detail",
)  # fmt: skip


def detail_text(detail: dict | None) -> str | None:
    """How ``detail`` is stored: canonical JSON text."""
    return None if detail is None else json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _time(value: datetime | str) -> str:
    if isinstance(value, str):  # SQLite hands timestamps back as text
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes an event's hash is taken over."""
    body: dict[str, Any] = {}
    for k in COLUMNS:
        v = row.get(k)
        if k == "event_time":
            v = _time(v)
        elif k == "detail" and v is not None:
            v = json.loads(v) if isinstance(v, str) else v
        elif isinstance(v, str) and k in ("prev_hash", "event_id", "file_sha256"):
            v = v.strip()  # CHAR(n) columns may come back padded
        body[k] = v
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def claim_next(conn: Connection) -> tuple[int, str]:
    """The next position and the hash to link to; holds the chain's lock until ``conn`` commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    # On SQLite the engine opens every transaction with BEGIN IMMEDIATE: writers already take turns.
    last = conn.execute(
        text("SELECT seq, event_hash FROM audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
    ).first()
    return (1, GENESIS) if last is None else (int(last.seq) + 1, last.event_hash.strip())


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int  # events whose links and hashes were checked
    unchained: int  # events written before the chain existed (no position)
    position: int | None = None  # the first broken link
    problem: str | None = None
    first: int = 1  # the first position checked (after a retention purge, the one after the anchor)

    def summary(self) -> str:
        before = f"; {self.unchained} earlier event(s) predate the chain" if self.unchained else ""
        if self.ok and not self.checked:
            return f"chain intact: no events yet{before}"
        if self.ok:
            last = self.first + self.checked - 1
            return f"chain intact: {self.checked} event(s), positions {self.first} to {last}{before}"
        return f"chain BROKEN at position {self.position}: {self.problem} ({self.checked} event(s) checked before it)"


def verify_rows(rows: Iterable[dict[str, Any]], *, from_anywhere: bool = False) -> Verification:
    """Walk events in position order; stop at the first broken link.

    ``from_anywhere`` accepts a run that starts part-way along the chain (an export of a period):
    its first event's position and link are taken as given, everything after is checked.
    """
    prev, expected, checked, first = GENESIS, 1, 0, 1
    for row in rows:
        if from_anywhere and checked == 0 and expected == 1:
            prev, expected = (row["prev_hash"] or "").strip(), int(row["seq"])
            first = expected
        seq = int(row["seq"])
        what = f"event {str(row['event_id']).strip()} ({row['event']})"
        if seq != expected:
            gone = f"position {expected}" if seq == expected + 1 else f"positions {expected} to {seq - 1}"
            problem = f"{gone} missing: deleted" if seq > expected else f"{what} repeats an earlier position"
            return Verification(False, checked, 0, expected, problem)
        if (row["prev_hash"] or "").strip() != prev:
            return Verification(
                False,
                checked,
                0,
                seq,
                f"{what} does not link to position {seq - 1}: an event was inserted, deleted or reordered here",
            )
        if event_hash(row) != (row["event_hash"] or "").strip():
            return Verification(False, checked, 0, seq, f"{what} does not match its hash: it was edited")
        prev, expected, checked = row["event_hash"].strip(), expected + 1, checked + 1
    return Verification(True, checked, 0, first=first)


def chain_rows(engine: Engine) -> Iterator[dict[str, Any]]:
    with engine.connect().execution_options(stream_results=True) as conn:
        result = conn.execute(text("SELECT * FROM audit_event WHERE seq IS NOT NULL ORDER BY seq"))
        for row in result.mappings():
            yield dict(row)


def verify(engine: Engine) -> Verification:
    """Verify the whole chain in the database.

    After a retention purge the chain starts part-way: its first event must link to the anchor
    that the (itself chained) ``audit.purged`` event recorded; anything else is a deletion.
    """
    with engine.connect() as conn:
        unchained = conn.execute(text("SELECT COUNT(*) FROM audit_event WHERE seq IS NULL")).scalar_one()
        first = conn.execute(
            text("SELECT seq, prev_hash FROM audit_event WHERE seq IS NOT NULL ORDER BY seq LIMIT 1")
        ).first()
        anchors = {
            (d["purged_through_seq"], d["anchor_hash"])
            for (raw,) in conn.execute(text("SELECT detail FROM audit_event WHERE event = 'audit.purged'"))
            for d in [json.loads(raw)]
        }
    from_anywhere = False
    if first is not None and int(first.seq) > 1:
        if (int(first.seq) - 1, first.prev_hash.strip()) not in anchors:
            gone = f"positions 1 to {int(first.seq) - 1}" if first.seq > 2 else "position 1"
            return Verification(False, 0, unchained, 1, f"{gone} missing: deleted, and no purge recorded it")
        from_anywhere = True
    v = verify_rows(chain_rows(engine), from_anywhere=from_anywhere)
    return Verification(v.ok, v.checked, unchained, v.position, v.problem, v.first)


def purge_before(engine: Engine, cutoff: datetime, append) -> int:
    """Delete the events older than ``cutoff`` (a prefix of the chain), keeping the rest verifiable.

    In one transaction, under the chain's lock: note the last purged event's position and hash (the
    anchor), lift the append-only triggers, delete, restore them, and append an ``audit.purged``
    event carrying the anchor through ``append(conn, event, outcome, **fields)``. Returns the count.
    Needs the table owner's rights (it changes triggers): run by the audit DAG, not by feed tasks.
    """
    with engine.begin() as conn:
        claim_next(conn)
        last = conn.execute(
            text(
                "SELECT seq, event_hash FROM audit_event WHERE seq IS NOT NULL AND event_time < :c"
                " ORDER BY seq DESC LIMIT 1"
            ),
            {"c": cutoff},
        ).first()
        if last is None:
            return 0
        through, anchor = int(last.seq), last.event_hash.strip()
        _set_append_only(conn, False)
        count = conn.execute(text("DELETE FROM audit_event WHERE seq <= :s"), {"s": through}).rowcount
        _set_append_only(conn, True)
        append(
            conn,
            "audit.purged",
            "succeeded",
            reason=f"retention: events before {cutoff:%Y-%m-%d} removed",
            rows_out=count,
            detail={"purged_through_seq": through, "anchor_hash": anchor, "cutoff": f"{cutoff:%Y-%m-%d}"},
        )
        return count


_SQLITE_TRIGGERS = {
    "audit_event_no_update": ("UPDATE", "changed"),
    "audit_event_no_delete": ("DELETE", "deleted"),
}


def _set_append_only(conn: Connection, on: bool) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE audit_event {'ENABLE' if on else 'DISABLE'} TRIGGER USER"))
        return
    for name, (op, word) in _SQLITE_TRIGGERS.items():
        if on:
            conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {op} ON audit_event BEGIN "
                    f"SELECT RAISE(ABORT, 'audit_event is append-only: events cannot be {word}'); END"
                )
            )
        else:
            conn.execute(text(f"DROP TRIGGER {name}"))


def export_lines(engine: Engine, start: datetime | None = None, end: datetime | None = None) -> Iterator[str]:
    """The events of a period as JSON Lines: each line is the event's canonical form plus its
    ``event_hash``, so the file verifies on its own (``crosswalk audit verify --file``)."""
    clauses, params = ["seq IS NOT NULL"], {}
    if start is not None:
        clauses.append("event_time >= :start")
        params["start"] = start
    if end is not None:
        clauses.append("event_time < :end")
        params["end"] = end
    with engine.connect().execution_options(stream_results=True) as conn:
        result = conn.execute(text(f"SELECT * FROM audit_event WHERE {' AND '.join(clauses)} ORDER BY seq"), params)
        for row in result.mappings():
            body = json.loads(canonical(dict(row)))
            body["event_hash"] = row["event_hash"].strip()
            yield json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify_lines(lines: Iterable[str]) -> Verification:
    """Verify an export made by :func:`export_lines` (possibly of a period, starting mid-chain)."""
    return verify_rows((json.loads(line) for line in lines if line.strip()), from_anywhere=True)

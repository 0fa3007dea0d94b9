"""Clerical review of uncertain matches: the queue, the review card a reviewer sees, and the decision.

Both ways of reviewing use this module: the ``review_<feed>`` DAG (one Airflow human-in-the-loop
task per pair, under Required Actions) and ``crosswalk review`` on the command line.

The card shows the two records side by side, and only the fields the reviewer may see: each side's
fields are put to the egress gate of the agreement under which that side's data reaches the
reviewer's organisation, at its level (a side the reviewer's organisation provided itself is its
own data). Fields the agreement transforms at that level are shown transformed. Nothing on a card
is logged; the audit trail names a pair by hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, text

from crosswalk.agreements.egress import EgressPlan, EgressRefused, gate
from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.matching.store import pair_hash, record_decision
from crosswalk.pipeline.match import PERSON_FIELDS
from crosswalk.staging.store import iter_staged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    source_record_id: str
    candidate_record_id: str
    batch_id: str
    index_batch_id: str
    match_probability: float | None
    match_weight: float | None
    runner_up_weight: float | None


def pending(engine: Engine, source_system: str) -> list[Pair]:
    """The pairs of a feed awaiting a decision, in record order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_record_id, matched_record_id, batch_id, index_batch_id, match_probability,"
                " match_weight, runner_up_weight FROM crosswalk WHERE source_system = :s AND band = 'review'"
                " ORDER BY source_record_id"
            ),
            {"s": source_system},
        ).all()
    return [Pair(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def visible_fields(cfg: ProjectConfig, feed: InboundFeed, reviewer: str, on=None) -> EgressPlan | None:
    """The plan for one side's person fields as the reviewer's organisation may see them; ``None`` when
    the reviewer's organisation provided this side (its own data)."""
    if feed.partner == reviewer:
        return None
    on = on or datetime.now(UTC).date()
    schema = cfg.schemas[feed.schema_id]
    columns = [c for c in _columns(feed, cfg) if c in schema.field_names]
    for history in cfg.agreements.values():
        current = history.in_force(on)
        if current is None or current.provider != feed.partner or feed.schema_id not in current.datasets:
            continue
        if current.level_for(reviewer) is None:
            continue
        # A card never applies the plan (a pseudonymised field shows as withheld), so no key is fetched.
        return gate(history, feed.schema_id, reviewer, columns, on=on, key_for=lambda _conn_id: b"")
    raise EgressRefused(
        f"no agreement in force lets {reviewer} see {feed.schema_id} from {feed.partner}; the reviewer may not"
        " see these records"
    )


def _columns(feed: InboundFeed, cfg: ProjectConfig) -> list[str]:
    id_column = feed.matching.id_column if feed.matching else cfg.schemas[feed.schema_id].primary_key[0]
    return list(dict.fromkeys([id_column, *PERSON_FIELDS, "address_line1"]))


def _record(engine: Engine, feed: InboundFeed, cfg: ProjectConfig, batch_id: str, record_id: str) -> dict:
    id_column = feed.matching.id_column if feed.matching else cfg.schemas[feed.schema_id].primary_key[0]
    columns = [c for c in _columns(feed, cfg) if c in cfg.schemas[feed.schema_id].field_names]
    for chunk in iter_staged(engine, feed.target.table, batch_id, columns):
        for row in chunk:
            values = dict(zip(columns, row, strict=True))
            if str(values[id_column]) == record_id:
                return values
    raise LookupError(f"record not found in batch {batch_id} of {feed.id}")


def _shown(values: dict, plan: EgressPlan | None) -> dict[str, str]:
    """What the reviewer sees of one record: every field if it is their own data; else only what the
    plan sends, untransformed fields as held and transformed ones marked as withheld."""
    out = {}
    for name, value in values.items():
        if plan is not None and name not in plan.sent:
            continue
        if plan is not None and name in plan.transforms:
            out[name] = f"(withheld: {plan.transforms[name]})"
            continue
        out[name] = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return out


def card(cfg: ProjectConfig, engine: Engine, feed: InboundFeed, pair: Pair) -> dict[str, str]:
    """The subject and Markdown body of one pair's review, limited to what the reviewer may see."""
    assert feed.matching is not None
    index_feed = cfg.inbound(feed.matching.against)
    reviewer = feed.reviewer
    left = _shown(_record(engine, feed, cfg, pair.batch_id, pair.source_record_id), visible_fields(cfg, feed, reviewer))
    right = _shown(
        _record(engine, index_feed, cfg, pair.index_batch_id, pair.candidate_record_id),
        visible_fields(cfg, index_feed, reviewer),
    )
    names = list(dict.fromkeys([*left, *right]))
    lines = [
        f"Is this the same person? Match probability {_fmt(pair.match_probability, '.3f')}, "
        f"weight {_fmt(pair.match_weight, '.1f')}, runner-up weight {_fmt(pair.runner_up_weight, '.1f')}.",
        "",
        f"| field | {feed.id} | {index_feed.id} |",
        "|---|---|---|",
        *[f"| {n} | {_cell(left.get(n, '(not shown)'))} | {_cell(right.get(n, '(not shown)'))} |" for n in names],
        "",
        f"Fields shown are those {cfg.partners[reviewer].name} may see under the agreements in force.",
    ]
    return {
        "subject": f"Review a possible match: {feed.id} record {pair.source_record_id}",
        "body": "\n".join(lines),
        "source_record_id": pair.source_record_id,
        "candidate_record_id": pair.candidate_record_id,
    }


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _cell(v: str) -> str:
    return v.replace("|", "\\|") or " "


def decide(
    engine: Engine, audit: AuditLog, feed_id: str, source_record_id: str, outcome: str, decided_by: str
) -> dict[str, str]:
    """Record a reviewer's decision and audit it (who, when, the pair by hash, the outcome)."""
    pair = record_decision(engine, feed_id, source_record_id, outcome, decided_by)
    audit.emit(
        "review.decided",
        "succeeded",
        feed_id=feed_id,
        reason=f"{outcome} by {decided_by}",
        # The pair by hash (record ids stay in the crosswalk tables): sha256 of "feed|record|candidate".
        detail={"pair_sha256": pair_hash(feed_id, pair), "outcome": outcome, "approved_by": decided_by},
    )
    return pair

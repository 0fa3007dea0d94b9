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
from crosswalk.matching.crosswalk_table import pair_hash, record_decision
from crosswalk.pipeline.match import PERSON_FIELDS
from crosswalk.staging.tables import iter_staged

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
    reason: str | None = None  # why the pair is in review (crosswalk.matching.decisions' codes)


# What each review reason means, in a reviewer's words.
REASONS = {
    "same_chi_forenames_disagree": "Both records carry the same valid CHI, but their forenames disagree: a CHI copied "
    "from a relative's record looks like this.",
    "lead_below_margin": "The best candidate scored high, but another candidate scored nearly as high.",
    "score_in_review_band": "The score is between the review and auto-link thresholds.",
}


def pending(engine: Engine, source_system: str) -> list[Pair]:
    """The pairs of a feed awaiting a decision, in record order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_record_id, matched_record_id, batch_id, index_batch_id, match_probability,"
                " match_weight, runner_up_weight, reason FROM crosswalk WHERE source_system = :s AND band = 'review'"
                " ORDER BY source_record_id"
            ),
            {"s": source_system},
        ).all()
    return [Pair(*r) for r in rows]


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


def _id_column(feed: InboundFeed, cfg: ProjectConfig) -> str:
    return feed.matching.id_column if feed.matching else cfg.schemas[feed.schema_id].primary_key[0]


def _columns(feed: InboundFeed, cfg: ProjectConfig) -> list[str]:
    return list(dict.fromkeys([_id_column(feed, cfg), *PERSON_FIELDS, "address_line1"]))


def _records(engine: Engine, feed: InboundFeed, cfg: ProjectConfig, wanted: set[tuple[str, str]]) -> dict:
    """The wanted (batch id, record id) records of one side, by that key: one read of each batch."""
    id_column = _id_column(feed, cfg)
    columns = [c for c in _columns(feed, cfg) if c in cfg.schemas[feed.schema_id].field_names]
    found = {}
    for batch_id in sorted({b for b, _ in wanted}):
        for chunk in iter_staged(engine, feed.target.table, batch_id, columns):
            for row in chunk:
                values = dict(zip(columns, row, strict=True))
                key = (batch_id, str(values[id_column]))
                if key in wanted:
                    found[key] = values
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"{len(missing)} record(s) under review not found in the staged batches of {feed.id}")
    return found


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


def cards(cfg: ProjectConfig, engine: Engine, feed: InboundFeed, pairs: list[Pair]) -> list[dict[str, str]]:
    """Each pair's review (subject and Markdown body), limited to what the reviewer may see."""
    assert feed.matching is not None
    index_feed = cfg.inbound(feed.matching.against)
    reviewer = feed.reviewer
    plans = visible_fields(cfg, feed, reviewer), visible_fields(cfg, index_feed, reviewer)
    sources = _records(engine, feed, cfg, {(p.batch_id, p.source_record_id) for p in pairs})
    candidates = _records(engine, index_feed, cfg, {(p.index_batch_id, p.candidate_record_id) for p in pairs})
    out = []
    for pair in pairs:
        left = _shown(sources[pair.batch_id, pair.source_record_id], plans[0])
        right = _shown(candidates[pair.index_batch_id, pair.candidate_record_id], plans[1])
        names = list(dict.fromkeys([*left, *right]))
        lines = [
            f"Is this the same person? Match probability {_fmt(pair.match_probability, '.3f')}, "
            f"weight {_fmt(pair.match_weight, '.1f')}, runner-up weight {_fmt(pair.runner_up_weight, '.1f')}.",
            *([f"Why it is here: {REASONS[pair.reason]}"] if pair.reason in REASONS else []),
            "",
            f"| field | {feed.id} | {index_feed.id} |",
            "|---|---|---|",
            *[f"| {n} | {_cell(left.get(n, '(not shown)'))} | {_cell(right.get(n, '(not shown)'))} |" for n in names],
            "",
            f"Fields shown are those {cfg.partners[reviewer].name} may see under the agreements in force.",
        ]
        out.append(
            {
                "subject": f"Review a possible match: {feed.id} record {pair.source_record_id}",
                "body": "\n".join(lines),
                "source_record_id": pair.source_record_id,
                "candidate_record_id": pair.candidate_record_id,
            }
        )
    return out


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

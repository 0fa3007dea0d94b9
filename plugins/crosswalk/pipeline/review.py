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
import re
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
    evidence = _evidence(cfg, engine, feed, pairs, sources, candidates)
    out = []
    for pair in pairs:
        left = _shown(sources[pair.batch_id, pair.source_record_id], plans[0])
        right = _shown(candidates[pair.index_batch_id, pair.candidate_record_id], plans[1])
        names = list(dict.fromkeys([*left, *right]))
        weights = evidence.get((pair.source_record_id, pair.candidate_record_id))
        lines = [
            f"Is this the same person? Match probability {_fmt(pair.match_probability, '.3f')}, "
            f"weight {_fmt(pair.match_weight, '.1f')}, runner-up weight {_fmt(pair.runner_up_weight, '.1f')}.",
            *([f"Why it is here: {REASONS[pair.reason]}"] if pair.reason in REASONS else []),
            "",
            f"| field | {feed.id} | {index_feed.id} |",
            "|---|---|---|",
            *[f"| {n} | {_shown_cell(left, n)} | {_shown_cell(right, n)} |" for n in names],
            "",
            *(waterfall_markdown(weights, visible=set(left) & set(right)) if weights else []),
            f"Fields shown are those {cfg.partners[reviewer].name} may see under the agreements in force.",
        ]
        out.append(
            {
                "subject": f"Review a possible match: {feed.id} record {plain_text(pair.source_record_id)}",
                "body": "\n".join(lines),
                "source_record_id": pair.source_record_id,
                "candidate_record_id": pair.candidate_record_id,
            }
        )
    return out


# The field each comparison of the person model reads (the CHI is compared by its digits).
COMPARED = {"chi_digits": "chi_number"}
HIDDEN = "other evidence (fields not shown to you)"


def _evidence(cfg, engine, feed, pairs, sources, candidates) -> dict[tuple[str, str], dict[str, float]]:
    """Each pair's evidence, comparison by comparison, as the feed's saved model weighs it (names' frequencies from
    the whole index, as when it was scored); none where the feed has no saved model yet."""
    from crosswalk.matching import model_store
    from crosswalk.matching.link import pair_evidence
    from crosswalk.matching.normalise import prepare
    from crosswalk.pipeline.match import _people

    model = model_store.active(engine, feed.id)
    if model is None or not pairs:
        return {}
    index_feed = cfg.inbound(feed.matching.against)
    ids = (_id_column(feed, cfg), _id_column(index_feed, cfg))

    def frame(records: dict, id_column: str) -> pd.DataFrame:
        rows = [{**{f: v.get(f) for f in PERSON_FIELDS}, "record_id": str(v[id_column])} for v in records.values()]
        return prepare(pd.DataFrame(rows, dtype=object))

    index_pk = cfg.schemas[index_feed.schema_id].primary_key[0]
    population = {b for b in (p.index_batch_id for p in pairs)}
    tf = pd.concat([_people(engine, index_feed.target.table, b, index_pk) for b in sorted(population)])
    return pair_evidence(
        frame(sources, ids[0]), frame(candidates, ids[1]),
        [(p.source_record_id, p.candidate_record_id) for p in pairs], model, tf_from=prepare(tf),
    )  # fmt: skip


def waterfall_markdown(weights: dict[str, float], visible: set[str], width: int = 12) -> list[str]:
    """The pair's evidence as a picture a Markdown card can show: a bar per comparison (█ for the same person, ░
    against), the prior first and the total last. A comparison of a field the reviewer may not see on both sides
    is folded into one line, so the picture tells nothing the card withholds."""
    shown: dict[str, float] = {}
    for name, w in weights.items():
        field = COMPARED.get(name, name)
        key = "prior (before any comparison)" if name == "prior" else name if field in visible else HIDDEN
        shown[key] = shown.get(key, 0.0) + w
    span = max((abs(w) for w in shown.values()), default=1.0) or 1.0

    def bar(w: float) -> str:
        return ("█" if w >= 0 else "░") * max(1, round(abs(w) / span * width)) if abs(w) >= 0.05 else "·"

    total = sum(weights.values())
    return [
        "How the model weighs this pair (match weight; above 0 is evidence for the same person):",
        "",
        "| evidence | weight | |",
        "|---|---:|---|",
        *(f"| {name} | {w:+.1f} | {bar(w)} |" for name, w in shown.items()),
        f"| **total** | **{total:+.1f}** | |",
        "",
    ]


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


# A value a partner typed is data, never layout: every cell is an inline code span (no emphasis, link, image,
# autolink or HTML is recognised inside one), on one line (a line break, a tab or any control character is shown
# as a visible mark), with the table's own pipe escaped (GFM splits cells on an unescaped pipe even in code), and
# fenced by more backticks than the value holds in a row.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def _cell(v: str) -> str:
    if v == "":
        return " "
    text = _CONTROL.sub("\u23ce", v).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _shown_cell(values: dict[str, str], name: str) -> str:
    return _cell(values[name]) if name in values else "(not shown)"


def plain_text(v: str) -> str:
    """A value for a card's subject line (plain text in the UI): on one line, bounded."""
    return _CONTROL.sub("\u23ce", v)[:80]


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

"""Match a staged batch to the latest staged batch of its index feed and write the crosswalk.

:func:`match_batch` reads as its steps: find the index batch, read both sides' person columns from
staging, link, write the crosswalk (reusing clerical decisions), and record the statistics (counts per
method and band, CHI defects, precision and recall estimated from the reviewers' decisions) in the audit
trail. Never a value in a log or an event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.identifiers import chi_status, defect_counts
from crosswalk.matching.crosswalk_table import person_hashes, write_crosswalk
from crosswalk.matching.decisions import AUTO, MODEL_VERSION, REVIEW, Thresholds, band_counts
from crosswalk.matching.link import link
from crosswalk.matching.quality import estimate
from crosswalk.staging import ledger
from crosswalk.staging.tables import iter_staged

log = logging.getLogger(__name__)
PERSON_FIELDS = ["chi_number", "forename", "surname", "date_of_birth", "sex", "postcode"]


@dataclass(frozen=True)
class MatchResult:
    batch_id: str
    outcome: str  # matched | skipped
    auto: int = 0
    review: int = 0
    none: int = 0


def _people(engine: Engine, table: str, batch_id: str, id_column: str) -> pd.DataFrame:
    cols = [id_column, *PERSON_FIELDS] if id_column != "chi_number" else PERSON_FIELDS
    rows = [r for chunk in iter_staged(engine, table, batch_id, cols) for r in chunk]
    frame = pd.DataFrame(rows, columns=cols, dtype=object)
    frame["record_id"] = frame[id_column].astype("string")
    return frame


def match_batch(engine: Engine, audit: AuditLog, cfg: ProjectConfig, feed: InboundFeed, batch_id: str) -> MatchResult:
    m = feed.matching
    assert m is not None  # only feeds with a matching section get this step
    index_feed = cfg.inbound(m.against)
    staged = ledger.staged_batches(engine, index_feed.id)
    ids = {"feed_id": feed.id, "partner": feed.partner, "batch_id": batch_id}
    if not staged:
        reason = f"no staged batch of {index_feed.id} to match against yet"
        audit.emit("batch.match_skipped", "skipped", reason=reason, **ids)
        log.warning("Not matched: %s", reason)
        return MatchResult(batch_id, "skipped")
    index_batch = staged[-1].batch_id
    index_pk = cfg.schemas[index_feed.schema_id].primary_key[0]
    source = _people(engine, feed.target.table, batch_id, m.id_column)
    index = _people(engine, index_feed.target.table, index_batch, index_pk)
    result = link(source, index, Thresholds(upper=m.upper, lower=m.lower, min_lead=m.min_lead))
    written = write_crosswalk(
        engine,
        feed.id,
        batch_id,
        index_batch,
        result,
        person_hashes(source),
        person_hashes(index),
        index.set_index("record_id")["chi_number"],
    )
    final = _bands_after_review(engine, feed.id, result)
    quality = estimate(result, _clerical_labels(engine, feed.id))
    defects = defect_counts(chi_status(source["chi_number"], dob=source["date_of_birth"], sex=source["sex"]))
    audit.emit(
        "batch.matched",
        "succeeded",
        rows_in=len(source),
        rows_out=final[AUTO],
        **ids,
        detail={
            "index_feed": index_feed.id,
            "index_batch_id": index_batch,
            "model_version": MODEL_VERSION,
            "bands": band_counts(result),
            "chi_defects": defects,
            "quality": quality,  # estimated from the reviewers' decisions (crosswalk.matching.quality)
            **written,
        },
    )
    log.info(
        "Matched %d record(s) of %s against %s: %d linked, %d for review, %d unmatched (%d clerical decisions reused)",
        len(source),
        batch_id,
        index_batch,
        final[AUTO],
        final[REVIEW],
        final["none"],
        written["clerical_reused"],
    )
    return MatchResult(batch_id, "matched", final[AUTO], final[REVIEW], final["none"])


def _clerical_labels(engine: Engine, source_system: str) -> pd.DataFrame:
    """The reviewers' decisions on this feed's pairs, with the probability the model gave each pair."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT match_probability, band FROM crosswalk WHERE source_system = :s AND method = 'clerical'"),
            {"s": source_system},
        ).all()
    frame = pd.DataFrame(rows, columns=["match_probability", "band"])
    return pd.DataFrame({"match_probability": frame["match_probability"].astype(float), "match": frame["band"] == AUTO})


def _bands_after_review(engine: Engine, source_system: str, result: pd.DataFrame) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT band, COUNT(*) FROM crosswalk WHERE source_system = :s GROUP BY band"), {"s": source_system}
        ).all()
    counts = {"auto": 0, "review": 0, "none": 0}
    counts.update({b: int(n) for b, n in rows})
    return counts

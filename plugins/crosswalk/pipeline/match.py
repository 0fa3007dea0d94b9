"""Match a staged batch to the latest staged batch of its index feed and write the crosswalk.

:func:`match_batch` reads as its steps: find the index batch, read both sides' person columns from
staging, take the feed's saved model (trained and saved on the first match only), link only the records that
are new or changed (or that an index record new since the last match could change), write the crosswalk
(reusing clerical decisions), give every record its stable person id (merges and splits audited), and
record the statistics (counts per method and band, CHI defects, precision and recall estimated from the
reviewers' decisions) in the audit trail. Never a value in a log or an event. :func:`retrain` replaces a
feed's model, deliberately and audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.identifiers import chi_status, defect_counts
from crosswalk.matching import model_store
from crosswalk.matching.crosswalk_table import (
    person_clusters,
    person_hashes,
    unchanged,
    write_crosswalk,
    write_person_ids,
)
from crosswalk.matching.decisions import AUTO, REVIEW, Thresholds, band_counts
from crosswalk.matching.engines import backend_of
from crosswalk.matching.link import link_prepared, train_link_model
from crosswalk.matching.model import SavedModel
from crosswalk.matching.normalise import prepare
from crosswalk.matching.person_ids import MERGE, SPLIT, IdChange, stable_ids
from crosswalk.matching.quality import estimate, on_labels
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
    # Each merge and split of a person as (kind, old person id, new person id, records): ids and counts only,
    # for the partner's feedback file.
    person_id_changes: tuple[tuple[str, str, str, int], ...] = ()


def _people(engine: Engine, table: str, batch_id: str, id_column: str) -> pd.DataFrame:
    cols = [id_column, *PERSON_FIELDS] if id_column != "chi_number" else PERSON_FIELDS
    rows = [r for chunk in iter_staged(engine, table, batch_id, cols) for r in chunk]
    frame = pd.DataFrame(rows, columns=cols, dtype=object)
    frame["record_id"] = frame[id_column].astype("string")
    return frame


@dataclass(frozen=True)
class Sides:
    """Both sides of a match, as staged and as prepared for the model, with each record's person-field hash."""

    source: pd.DataFrame
    index: pd.DataFrame
    source_hashes: pd.Series
    index_hashes: pd.Series
    prepared_source: pd.DataFrame
    prepared_index: pd.DataFrame

    @classmethod
    def of(cls, source: pd.DataFrame, index: pd.DataFrame) -> Sides:
        return cls(source, index, person_hashes(source), person_hashes(index), prepare(source), prepare(index))


def match_batch(engine: Engine, audit: AuditLog, cfg: ProjectConfig, feed: InboundFeed, batch_id: str) -> MatchResult:
    """Link the batch's new and changed records (all of them, the first time) with the feed's saved model, write
    the crosswalk, and give every record its stable person id."""
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
    index_people = partial(_people, engine, index_feed.target.table, id_column=index_pk)
    sides = Sides.of(_people(engine, feed.target.table, batch_id, m.id_column), index_people(index_batch))
    t = Thresholds(upper=m.upper, lower=m.lower, min_lead=m.min_lead)
    model = _model(engine, audit, feed, sides, t, ids)
    relink, delta = _to_link(engine, feed.id, model, sides, [b.batch_id for b in staged], index_people, t)
    result = link_prepared(
        sides.prepared_source[relink], sides.prepared_index, t, model, backend=backend_of(cfg.settings.matching)
    )
    written = write_crosswalk(
        engine, feed.id, batch_id, index_batch, result, sides.source_hashes, sides.index_hashes,
        sides.index.set_index("record_id")["chi_number"], model.version,
    )  # fmt: skip
    with engine.begin() as conn:
        model_store.record_matched_index(conn, feed.id, model.version, index_batch)
    changes, persons = _person_ids(engine, audit, feed.id, ids)
    now = _crosswalk_now(engine, feed.id)
    final = _bands_after_review(now)
    quality = estimate(now, _clerical_labels(engine, feed.id))
    source = sides.source
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
            "model_version": model.version,
            "delta": delta,  # how many records were linked, and how many decisions carried unchanged
            "bands": band_counts(result),  # of the records linked this time
            "person_ids": persons,
            "clerical_in_force": final["clerical"],  # reviewers' decisions standing in the crosswalk
            "chi_defects": defects,
            "quality": quality,  # estimated from the reviewers' decisions (crosswalk.matching.quality)
            "thresholds": {"lower": t.lower, "upper": t.upper},
            "score_histogram": score_histogram(result),  # the best candidate's probability, per record linked
            **written,
        },
    )
    log.info(
        "Matched %s against %s with model %s: %d of %d record(s) linked, the rest carried; the feed now has %d linked,"
        " %d for review, %d unmatched (%d clerical decisions reused)",
        batch_id,
        index_batch,
        model.version,
        delta["linked"],
        len(source),
        final[AUTO],
        final[REVIEW],
        final["none"],
        written["clerical_reused"],
    )
    return MatchResult(
        batch_id, "matched", final[AUTO], final[REVIEW], final["none"],
        tuple((c.kind, c.old_id, c.new_id, c.records) for c in changes),
    )  # fmt: skip


HISTOGRAM_BINS = 20


def score_histogram(result: pd.DataFrame) -> dict[str, int]:
    """Records linked this run, by their best candidate's match probability, in 20 bins from 0 to 1, named by
    their lower edge ("0.00" … "0.95"): counts only; a record with no candidate scored is not counted."""
    scores = pd.to_numeric(result.get("match_probability", pd.Series(dtype=float)), errors="coerce").dropna()
    counts, edges = np.histogram(scores.clip(0, 1), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {f"{lo:.2f}": int(c) for lo, c in zip(edges[:-1], counts, strict=True)}


def _model(engine: Engine, audit: AuditLog, feed: InboundFeed, sides: Sides, t: Thresholds, ids: dict) -> SavedModel:
    """The feed's saved model; trained on this batch and saved (audited) the first time the feed is matched."""
    model = model_store.active(engine, feed.id)
    if model is not None:
        return model
    model = train_link_model(sides.source, sides.index, t)
    with engine.begin() as conn:
        mine = model_store.active(conn, feed.id) is None  # a concurrent first match may have saved one
        if mine:
            model_store.save(conn, feed.id, model, f"first match: {ids['batch_id']}", activate=True)
            audit.append(
                conn, "model.trained", "succeeded", rows_in=len(sides.source) + len(sides.index), **ids,
                detail={"model_version": model.version, "training_hash": model.training_hash,
                        "why": "first match of this feed", "families": model.families,
                        "match_weights": model.match_weights()},
            )  # fmt: skip
    return model if mine else model_store.active(engine, feed.id)


def _to_link(
    engine: Engine,
    feed_id: str,
    model: SavedModel,
    sides: Sides,
    staged_index: list[str],
    index_people,
    t: Thresholds,
) -> tuple[np.ndarray, dict[str, int]]:
    """Which source records to link now (a mask over the prepared source), and the counts. A record whose
    crosswalk row still stands (the record and its candidate unchanged, decided by this model) is carried,
    unless an index record that is new or changed since the last match scores against it at all."""
    source_ids = sides.prepared_source["record_id"].astype(str)
    index_batch = staged_index[-1]
    last_index = model_store.matched_index(engine, feed_id, model.version)
    carried = unchanged(engine, feed_id, sides.source_hashes, sides.index_hashes) if last_index else pd.Index([])
    index_changed = 0
    if len(carried) and last_index != index_batch:
        if last_index not in staged_index:  # that batch is gone (retention): link everything again
            carried = pd.Index([])
        else:
            before = person_hashes(index_people(last_index))
            now = sides.index_hashes
            changed = now.index[(now != before.reindex(now.index)).fillna(True).to_numpy(dtype=bool)]  # new or changed
            index_changed = len(changed)
            if index_changed:
                prepared = sides.prepared_index
                screen = link_prepared(
                    sides.prepared_source[source_ids.isin(carried).to_numpy()],
                    prepared[prepared["record_id"].astype(str).isin(changed).to_numpy()],
                    t, model, tf_from=prepared,
                )  # fmt: skip
                carried = carried.difference(screen.loc[screen["match_probability"].notna(), "record_id"].astype(str))
    relink = ~source_ids.isin(carried)
    return relink.to_numpy(), {
        "linked": int(relink.sum()), "carried": int((~relink).sum()), "index_records_changed": index_changed,
    }  # fmt: skip


def _person_ids(engine: Engine, audit: AuditLog, feed_id: str, ids: dict) -> tuple[list[IdChange], dict[str, int]]:
    """Give every record of the feed its stable person id (:mod:`crosswalk.matching.person_ids`) and record
    each merge and split in the audit trail, in one transaction with the ids."""
    frame = person_clusters(engine, feed_id)
    previous = {r: p for r, p in zip(frame["source_record_id"], frame["person_id"], strict=True) if isinstance(p, str)}
    assigned, changes = stable_ids(previous, dict(zip(frame["source_record_id"], frame["cluster"], strict=True)))
    with engine.begin() as conn:
        written = write_person_ids(conn, feed_id, pd.Series(assigned, dtype=object))
        for c in changes:
            audit.append(
                conn, f"person.{'merged' if c.kind == MERGE else 'split'}", "succeeded", **ids,
                detail={"old_person_id": c.old_id, "new_person_id": c.new_id, "records": c.records},
            )  # fmt: skip
    persons = {
        "persons": len(set(assigned.values())),
        "new_records": sum(r not in previous for r in assigned),
        "ids_changed": written - sum(r not in previous for r in assigned),
        "merges": sum(c.kind == MERGE for c in changes),
        "splits": sum(c.kind == SPLIT for c in changes),
    }
    return changes, persons


def send_person_id_feedback(area, partner, result: MatchResult) -> str:
    """Put the person-id feedback file in the partner's inbox (atomically; a rerun writes the same file)."""
    import io
    import posixpath

    from crosswalk.transfer import placement

    path = posixpath.join(partner.sftp.paths.inbox, f"crosswalk-person-ids_{result.batch_id}.csv")
    body = person_id_feedback(result.batch_id, result.person_id_changes)
    placement.put(area, io.BytesIO(body.encode()), path)
    log.info(
        "Person-id feedback for %s: %d change(s) put in the partner's inbox",
        result.batch_id,
        len(result.person_id_changes),
    )
    return path


def person_id_feedback(batch_id: str, changes) -> str:
    """The partner's feedback file on merges and splits: person ids and counts, never a record's fields."""
    lines = [
        f"# Crosswalk person ids changed by batch {batch_id}: new evidence merged or split these people.",
        "# A merge retires old_person_id into new_person_id; a split moves some records of old_person_id to"
        " new_person_id.",
        "change,old_person_id,new_person_id,records",
        *(f"{kind},{old},{new},{records}" for kind, old, new, records in changes),
    ]
    return "\n".join(lines) + "\n"


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


@dataclass(frozen=True)
class Retrained:
    feed_id: str
    old_version: str | None
    new_version: str
    activated: bool
    on_labels: dict  # "old" and "new": each model's links scored on the reviewers' decisions
    refused: str | None = None  # why it was not activated when asked to be


def retrain(
    engine: Engine,
    audit: AuditLog,
    cfg: ProjectConfig,
    feed: InboundFeed,
    *,
    by: str,
    activate: bool,
    force: bool = False,
) -> Retrained:
    """Train a new model on the feed's latest batch and its index's latest, score it and the model in use on the
    reviewers' decisions (:func:`crosswalk.matching.quality.on_labels`), save it, and make it the one in use only
    with ``activate``, and then only if it does no worse than the one in use on those decisions (F1), unless
    ``force``. Audited as ``model.retrained``, with who asked. The next match relinks every record with the new
    model (no decision is carried across models).

    The decisions judge the model; they do not fit it. They are pairs a reviewer saw, so pairs from the review
    band: a sample of the hardest cases, not of matches at large, which is what m estimated from labels
    (Splink's ``estimate_m_from_pairwise_labels``) assumes."""
    m = feed.matching
    if m is None:
        raise LookupError(f"{feed.id} has no matching section: nothing to retrain")
    index_feed = cfg.inbound(m.against)
    batches, index_batches = ledger.staged_batches(engine, feed.id), ledger.staged_batches(engine, index_feed.id)
    if not batches or not index_batches:
        raise LookupError(f"{feed.id} needs a staged batch of its own and of {index_feed.id} to train on")
    batch_id = batches[-1].batch_id
    index_pk = cfg.schemas[index_feed.schema_id].primary_key[0]
    sides = Sides.of(
        _people(engine, feed.target.table, batch_id, m.id_column),
        _people(engine, index_feed.target.table, index_batches[-1].batch_id, index_pk),
    )
    t = Thresholds(upper=m.upper, lower=m.lower, min_lead=m.min_lead)
    new = train_link_model(sides.source, sides.index, t)
    old = model_store.active(engine, feed.id)
    labels = _labelled_pairs(engine, feed.id)
    labels = labels[labels["record_id"].isin(sides.prepared_source["record_id"].astype(str))]
    labelled = sides.prepared_source[sides.prepared_source["record_id"].astype(str).isin(labels["record_id"])]
    scored = {
        name: on_labels(link_prepared(labelled, sides.prepared_index, t, model), labels) if model else None
        for name, model in (("old", old), ("new", new))
    }
    refused = None
    if activate and not force and scored["old"] and _f1(scored["new"]) < _f1(scored["old"]):
        refused = (
            f"not activated: on {scored['new']['labelled_pairs']} reviewers' decisions it scores F1"
            f" {_f1(scored['new']):.4f} against {_f1(scored['old']):.4f} for the model in use (--force to switch)"
        )
    activated = activate and refused is None
    with engine.begin() as conn:
        model_store.save(conn, feed.id, new, by, activate=activated)
        audit.append(
            conn, "model.retrained", "succeeded", feed_id=feed.id, partner=feed.partner, batch_id=batch_id,
            rows_in=len(sides.source) + len(sides.index), reason=refused,
            detail={"old_model_version": old.version if old else None, "new_model_version": new.version,
                    "training_hash": new.training_hash, "by": by, "activated": activated, "forced": force,
                    "on_labels_old": scored["old"], "on_labels_new": scored["new"],
                    "match_weights": new.match_weights()},
        )  # fmt: skip
    return Retrained(feed.id, old.version if old else None, new.version, activated, scored, refused)


def _f1(scores: dict) -> float:
    p, r = scores["precision"], scores["recall"]
    return 2 * p * r / (p + r) if p + r else 0.0


def _labelled_pairs(engine: Engine, source_system: str) -> pd.DataFrame:
    """The reviewers' decisions as labelled pairs (``record_id, candidate_record_id, match``): the latest per pair."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_record_id, candidate_record_id, outcome FROM review_decision WHERE source_system = :s"
                " ORDER BY decided_at"
            ),
            {"s": source_system},
        ).all()
    frame = pd.DataFrame(rows, columns=["record_id", "candidate_record_id", "outcome"]).astype(str)
    frame = frame.drop_duplicates(["record_id", "candidate_record_id"], keep="last")
    return pd.DataFrame(
        {"record_id": frame["record_id"], "candidate_record_id": frame["candidate_record_id"],
         "match": frame["outcome"] == "match"}
    )  # fmt: skip


def _crosswalk_now(engine: Engine, source_system: str) -> pd.DataFrame:
    """The feed's decisions as they stand (``method, band, match_probability``), for the quality estimate."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT method, band, match_probability FROM crosswalk WHERE source_system = :s"), {"s": source_system}
        ).all()
    frame = pd.DataFrame(rows, columns=["method", "band", "match_probability"])
    return frame.assign(match_probability=pd.to_numeric(frame["match_probability"], errors="coerce"))


def _bands_after_review(now: pd.DataFrame) -> dict[str, int]:
    """The feed's counts per band, and of clerical decisions, from its crosswalk as it stands (``_crosswalk_now``)."""
    counts = {"auto": 0, "review": 0, "none": 0}
    counts.update({str(b): int(n) for b, n in now["band"].value_counts().items()})
    return {**counts, "clerical": int((now["method"] == "clerical").sum())}

"""Portal publishing: the latest staged batch, keyed by CHI, through the egress gate, as a new version.

:func:`publish_portal` reads as the list of steps: gate (before anything is read), read the batch,
key rows by CHI (the record's own valid CHI, else the one matching linked it to), apply the plan,
publish a version atomically (see :mod:`crosswalk.publish.versions`), audit. A rerun with the same
batch, crosswalk and agreement version publishes nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from crosswalk import disclosures
from crosswalk.agreements.egress import NORMAL_RUN, KeyLookup, RunOptions, gate
from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import PortalFeed
from crosswalk.errors import FatalError
from crosswalk.lineage import Flow
from crosswalk.matching.crosswalk_table import linked_chis, own_chi, person_chi
from crosswalk.pipeline import disclose
from crosswalk.pipeline.population import StagedRecords
from crosswalk.publish import versions
from crosswalk.staging import ledger

log = logging.getLogger(__name__)


class NothingToPublish(FatalError):
    """The source feed has no staged batch yet."""


@dataclass(frozen=True)
class PortalResult:
    publication_id: str
    outcome: str  # published | unchanged
    rows: int
    fields: tuple[str, ...]
    counts: dict[str, int]


def keyed_by_chi(frame: pd.DataFrame, linked: pd.Series, id_column: str) -> tuple[pd.DataFrame, dict]:
    """Rows with a CHI: their own (valid, or valid bar a DOB/sex mismatch), else the one matching
    linked them to (``linked``, from :func:`linked_chis`). Rows with neither are left out, and counted."""
    chi, own = person_chi(frame, linked, id_column), own_chi(frame)
    counts = {
        "rows_in": len(frame),
        "chi_own": int(own.notna().sum()),
        "chi_from_matching": int((own.isna() & chi.notna()).sum()),
        "left_out_no_chi": int(chi.isna().sum()),
    }
    out = frame[chi.notna()].copy()
    out["chi_number"] = chi[chi.notna()]
    return out, counts


def publish_portal(
    cfg: ProjectConfig,
    engine: Engine,
    audit: AuditLog,
    feed: PortalFeed,
    *,
    on: date,
    key_for: KeyLookup | None,
    disclosure_key: bytes,
    options: RunOptions = NORMAL_RUN,
    on_disclosed: Callable[[Flow], None] | None = None,
) -> PortalResult:
    source = cfg.inbound(feed.source_feed)
    schema = cfg.schemas[source.schema_id]
    ids = {"feed_id": feed.id, "partner": feed.partner}
    # The gate first: an expired or unsigned agreement stops the run before any row is read.
    plan = gate(
        cfg.agreements[feed.agreement],
        source.schema_id,
        feed.partner,
        schema.field_names,
        on=on,
        key_for=key_for,
        max_level=options.max_level,
        expect_ref=options.agreement_ref,
    )
    batches = ledger.staged_batches(engine, source.id)
    if not batches:
        raise NothingToPublish(f"{feed.id}: {source.id} has no staged batch to publish")
    batch = batches[-1]  # each drop is a full extract: the latest is the picture to show
    counts: dict[str, int] = {"rows_in": 0}
    rows = StagedRecords.of(cfg, engine, source, batch.batch_id, plan)  # the population's evidence, read once
    if feed.keyed_by_chi:
        if rows.linked is None:
            rows.linked = linked_chis(engine, source.id)
        linked, id_column = rows.linked, rows.ids
        rows.prepare = lambda frame: keyed_by_chi(frame, linked, id_column)

    def through_the_gate():
        """The batch a chunk at a time, keyed by CHI, through the gate (rows, then fields); counts kept as it goes."""
        for r in rows.released():
            yield r.out
            counts.update(rows.prepared or {"rows_in": rows.tally.rows_in})
            counts.update({f"malformed_{k}": v for k, v in rows.malformed.items()})
            counts.update(rows.detail())

    if options.dry_run:
        rows_out = sum(len(out) for out in through_the_gate())
        audit.emit(
            "portal.dry_run",
            "dry_run",
            batch_id=batch.batch_id,
            rows_in=counts["rows_in"],
            rows_out=rows_out,
            **ids,
            reason=f"dry run: would publish {rows_out} rows to the view {feed.table}",
            detail={"level": plan.level, "fields_published": list(plan.sent), **counts},
        )
        log.info(
            "Dry run: would publish %d rows, %d fields to %s (%s at level %d); nothing published",
            rows_out,
            len(plan.sent),
            feed.table,
            plan.ref,
            plan.level,
        )
        return PortalResult("", "dry_run", rows_out, plan.sent, counts)
    outcome = versions.publish(
        engine,
        feed.id,
        feed.table,
        through_the_gate(),
        columns=list(plan.sent),
        kind="portal",
        source_batches=[batch.batch_id],
        agreement_id=plan.agreement_id,
        agreement_version=plan.agreement_version,
        level=plan.level,
        recipient=feed.partner,
        detail=counts,  # filled in as the chunks pass; recorded after the last
        dag_id=audit.run.dag_id or "",
        run_id=audit.run.run_id or "",
    )
    v = outcome.version
    # A new version discloses its rows; an unchanged one was recorded when it went live, unless that run died
    # between the two (then this one records it).
    if outcome.published or not disclosures.recorded(engine, v.publication_id):
        counts["people_logged"] = disclose.record(
            engine, disclosure_key, rows, plan, kind=disclosures.PORTAL, disclosure_id=v.publication_id,
            file_name=f"{feed.table} ({v.publication_id})", feed_id=feed.id, batch_id=batch.batch_id,
        )  # fmt: skip
        if on_disclosed is not None:
            agreement = cfg.agreements[feed.agreement].version(plan.agreement_version)
            on_disclosed(
                disclose.flow(
                    engine, source, schema.field_names, plan, kind=disclosures.PORTAL, feed_id=feed.id,
                    disclosure_id=v.publication_id, target=feed.table, rows=v.rows_out,
                    lawful_basis=agreement.lawful_basis.describe(),
                )
            )  # fmt: skip
    audit.emit(
        "portal.published" if outcome.published else "portal.unchanged",
        "succeeded" if outcome.published else "skipped",
        batch_id=batch.batch_id,
        rows_in=counts["rows_in"],
        rows_out=v.rows_out,
        **ids,
        reason=None if outcome.published else f"{v.publication_id} already live with the same content",
        detail={
            "publication_id": v.publication_id,
            "view": feed.table,
            "table": v.table_name,
            "content_sha256": v.content_sha256,
            "agreement_id": plan.agreement_id,
            "agreement_version": plan.agreement_version,
            "level": plan.level,
            "fields_published": list(plan.sent),
            "fields_removed": list(plan.removed),
            "transforms": dict(plan.transforms),
            **counts,
        },
    )
    log.info(
        "%s: %s %s (%d rows, %s at level %d; %s)",
        feed.id,
        "published" if outcome.published else "already live:",
        v.publication_id,
        v.rows_out,
        plan.ref,
        plan.level,
        counts,
    )
    return PortalResult(
        v.publication_id, "published" if outcome.published else "unchanged", v.rows_out, plan.sent, counts
    )


def rollback_portal(engine: Engine, audit: AuditLog, feed: PortalFeed, by: str) -> tuple[str, str]:
    came_from, went_to = versions.rollback(engine, feed.id, feed.table)
    audit.emit(
        "portal.rolled_back",
        "succeeded",
        feed_id=feed.id,
        partner=feed.partner,
        rows_out=went_to.rows_out,
        reason=f"rolled back by {by}",
        detail={"from": came_from.publication_id, "to": went_to.publication_id, "view": feed.table},
    )
    return came_from.publication_id, went_to.publication_id

"""Recording a disclosure in the per-person log (:mod:`crosswalk.disclosures`), for the flows that send record-level
data: a delivery records its batch's people after the upload, a portal publication as its rows pass the gate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine

from crosswalk import disclosures, lineage
from crosswalk.agreements.egress import EgressPlan
from crosswalk.config.models import InboundFeed


def record(
    engine: Engine, key: bytes, rows, plan: EgressPlan, *, kind: str, disclosure_id: str, file_name: str,
    feed_id: str, batch_id: str,
) -> int:  # fmt: skip
    """The disclosed people, read again through the same gate with the same evidence (``rows``: a
    :class:`~crosswalk.pipeline.population.StagedRecords` or an identifier return), in one transaction: only those
    the population admitted, each with the rule that admitted them; the withheld only as counts by reason."""
    number = disclosures.number(disclosure_id)

    def people() -> Iterator[pd.DataFrame]:
        for chunk in rows.released():
            yield disclosures.person_rows(
                key, number, chunk.staged, plan.sent, chi=chunk.people.chi, id_column=rows.ids,
                admitted=chunk.admission.admitted,
            )  # fmt: skip

    d = disclosure(plan, kind, disclosure_id, file_name, feed_id, batch_id)
    with engine.begin() as conn:
        return disclosures.record(conn, d, people(), withheld=lambda: rows.tally.detail()["withheld"])


def disclosure(plan: EgressPlan, kind: str, disclosure_id: str, file_name: str, feed_id: str, batch_id: str):
    population = plan.population.model_dump(mode="json", exclude_defaults=True) if plan.population else None
    return disclosures.Disclosure(
        disclosure_id, kind, plan.recipient, feed_id, batch_id, plan.agreement_id, plan.agreement_version,
        plan.level, tuple(plan.sent), file_name, datetime.now(UTC).replace(tzinfo=None), population,
    )  # fmt: skip


def flow(
    engine: Engine, source: InboundFeed, field_names: list[str], plan: EgressPlan, *, kind: str, feed_id: str,
    disclosure_id: str, target: str, rows: int, lawful_basis: str,
) -> lineage.Flow:  # fmt: skip
    """The disclosure as lineage: from the staged table to ``target`` (a path in the partner's area, or a view),
    field by field, under the agreement; the target's namespace is the orchestration's to set (it knows the
    partner's server)."""
    namespace, prefix = lineage.table_dataset(engine.url)
    return lineage.Flow(
        kind, feed_id, disclosure_id, namespace, f"{prefix}.{source.target.table}", tuple(field_names), namespace,
        target, tuple(plan.sent), dict(plan.transforms), plan.agreement_id, plan.agreement_version, plan.level,
        plan.recipient, lawful_basis, rows,
    )  # fmt: skip

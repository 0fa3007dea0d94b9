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
from crosswalk.matching.crosswalk_table import linked_chis, own_chi, person_chi
from crosswalk.staging.tables import iter_staged

# What a record's identity is read from, where its schema has them (the CHI's validity needs DOB and sex).
IDENTITY_FIELDS = ("chi_number", "nhs_number", "date_of_birth", "sex")


def id_column(source: InboundFeed) -> str:
    return source.matching.id_column if source.matching else "source_id"


def chi_of(frame: pd.DataFrame, linked: pd.Series | None, ids: str) -> pd.Series | None:
    """Each record's person CHI: its own where valid, else the one matching linked it to; None without a CHI."""
    if "chi_number" not in frame or not {"date_of_birth", "sex"} <= set(frame):
        return None
    return own_chi(frame) if linked is None or ids not in frame else person_chi(frame, linked, ids)


def linked_for(engine: Engine, source: InboundFeed) -> pd.Series | None:
    return linked_chis(engine, source.id) if source.matching else None


def record(
    engine: Engine, key: bytes, source: InboundFeed, field_names: list[str], batch_id: str, plan: EgressPlan,
    *, kind: str, disclosure_id: str, file_name: str, feed_id: str, only_with_chi: bool = False,
) -> int:  # fmt: skip
    """The disclosed batch's people, read back from staging (identifiers and the fields sent), in one transaction.
    ``only_with_chi``: as a CHI-keyed portal table, only the records with a person CHI were disclosed."""
    ids, number = id_column(source), disclosures.number(disclosure_id)
    columns = list(dict.fromkeys([*plan.sent, *(c for c in (*IDENTITY_FIELDS, ids) if c in field_names)]))
    linked = linked_for(engine, source)

    def rows() -> Iterator[pd.DataFrame]:
        for chunk in iter_staged(engine, source.target.table, batch_id, columns):
            frame = pd.DataFrame(chunk, columns=columns)
            chi = chi_of(frame, linked, ids)
            if only_with_chi and chi is not None:  # as the portal publishes them: keyed by that CHI
                frame, chi = frame[chi.notna()].assign(chi_number=chi[chi.notna()]), chi[chi.notna()]
            yield disclosures.person_rows(key, number, frame, plan.sent, chi=chi, id_column=ids)

    d = disclosure(plan, kind, disclosure_id, file_name, feed_id, batch_id)
    with engine.begin() as conn:
        return disclosures.record(conn, d, rows())


def disclosure(plan: EgressPlan, kind: str, disclosure_id: str, file_name: str, feed_id: str, batch_id: str):
    return disclosures.Disclosure(
        disclosure_id, kind, plan.recipient, feed_id, batch_id, plan.agreement_id, plan.agreement_version,
        plan.level, tuple(plan.sent), file_name, datetime.now(UTC).replace(tzinfo=None),
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

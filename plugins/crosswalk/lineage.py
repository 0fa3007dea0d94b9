"""Lineage in the open standard: each delivery and portal publication as an OpenLineage run.

A run's input is the staged table, its output the delivered file or the portal view; the output's
column-lineage facet maps each field sent to the staged column it came from, with ``masking`` true where the
agreement's transform pseudonymised, masked or generalised it; and a run facet of our own, ``crosswalk_agreement``,
names the agreement, version, level, recipient and lawful basis (its JSON Schema is published with the bundle:
``include/openlineage/CrosswalkAgreementRunFacet.json``). Field names only, never a value.

Pure (the OpenLineage client's own classes, no Airflow): the orchestration layer emits the events through
Airflow's OpenLineage provider (:mod:`crosswalk.orchestration.lineage`), parented to the Airflow task's run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    column_lineage_dataset,
    parent_run,
    schema_dataset,
)

PRODUCER = "urn:crosswalk"  # who made the event (a URI, as the spec asks); the version is in the run's parent
# Our facet's schema travels with the bundle (include/openlineage/); named, not fetched.
AGREEMENT_FACET_SCHEMA = "urn:crosswalk:openlineage:CrosswalkAgreementRunFacet:1"
MASKING = frozenset({"pseudonymise", "mask"})  # with every generalise:*: the value as held does not leave


@attr.define
class CrosswalkAgreementRunFacet(RunFacet):
    """The agreement that allowed the disclosure (a custom run facet: ``crosswalk_agreement``)."""

    agreement: str
    version: int
    level: int
    recipient: str
    lawfulBasis: str
    kind: str

    @staticmethod
    def _get_schema() -> str:
        return AGREEMENT_FACET_SCHEMA


@dataclass(frozen=True)
class Flow:
    """What one disclosure moved, by name: from a staged table to a delivered file or a portal view."""

    kind: str  # delivery | portal
    feed_id: str
    disclosure_id: str  # the delivered file's sha256, or the publication's id: the run's identity
    source_namespace: str
    source_table: str
    source_fields: tuple[str, ...]
    target_namespace: str
    target_name: str
    fields_sent: tuple[str, ...]
    transforms: dict[str, str] = field(default_factory=dict)  # field -> transform, where not sent as held
    agreement_id: str = ""
    agreement_version: int = 0
    level: int = 0
    recipient: str = ""
    lawful_basis: str = ""
    rows: int = 0


def table_dataset(url) -> tuple[str, str]:
    """A staging table's OpenLineage namespace and the prefix of its name, from the database URL (the naming
    spec's ``postgres://host:port`` and ``database.schema``; a SQLite file by its path)."""
    if url.get_backend_name() == "postgresql":
        return f"postgres://{url.host or 'localhost'}:{url.port or 5432}", f"{url.database}.public"
    return f"sqlite://{url.database}", "main"


def masked(transform: str) -> bool:
    return transform in MASKING or transform.startswith("generalise:")


def run_id(flow: Flow) -> str:
    """Stable per disclosure: a retry that emits again describes the same run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crosswalk:{flow.kind}:{flow.disclosure_id}"))


def events(flow: Flow, namespace: str, parent: tuple[str, str, str] | None, at: datetime | None = None):
    """The run's START and COMPLETE events. ``parent``: (namespace, job name, run id) of the Airflow task run
    that made the disclosure (its OpenLineage run, as the provider names it)."""
    at = at or datetime.now(UTC)
    job = Job(namespace=namespace, name=f"crosswalk.{flow.kind}.{flow.feed_id}")
    facets: dict = {
        "crosswalk_agreement": CrosswalkAgreementRunFacet(
            agreement=flow.agreement_id,
            version=flow.agreement_version,
            level=flow.level,
            recipient=flow.recipient,
            lawfulBasis=flow.lawful_basis,
            kind=flow.kind,
            producer=PRODUCER,
        )
    }
    if parent is not None:
        p_ns, p_name, p_run = parent
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=p_run), job=parent_run.Job(namespace=p_ns, name=p_name), producer=PRODUCER
        )
    source = InputDataset(
        namespace=flow.source_namespace,
        name=flow.source_table,
        facets={"schema": _schema(flow.source_fields)},
    )
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            name: column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=flow.source_namespace,
                        name=flow.source_table,
                        field=name,
                        transformations=[_transformation(flow.transforms.get(name, "pass"))],
                    )
                ]
            )
            for name in flow.fields_sent
        },
        producer=PRODUCER,
    )
    target = OutputDataset(
        namespace=flow.target_namespace,
        name=flow.target_name,
        facets={"schema": _schema(flow.fields_sent), "columnLineage": lineage},
    )
    run = Run(runId=run_id(flow), facets=facets)
    stamp = at.isoformat().replace("+00:00", "Z")
    common = {"eventTime": stamp, "run": run, "job": job, "producer": PRODUCER}
    return [
        RunEvent(eventType=RunState.START, inputs=[source], outputs=[], **common),
        RunEvent(eventType=RunState.COMPLETE, inputs=[source], outputs=[target], **common),
    ]


def _schema(fields: tuple[str, ...]):
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=f, ordinal_position=i + 1) for i, f in enumerate(fields)],
        producer=PRODUCER,
    )


def _transformation(transform: str):
    """OpenLineage's words for our transforms: a value sent as held is an identity; anything else a
    transformation, masking where the value as held does not leave."""
    return column_lineage_dataset.Transformation(
        type="DIRECT",
        subtype="IDENTITY" if transform == "pass" else "TRANSFORMATION",
        description="" if transform == "pass" else transform,
        masking=masked(transform),
    )

"""What the population rules of a disclosure read from the stores, and the staged records as they pass the gate.

:func:`evidence` reads, once per disclosure, who the crosswalk linked to a record the recipient sent and the
governed lists the rules name (the latest staged drop of each: a drop is the whole list). A list that was never
received stops the disclosure: an objection that cannot be honoured is not ignored.

:func:`released` is the one loop every record-level disclosure of staged records runs: chunks of the batch, each
with its people (record id, person CHI, NHS number), through :meth:`EgressPlan.release`, tallied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine, text

from crosswalk.agreements.egress import EgressPlan
from crosswalk.agreements.population import Admission, Evidence, People, PersonList, Tally, chi_digits, nhs_digits
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.config.models.population import LIST_ID_COLUMNS, MATCHED
from crosswalk.errors import EgressRefused
from crosswalk.matching.crosswalk_table import linked_chis, own_chi, person_chi
from crosswalk.staging import ledger
from crosswalk.staging.tables import iter_staged

# What a record's identity is read from, where its schema has them (the CHI's validity needs DOB and sex).
IDENTITY_FIELDS = ("chi_number", "nhs_number", "date_of_birth", "sex")


def record_id_column(cfg: ProjectConfig, source: InboundFeed) -> str:
    """The column that names a record of ``source`` in its sender's system: the matching id column, else the
    schema's primary key (the one rule; the crosswalk and the disclosure log key records by it)."""
    if source.matching is not None:
        return source.matching.id_column
    key = cfg.schemas[source.schema_id].primary_key
    return key[0] if key else "source_id"


def matched_ids(engine: Engine, cfg: ProjectConfig, source: InboundFeed, recipient: str) -> pd.Index:
    """Record ids of ``source`` the crosswalk linked (automatically or by a reviewer) to a record ``recipient``
    sent: ``source``'s own links to an index of the recipient's, and the links of the recipient's feeds to
    ``source`` as their index. One query per relation, set-wise."""
    queries: list[tuple[str, str]] = []
    if source.matching is not None and cfg.inbound(source.matching.against).partner == recipient:
        queries.append(("source_record_id", source.id))
    for f in cfg.inbound_feeds():
        if f.partner == recipient and f.matching is not None and f.matching.against == source.id:
            queries.append(("matched_record_id", f.id))
    ids: list = []
    with engine.connect() as conn:
        for column, system in queries:
            ids += (
                conn.execute(
                    text(
                        f"SELECT DISTINCT {column} FROM crosswalk WHERE source_system = :s AND band = 'auto'"
                        " AND matched_record_id IS NOT NULL"
                    ),
                    {"s": system},
                )
                .scalars()
                .all()
            )
    return pd.Index(pd.Series(ids, dtype="string").str.strip().dropna().unique().astype(object))


def person_list(engine: Engine, cfg: ProjectConfig, kind: str, feed_id: str, source: InboundFeed) -> PersonList:
    """The latest staged drop of a governed list, as normalised identifiers."""
    feed = cfg.inbound(feed_id)
    batch = ledger.latest_staged(engine, feed_id)
    if batch is None:
        raise EgressRefused(
            f"the {kind} list {feed_id} has no staged drop: the agreement withholds the people on it, so nothing"
            " may leave until it is received"
        )
    columns = [c for c in LIST_ID_COLUMNS if c in cfg.schemas[feed.schema_id].field_names]
    frame = pd.DataFrame(
        [r for chunk in iter_staged(engine, feed.target.table, batch, columns) for r in chunk], columns=columns
    )
    # A list's source ids name records only in its own sender's system.
    return PersonList.of(kind, feed_id, batch, frame, same_ids=feed.partner == source.partner)


def evidence(engine: Engine, cfg: ProjectConfig, source: InboundFeed, plan: EgressPlan) -> Evidence:
    """Everything the plan's population rules read, read once."""
    population = plan.population
    if population is None:
        return Evidence()
    lists = {kind: person_list(engine, cfg, kind, feed_id, source) for kind, feed_id in population.list_feeds}
    matched = matched_ids(engine, cfg, source, plan.recipient) if population.include == MATCHED else None
    return Evidence(matched, lists.get("objections"), lists.get("restricted"))


def people_of(frame: pd.DataFrame, ids: str, linked: pd.Series | None) -> People:
    """Who each staged row is: its record id, its person CHI (own where valid, else linked), its NHS number."""
    chi = None
    if "chi_number" in frame and {"date_of_birth", "sex"} <= set(frame):
        chi = own_chi(frame) if linked is None else person_chi(frame, linked, ids)
    elif "chi_number" in frame:
        chi = chi_digits(frame["chi_number"])
    nhs = nhs_digits(frame["nhs_number"]) if "nhs_number" in frame else None
    return People(frame[ids].astype("string"), chi, nhs)


@dataclass
class Released:
    """One chunk through the gate: what leaves, and who it was (aligned to what leaves)."""

    out: pd.DataFrame
    staged: pd.DataFrame  # the kept rows as staged, with the identity columns
    people: People
    admission: Admission


@dataclass
class StagedRecords:
    """A source feed's staged batch as it is disclosed under ``plan``, read a chunk at a time; the same evidence
    for every pass, so the extract and its disclosure log admit the same people."""

    cfg: ProjectConfig
    engine: Engine
    source: InboundFeed
    batch_id: str
    plan: EgressPlan
    evidence: Evidence
    linked: pd.Series | None = None  # record id -> linked CHI (the crosswalk), read once
    # A step before the gate, the same in every pass (a CHI-keyed portal table keys each row by its person CHI and
    # leaves out rows without one): the frame and its counts.
    prepare: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict[str, int]]] | None = None
    tally: Tally = field(default_factory=Tally)
    malformed: dict[str, int] = field(default_factory=dict)
    prepared: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: ProjectConfig, engine: Engine, source: InboundFeed, batch_id: str, plan: EgressPlan):
        linked = linked_chis(engine, source.id) if source.matching is not None else None
        return cls(cfg, engine, source, batch_id, plan, evidence(engine, cfg, source, plan), linked)

    @property
    def ids(self) -> str:
        return record_id_column(self.cfg, self.source)

    def columns(self) -> list[str]:
        names = self.cfg.schemas[self.source.schema_id].field_names
        identity = [c for c in (*IDENTITY_FIELDS, self.ids) if c in names]
        return list(dict.fromkeys([*self.plan.reads, *identity]))

    def frames(self) -> Iterator[pd.DataFrame]:
        columns = self.columns()
        for rows in iter_staged(self.engine, self.source.target.table, self.batch_id, columns):
            yield pd.DataFrame(rows, columns=columns, dtype=object)

    def released(self, frames: Iterable[pd.DataFrame] | None = None) -> Iterator[Released]:
        """Each chunk through the gate, rows then columns; counts kept as it goes (a fresh tally per pass)."""
        self.tally, self.malformed, self.prepared = Tally(), {}, {}
        for frame in self.frames() if frames is None else frames:
            if self.prepare is not None:
                frame, counts = self.prepare(frame)
                for k, v in counts.items():
                    self.prepared[k] = self.prepared.get(k, 0) + v
            people = people_of(frame, self.ids, self.linked)
            offered = frame[[c for c in frame.columns if c in self.plan.columns]]
            out, bad, admission = self.plan.release(offered, people, self.evidence)
            self.tally.add(admission, len(frame))
            for k, v in bad.items():
                self.malformed[k] = self.malformed.get(k, 0) + v
            keep = admission.keep
            kept_people = People(
                people.record_id[keep], None if people.chi is None else people.chi[keep],
                None if people.nhs is None else people.nhs[keep], people.own_records,
            )  # fmt: skip
            yield Released(out, frame[keep], kept_people, admission)

    def detail(self) -> dict:
        """The population as applied, for the audit event and the disclosure row: the rule, counts by reason."""
        return population_detail(self.plan, self.evidence, self.tally)


def population_detail(plan: EgressPlan, evidence: Evidence, tally: Tally) -> dict:
    pop = plan.population
    return {
        "population": pop.codes() if pop is not None else [],
        **tally.detail(),
        **evidence.facts(),
    }

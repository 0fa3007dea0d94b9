"""The row half of the egress gate: which people of a frame may leave, and why each one that does.

Pure and set-based: every rule is a vectorised test over the whole frame (no Python per row), on small fakes in
tests. What a rule needs from the stores (who the crosswalk linked to the recipient's records, the governed
lists) comes in as :class:`Evidence`, read once per disclosure by :mod:`crosswalk.pipeline.population`, so every
pass over the same disclosure (the extract, then its disclosure log) decides the same people.

A withheld person is counted under the first reason that applies, in the order of
:data:`~crosswalk.config.models.population.WITHHELD_REASONS`; nothing of a withheld person is kept but the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from crosswalk.config.models.population import (
    ADMITTED_ALL,
    ADMITTED_MATCHED,
    ADMITTED_OWN,
    ALL,
    FILTERED,
    MATCHED,
    NOT_MATCHED,
    OBJECTED,
    RESTRICTED,
    WITHHELD_REASONS,
    Condition,
    Population,
)
from crosswalk.errors import EgressRefused
from crosswalk.identifiers import normalise


def chi_digits(values: pd.Series) -> pd.Series:
    """A CHI as compared: ten digits, a lost leading zero restored; anything else missing."""
    s = normalise(values, restore_leading_zero=True)
    return s.where(s.str.fullmatch(r"[0-9]{10}").fillna(False))


def nhs_digits(values: pd.Series) -> pd.Series:
    s = normalise(values, restore_leading_zero=False)
    return s.where(s.str.fullmatch(r"[0-9]{10}").fillna(False))


def source_ids(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.strip()
    return s.mask(s == "")


@dataclass(frozen=True)
class People:
    """Who each row of a frame is, aligned to the frame's index: its record id in the sender's system, its
    person CHI (its own, else the one matching linked it to) and its NHS number, normalised or missing."""

    record_id: pd.Series
    chi: pd.Series | None = None
    nhs: pd.Series | None = None
    own_records: bool = False  # the rows are the recipient's own records (an identifiers_back return)


@dataclass(frozen=True)
class PersonList:
    """A governed list of people (objections or restricted records): its identifiers, normalised. Source ids
    count only when the list comes from the partner whose ids the records carry (``source`` is empty otherwise)."""

    kind: str
    feed_id: str
    batch_id: str
    chi: pd.Index
    nhs: pd.Index
    source: pd.Index

    @classmethod
    def of(cls, kind: str, feed_id: str, batch_id: str, frame: pd.DataFrame, *, same_ids: bool) -> PersonList:
        def index(col: str, norm) -> pd.Index:
            if col not in frame:
                return pd.Index([], dtype=object)
            return pd.Index(norm(frame[col]).dropna().unique().astype(object))

        return cls(
            kind, feed_id, batch_id, index("chi_number", chi_digits), index("nhs_number", nhs_digits),
            index("source_id", source_ids) if same_ids else pd.Index([], dtype=object),
        )  # fmt: skip

    @property
    def people(self) -> int:
        return len(self.chi) + len(self.nhs) + len(self.source)

    def holds(self, people: People) -> np.ndarray:
        hit = np.zeros(len(people.record_id), dtype=bool)
        if people.chi is not None and len(self.chi):
            hit |= people.chi.isin(self.chi).to_numpy(dtype=bool)
        if people.nhs is not None and len(self.nhs):
            hit |= people.nhs.isin(self.nhs).to_numpy(dtype=bool)
        if len(self.source):
            hit |= source_ids(people.record_id).isin(self.source).to_numpy(dtype=bool)
        return hit


@dataclass(frozen=True)
class Evidence:
    """What the population rules read from the stores, once per disclosure."""

    matched: pd.Index | None = None  # record ids the crosswalk linked to a record the recipient sent
    objections: PersonList | None = None
    restricted: PersonList | None = None

    def facts(self) -> dict:
        """For the audit event: which lists were applied (feed, batch, how many identifiers), counts only."""
        out: dict = {}
        if self.matched is not None:
            out["matched_records"] = len(self.matched)
        for lst in (self.objections, self.restricted):
            if lst is not None:
                out[f"{lst.kind}_list"] = {"feed": lst.feed_id, "batch_id": lst.batch_id, "identifiers": lst.people}
        return out


@dataclass
class Admission:
    """What the rules decided for one frame: the rows kept, the withheld counted by reason, the fields blanked for
    kept restricted records, and why each kept row was admitted."""

    keep: np.ndarray
    withheld: dict[str, int]
    blank: np.ndarray  # kept rows whose ``blanked`` fields are emptied (restricted, fields withheld)
    blanked: tuple[str, ...]
    admitted: pd.Series  # per kept row: all | matched | own_record

    @property
    def kept(self) -> int:
        return int(self.keep.sum())


@dataclass
class Tally:
    """Withheld and blanked counts over a whole disclosure, chunk by chunk."""

    rows_in: int = 0
    rows_out: int = 0
    withheld: dict[str, int] = field(default_factory=dict)
    restricted_fields_blanked: int = 0

    def add(self, a: Admission, rows: int) -> None:
        self.rows_in += rows
        self.rows_out += a.kept
        for k, v in a.withheld.items():
            if v:
                self.withheld[k] = self.withheld.get(k, 0) + v
        self.restricted_fields_blanked += int(a.blank.sum())

    def detail(self) -> dict:
        out = {"people_in": self.rows_in, "people_out": self.rows_out,
               "withheld": {k: self.withheld[k] for k in WITHHELD_REASONS if self.withheld.get(k)}}  # fmt: skip
        if self.restricted_fields_blanked:
            out["restricted_fields_blanked"] = self.restricted_fields_blanked
        return out


def _missing(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype("string").str.strip() == "")).fillna(True).to_numpy(dtype=bool)


def _as_date(when, on: date) -> pd.Timestamp:
    return pd.Timestamp(on if when == "today" else when)


def holds(c: Condition, values: pd.Series, on: date) -> np.ndarray:
    """Whether each value meets the condition (vectorised)."""
    missing = _missing(values)
    text = values.astype("string").str.strip()
    t = c.test
    if t == "present":
        ok = ~missing if c.present else missing
    elif t in ("one_of", "none_of"):
        listed = text.isin([str(v) for v in getattr(c, t)]).fillna(False).to_numpy(dtype=bool)
        ok = (listed if t == "one_of" else ~listed) & ~missing
    else:
        dates = pd.to_datetime(text.where(~pd.Series(missing, index=values.index)), errors="coerce", format="ISO8601")
        bound = _as_date(getattr(c, t), on)
        ok = (dates >= bound if t == "on_or_after" else dates < bound).fillna(False).to_numpy(dtype=bool)
    return ok | missing if c.or_missing else ok


def admit(population: Population, frame: pd.DataFrame, people: People, evidence: Evidence, *, on: date) -> Admission:
    """Decide, row by row but set-wise, which people of ``frame`` may leave under ``population``."""
    n = len(frame)
    withheld_by: dict[str, np.ndarray] = {}
    rules = population.exclude
    if rules.objections is not None:
        if evidence.objections is None:
            raise EgressRefused(f"the objections list {rules.objections.feed} was not read: nothing may leave")
        withheld_by[OBJECTED] = evidence.objections.holds(people)
    restricted = np.zeros(n, dtype=bool)
    r = rules.restricted
    if r is not None:
        if r.column is not None:
            restricted = frame[r.column].astype("string").str.strip().isin(r.values or []).fillna(False)
            restricted = restricted.to_numpy(dtype=bool)
        else:
            if evidence.restricted is None:
                raise EgressRefused(f"the restricted list {r.feed} was not read: nothing may leave")
            restricted = evidence.restricted.holds(people)
        if r.withhold == "record":
            withheld_by[RESTRICTED] = restricted
    if population.include == MATCHED and not people.own_records:
        if evidence.matched is None:
            raise EgressRefused("who the crosswalk linked to the recipient's records was not read: nothing may leave")
        withheld_by[NOT_MATCHED] = ~source_ids(people.record_id).isin(evidence.matched).to_numpy(dtype=bool)
    elif population.include not in (ALL, MATCHED):
        raise EgressRefused(f"unknown population {population.include!r}")
    ok = np.ones(n, dtype=bool)
    for c in population.where:
        ok &= holds(c, frame[c.column], on)
    withheld_by[FILTERED] = ~ok

    keep = np.ones(n, dtype=bool)
    withheld: dict[str, int] = {}
    for reason in WITHHELD_REASONS:  # each withheld person counted once, under the first reason that applies
        hit = withheld_by.get(reason)
        if hit is None:
            continue
        first = hit & keep
        withheld[reason] = int(first.sum())
        keep &= ~hit
    blanked = tuple(r.withhold) if r is not None and isinstance(r.withhold, list) else ()
    blank = (restricted & keep) if blanked else np.zeros(n, dtype=bool)
    if population.include == ALL:
        admitted = pd.Series(ADMITTED_ALL, index=frame.index[keep], dtype=object)
    elif people.own_records:
        linked = people.chi.notna().to_numpy(dtype=bool) if people.chi is not None else np.zeros(n, dtype=bool)
        admitted = pd.Series(np.where(linked, ADMITTED_MATCHED, ADMITTED_OWN)[keep], index=frame.index[keep])
    else:
        admitted = pd.Series(ADMITTED_MATCHED, index=frame.index[keep], dtype=object)
    return Admission(keep, withheld, blank, blanked, admitted)

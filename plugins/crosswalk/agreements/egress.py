"""The egress gate: the one function every outbound extract and every publish passes through.

:func:`gate` decides, before anything is built or written, whether a dataset may go to a recipient
today and in what form; the :class:`EgressPlan` it returns is then the only way rows are turned into
what leaves (:meth:`EgressPlan.apply`).

Allow-list semantics. The agreement version in force today must be signed off by every party and
name the recipient; a column with no catalogue entry stops the run (unknown columns are errors, not
passengers); a column above the recipient's level, or dropped at it, is removed; every other column
gets the transform its catalogue entry names for that level.

Rows first, then columns. The recipient's population (:mod:`crosswalk.config.models.population`) decides
which people may leave (:meth:`EgressPlan.release`, through :mod:`crosswalk.agreements.population`); only
then are the columns cut and transformed. Every record-level path (deliveries, identifier returns, portal
tables, the disclosure log) releases rows through the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from crosswalk.agreements import transforms
from crosswalk.agreements.population import Admission, Evidence, People, admit
from crosswalk.config.models.agreements import Agreement, AgreementHistory
from crosswalk.config.models.population import Population
from crosswalk.errors import EgressRefused

KeyLookup = Callable[[str], bytes]
"""Resolve a pseudonymisation key reference (an Airflow connection id) to the key bytes."""


@dataclass(frozen=True)
class EgressPlan:
    agreement_id: str
    agreement_version: int
    dataset: str
    recipient: str
    level: int
    columns: tuple[str, ...]  # what the caller offered, all of them catalogued
    sent: tuple[str, ...]  # what leaves, in the offered order
    removed: tuple[str, ...]  # above the recipient's level, or dropped at it
    transforms: Mapping[str, str]  # sent column -> transform, for every column not sent as is
    key: bytes | None = field(default=None, repr=False)
    population: Population | None = None  # whose records may leave (None: aggregates only, open data)
    on: date | None = None  # the day the plan was made for ('today' in a population rule)

    @property
    def ref(self) -> str:
        return f"{self.agreement_id} v{self.agreement_version}"

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns a frame must hold to be released: what is sent and what the row rules read."""
        return tuple(dict.fromkeys([*self.sent, *(self.population.columns if self.population else ())]))

    def release(
        self, frame: pd.DataFrame, people: People, evidence: Evidence
    ) -> tuple[pd.DataFrame, dict[str, int], Admission]:
        """Record-level data as it may leave: the people the population admits (rows first), then only the
        ``sent`` columns, transformed; the malformed-value counts and what the rows rules decided."""
        assert self.population is not None and self.on is not None  # a record-level plan always has both
        admission = admit(self.population, frame, people, evidence, on=self.on)
        kept = frame[admission.keep]
        if admission.blanked and admission.blank.any():
            blank = admission.blank[admission.keep]
            kept = kept.assign(**{c: kept[c].astype(object).where(~blank, None) for c in admission.blanked})
        out, malformed = self._columns(kept)
        return out, malformed, admission

    def apply(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Aggregates as they may leave (open data): only ``sent`` columns, transformed; and malformed-value counts.
        Record-level data goes through :meth:`release`, never here: a plan with row rules refuses."""
        if self.population is not None and not (self.population.is_bulk and not self.population.list_feeds
                                                and not self.population.columns):  # fmt: skip
            raise EgressRefused(f"{self.ref}: record-level data of {self.dataset} must pass the population rules")
        return self._columns(frame)

    def _columns(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        offered = [c for c in frame.columns if c not in self.columns]
        if offered:
            # Defence in depth: the plan was made for other columns; nothing unplanned passes.
            raise EgressRefused(f"{self.ref}: column(s) {offered} were not put to the gate for {self.dataset}")
        out: dict[str, pd.Series] = {}
        malformed: dict[str, int] = {}
        for name in self.sent:
            series, bad = transforms.apply(
                self.transforms.get(name, "pass"), frame[name], key=self.key, agreement_id=self.agreement_id
            )
            out[name] = series
            if bad:
                malformed[name] = bad
        return pd.DataFrame(out, index=frame.index, columns=list(self.sent)), malformed


@dataclass(frozen=True)
class RunOptions:
    """What the operator chose in the trigger form (all optional; the defaults are a normal run)."""

    dry_run: bool = False  # build and gate everything, report what would go where; send and record nothing
    resend: bool = False  # deliver again even if the ledger says delivered (the partner lost the file)
    max_level: int | None = None  # send only what this level allows (never above the agreement's level)
    agreement_ref: str | None = None  # the version the form showed: refuse if another is in force now


NORMAL_RUN = RunOptions()


def gate(
    agreement: AgreementHistory | Agreement,
    dataset: str,
    recipient: str,
    columns: list[str],
    *,
    on: date,
    key_for: KeyLookup | None = None,
    max_level: int | None = None,
    expect_ref: str | None = None,
) -> EgressPlan:
    """Decide what of ``dataset`` may go to ``recipient`` on day ``on``; raise :class:`EgressRefused` if nothing may.

    Every refusal says exactly why: no version in force (expired, not yet valid, or between
    versions), missing sign-off (and by whom), recipient not named, dataset not covered, unknown
    columns, or nothing left to send at the recipient's level. An operator may ask for less:
    ``max_level`` below the recipient's level, and ``expect_ref``, the version the trigger form showed
    (refused if another is in force).
    """
    history = agreement if isinstance(agreement, AgreementHistory) else AgreementHistory([agreement])
    current = _in_force(history, on)
    ref = current.ref
    unsigned = current.unsigned_on(on)
    if unsigned:
        raise EgressRefused(
            f"agreement {ref} is not signed off by {', '.join(unsigned)}; IG sign-off by every party is required"
        )
    level = current.level_for(recipient)
    if level is None:
        named = ", ".join(r.partner for r in current.recipients)
        raise EgressRefused(f"agreement {ref} does not name {recipient} as a recipient (it names {named})")
    if max_level is not None:  # an operator may send less than the agreement allows, never more
        level = min(level, max_level)
    catalogue = current.datasets.get(dataset)
    if catalogue is None:
        raise EgressRefused(f"agreement {ref} has no catalogue for dataset {dataset}")
    unknown = [c for c in columns if c not in catalogue.fields]
    if unknown:
        raise EgressRefused(
            f"agreement {ref} has no catalogue entry for column(s) {unknown} of {dataset}; they may not leave"
        )
    chosen = {c: catalogue.fields[c].transform_at(level) for c in columns}
    sent = tuple(c for c in columns if chosen[c] != "drop")
    removed = tuple(c for c in columns if chosen[c] == "drop")
    if not sent:
        raise EgressRefused(f"agreement {ref} allows no column of {dataset} at level {level}")
    changed = {c: t for c, t in chosen.items() if t not in ("pass", "drop")}
    key = None
    if "pseudonymise" in changed.values():
        if key_for is None or current.pseudonymisation_key_conn_id is None:
            raise EgressRefused(f"agreement {ref} pseudonymises fields but no key lookup was given")
        key = key_for(current.pseudonymisation_key_conn_id)
    if expect_ref is not None and expect_ref != ref:
        raise EgressRefused(f"the run asked for agreement {expect_ref}, but {ref} is in force today")
    population = current.population_for(recipient)
    unread = [c for c in (population.columns if population else ()) if c not in columns]
    if unread:
        raise EgressRefused(f"agreement {ref}'s population reads column(s) {unread}, which {dataset} does not offer")
    return EgressPlan(
        current.id, current.version, dataset, recipient, level, tuple(columns), sent, removed, changed, key,
        population, on,
    )  # fmt: skip


def _in_force(history: AgreementHistory, on: date) -> Agreement:
    current = history.in_force(on)
    if current is not None:
        return current
    before = [a for a in history.versions if a.valid_until < on]
    after = [a for a in history.versions if a.valid_from > on]
    if not after:
        last = max(before, key=lambda a: a.valid_until)
        raise EgressRefused(f"agreement {last.ref} expired on {last.valid_until}; no version is in force on {on}")
    if not before:
        first = min(after, key=lambda a: a.valid_from)
        raise EgressRefused(f"agreement {first.ref} is not yet valid: it comes into force on {first.valid_from}")
    ended = max(before, key=lambda a: a.valid_until)
    starts = min(after, key=lambda a: a.valid_from)
    raise EgressRefused(
        f"agreement {history.id} has no version in force on {on}: {ended.ref} ended {ended.valid_until}, "
        f"{starts.ref} starts {starts.valid_from}"
    )

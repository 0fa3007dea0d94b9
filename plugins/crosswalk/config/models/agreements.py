"""An Information Sharing Protocol as data: who provides, who receives at which level, why, under
which lawful basis, signed off by whom, valid when, and a catalogue of every field.

The catalogue is an allow-list. Every column of a dataset's table schema has an entry saying what
it is (classification), the lowest level at which it may be shared, and the transform applied at
each level. A column without an entry can never leave (see :mod:`crosswalk.agreements.egress`).

Transforms per level: ``transform`` maps a level to a transform name; a level that does not name
one inherits the transform of the nearest lower level that does, and a field without any entry
passes unchanged from its ``min_level``. Direct identifiers and special-category fields must name
their transform at ``min_level`` explicitly, so nobody shares one by omission.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from crosswalk.config.models.base import ConfigModel, SchemaId, Slug
from crosswalk.config.models.population import Population

Level = Annotated[int, Field(ge=1, le=4)]

PUBLIC = "public"
"""The recipient of an open-data agreement: everyone. Not a partner; needs no sign-off."""

CLASSIFICATIONS = {
    "direct_identifier": "direct identifier",
    "quasi_identifier": "quasi-identifier",
    "special_category": "special category",
    "operational": "operational",
    "aggregate": "aggregate",
}
Classification = Literal["direct_identifier", "quasi_identifier", "special_category", "operational", "aggregate"]

TRANSFORMS = {
    "pass": "sent unchanged",
    "drop": "not sent",
    "pseudonymise": "replaced by a keyed pseudonym (HMAC-SHA256, key per agreement)",
    "mask": "replaced by *** (the recipient learns only that a value exists)",
    "generalise:month": "date generalised to its month (YYYY-MM)",
    "generalise:year": "date generalised to its year (YYYY)",
    "generalise:sector": "postcode generalised to its sector (e.g. AB12 3)",
    "generalise:district": "postcode generalised to its district (e.g. AB12)",
    "generalise:age_band": "age generalised to a band (0-17, 18-64, 65-74, 75-84, 85+)",
}

# Which table-schema types each generalisation accepts; the others accept any type.
TRANSFORM_TYPES = {
    "generalise:month": {"date", "datetime"},
    "generalise:year": {"date", "datetime"},
    "generalise:sector": {"string"},
    "generalise:district": {"string"},
    "generalise:age_band": {"integer", "number"},
}


def _known_transform(name: str) -> str:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}: use one of {', '.join(TRANSFORMS)}")
    return name


TransformName = Annotated[str, AfterValidator(_known_transform)]

ARTICLE_6 = {
    "6(1)(a)": "consent",
    "6(1)(b)": "contract",
    "6(1)(c)": "legal obligation",
    "6(1)(d)": "vital interests",
    "6(1)(e)": "public task",
    "6(1)(f)": "legitimate interests",
}
ARTICLE_9 = {
    "9(2)(a)": "explicit consent",
    "9(2)(b)": "employment, social security and social protection law",
    "9(2)(c)": "vital interests",
    "9(2)(g)": "substantial public interest",
    "9(2)(h)": "health or social care",
    "9(2)(i)": "public health",
    "9(2)(j)": "archiving, research and statistics",
}


class Recipient(ConfigModel):
    partner: Slug = Field(description=f"A partner code, or {PUBLIC!r} for open data.")
    level: Level = Field(description="The ISP level granted to this recipient.")
    population: Population = Field(
        description="Whose records may go to this recipient (crosswalk.config.models.population); required."
    )


class LawfulBasis(ConfigModel):
    article_6: Literal["6(1)(a)", "6(1)(b)", "6(1)(c)", "6(1)(d)", "6(1)(e)", "6(1)(f)"]
    article_9: Literal["9(2)(a)", "9(2)(b)", "9(2)(c)", "9(2)(g)", "9(2)(h)", "9(2)(i)", "9(2)(j)"] | None = Field(
        None, description="The Article 9 condition; required when any field is special category."
    )
    note: str | None = Field(None, description="The legislation or duty relied on, in words.")

    def describe(self) -> str:
        out = f"UK GDPR Article {self.article_6} ({ARTICLE_6[self.article_6]})"
        if self.article_9:
            out += f"; Article {self.article_9} ({ARTICLE_9[self.article_9]})"
        return out


# A run's agreement choice that means "the version in force on the day" (the trigger form's default).
IN_FORCE = "in force on the day"


class SignOff(ConfigModel):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)
    date: date


class Automation(ConfigModel):
    approved: bool = False
    by: str | None = None
    on: date | None = None

    @model_validator(mode="after")
    def _who_and_when(self) -> Automation:
        if self.approved and not (self.by and self.on):
            raise ValueError("an approval needs 'by' (who approved) and 'on' (when)")
        return self


class FieldEntry(ConfigModel):
    description: str = Field(min_length=1)
    classification: Classification
    min_level: Level = Field(description="The lowest level at which this field may be shared.")
    transform: dict[Level, TransformName] = Field(
        default_factory=dict, description="Transform per level; a level inherits from the nearest lower one."
    )

    @model_validator(mode="after")
    def _transforms_in_range(self) -> FieldEntry:
        below = sorted(k for k in self.transform if k < self.min_level)
        if below:
            raise ValueError(
                f"transform given for level(s) {below}, below min_level {self.min_level} where the field is not shared"
            )
        if self.classification in ("direct_identifier", "special_category") and self.min_level not in self.transform:
            raise ValueError(
                f"a {CLASSIFICATIONS[self.classification]} must name its transform at min_level {self.min_level} "
                "(pass, pseudonymise, mask, drop or a generalisation)"
            )
        return self

    def transform_at(self, level: int) -> str:
        """The transform applied for a recipient at ``level``: ``drop`` below ``min_level``."""
        if level < self.min_level:
            return "drop"
        named = [k for k in self.transform if k <= level]
        return self.transform[max(named)] if named else "pass"


class DatasetCatalogue(ConfigModel):
    fields: dict[str, FieldEntry] = Field(min_length=1)


class Agreement(ConfigModel):
    """One version of one agreement. Versions of the same id must not overlap in time."""

    id: Slug
    version: int = Field(ge=1)
    title: str
    kind: Literal["sharing", "open_data"] = "sharing"
    protocol: str | None = Field(None, description="The signed document this implements (reference).")
    provider: Slug
    recipients: list[Recipient] = Field(min_length=1)
    purpose: str = Field(min_length=10)
    lawful_basis: LawfulBasis
    sign_off: dict[Slug, SignOff] = Field(default_factory=dict, description="IG sign-off, keyed by party.")
    valid_from: date
    valid_until: date
    review_date: date
    automation: Automation = Automation()
    pseudonymisation_key_conn_id: str | None = Field(
        None, description="Airflow connection whose password is this agreement's HMAC key (never in the repo)."
    )
    datasets: dict[SchemaId, DatasetCatalogue] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Agreement:
        parties = [r.partner for r in self.recipients]
        if len(parties) != len(set(parties)):
            raise ValueError("a recipient is listed twice")
        if self.provider in parties:
            raise ValueError("the provider cannot also be a recipient")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if not self.valid_from <= self.review_date:
            raise ValueError("review_date must not be before valid_from")
        strangers = sorted(set(self.sign_off) - set(self.parties))
        if strangers:
            raise ValueError(f"sign_off names {strangers}, who are not parties to the agreement")
        entries = [e for ds in self.datasets.values() for e in ds.fields.values()]
        if any(e.classification == "special_category" for e in entries) and self.lawful_basis.article_9 is None:
            raise ValueError("lawful_basis.article_9 is required: the catalogue has special-category fields")
        for i, r in enumerate(self.recipients):
            for ds, catalogue in self.datasets.items():
                unknown = [c for c in r.population.columns if c not in catalogue.fields]
                if unknown:
                    raise ValueError(
                        f"recipients.{i}.population names column(s) {unknown} that dataset {ds} does not declare"
                    )
        uses_key = any("pseudonymise" in e.transform.values() for e in entries)
        if uses_key and not self.pseudonymisation_key_conn_id:
            raise ValueError("pseudonymisation_key_conn_id is required: a field is pseudonymised")
        if self.kind == "open_data":
            if parties != [PUBLIC]:
                raise ValueError(f"an open_data agreement has exactly one recipient, {PUBLIC!r}")
            rows = [
                n
                for ds in self.datasets.values()
                for n, e in ds.fields.items()
                if e.classification not in ("aggregate", "operational")
            ]
            if rows:
                raise ValueError(f"an open_data agreement permits aggregates only; record-level field(s): {rows}")
            population = self.recipients[0].population
            if population.include != "all" or population.where or population.list_feeds or population.columns:
                # Open data is built from a portal publication only, whose people its own agreement decided.
                raise ValueError(
                    "an open_data agreement's population is 'all' (the people of the portal publication it is built"
                    " from, which that publication's agreement decided): put row rules in that agreement"
                )
        elif PUBLIC in parties:
            raise ValueError(f"{PUBLIC!r} may only receive under an open_data agreement")
        return self

    @property
    def parties(self) -> list[str]:
        """Who must sign off: the provider and every recipient except the public."""
        return [self.provider, *(r.partner for r in self.recipients if r.partner != PUBLIC)]

    @property
    def ref(self) -> str:
        return f"{self.id} v{self.version}"

    def level_for(self, partner: str) -> int | None:
        return next((r.level for r in self.recipients if r.partner == partner), None)

    def population_for(self, partner: str) -> Population | None:
        return next((r.population for r in self.recipients if r.partner == partner), None)

    def unsigned_on(self, day: date) -> list[str]:
        """Parties with no sign-off dated on or before ``day``."""
        return [p for p in self.parties if p not in self.sign_off or self.sign_off[p].date > day]

    def status_on(self, day: date) -> str:
        """draft (unsigned), pending (not yet valid), active, review overdue, or expired."""
        if day > self.valid_until:
            return "expired"
        if self.unsigned_on(day):
            return "draft"
        if day < self.valid_from:
            return "pending"
        return "review overdue" if day > self.review_date else "active"


class AgreementHistory:
    """Every version of one agreement, oldest first; at most one is in force on any day."""

    def __init__(self, versions: list[Agreement]) -> None:
        if not versions:
            raise ValueError("an agreement history needs at least one version")
        self.versions = sorted(versions, key=lambda a: a.version)
        self.id = self.versions[0].id

    @property
    def latest(self) -> Agreement:
        return self.versions[-1]

    def version(self, number: int) -> Agreement | None:
        return next((a for a in self.versions if a.version == number), None)

    def in_force(self, day: date) -> Agreement | None:
        """The version whose validity window contains ``day`` (signed or not)."""
        return next((a for a in self.versions if a.valid_from <= day <= a.valid_until), None)

    def overlaps(self) -> list[tuple[Agreement, Agreement]]:
        by_start = sorted(self.versions, key=lambda a: a.valid_from)
        return [(a, b) for a, b in itertools.pairwise(by_start) if b.valid_from <= a.valid_until]

    def __repr__(self) -> str:
        return f"AgreementHistory({self.id}, versions={[a.version for a in self.versions]})"

"""Which people an agreement lets leave: the row rules of a recipient, beside the field rules of its catalogue.

A recipient's ``population`` says whose records may be disclosed to it, before any field rule applies:

- ``include``: ``matched_to_recipient`` (only people the crosswalk linked to a record the recipient itself sent,
  automatically or by a reviewer) or ``all`` (every record of the dataset: a bulk disclosure, shown as one in the
  register). There is no default: nobody receives a whole table by omission.
- ``where``: conditions on declared columns that every record sent must meet (an open care package, say).
- ``exclude.restricted``: records marked restricted, by a declared column's values or by a governed list (an
  inbound feed of kind ``restricted``); the whole record is withheld, or only the named fields are blanked.
- ``exclude.objections``: people on a governed objections list (an inbound feed of kind ``objections``, with its
  own schema, staged and audited like any drop) are withheld (UK GDPR Article 21).

Written in YAML either in full or as a word: ``population: all`` is ``population: {include: all}``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from crosswalk.config.models.base import ConfigModel, Slug

ALL, MATCHED = "all", "matched_to_recipient"
INCLUDES = {
    ALL: "every record of the dataset (a bulk disclosure)",
    MATCHED: "only people the crosswalk linked to a record the recipient itself sent",
}

# Why a person was withheld, in the order a withheld person is counted (the first that applies).
OBJECTED, RESTRICTED, NOT_MATCHED, FILTERED = "objected", "restricted", "not_matched", "filtered"
WITHHELD_REASONS = {
    OBJECTED: "on the objections list",
    RESTRICTED: "record restricted",
    NOT_MATCHED: "not matched to a record the recipient sent",
    FILTERED: "outside the agreement's conditions",
}

# Why a person was included, as the disclosure log records it per record.
ADMITTED_ALL, ADMITTED_MATCHED, ADMITTED_OWN = "all", "matched", "own_record"
ADMITTED = {
    ADMITTED_ALL: "the agreement admits every record (population: all)",
    ADMITTED_MATCHED: "linked by the crosswalk to a record the recipient sent",
    ADMITTED_OWN: "the recipient's own record, returned with what matching found",
}

# The kinds of governed person list an inbound feed may be (its ``list``), and the columns that identify a person.
LIST_KINDS = ("objections", "restricted")
LIST_ID_COLUMNS = ("chi_number", "nhs_number", "source_id")

Today = Literal["today"] | date
TESTS = ("present", "one_of", "none_of", "on_or_after", "before")


class Condition(ConfigModel):
    """One test on a declared column; a record is sent only if every condition holds. Exactly one test is named;
    ``or_missing`` lets a record without a value pass (an open-ended care package has no end date)."""

    column: str = Field(min_length=1, description="A column of the dataset (in its catalogue).")
    present: bool | None = Field(None, description="true: the column holds a value; false: it is empty.")
    one_of: list[str] | None = Field(None, min_length=1, description="The value is one of these.")
    none_of: list[str] | None = Field(None, min_length=1, description="The value is none of these.")
    on_or_after: Today | None = Field(None, description="A date column on or after this date ('today': the run's).")
    before: Today | None = Field(None, description="A date column before this date ('today': the run's).")
    or_missing: bool = Field(False, description="A record with no value passes this condition too.")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [t for t in TESTS if getattr(self, t) is not None]
        if len(tests) != 1:
            raise ValueError(
                f"name exactly one test for {self.column!r} (present, one_of, none_of, on_or_after or before);"
                f" found {len(tests)}"
            )
        if self.or_missing and self.present is not None:
            raise ValueError("or_missing has no meaning beside present")
        return self

    @property
    def test(self) -> str:
        return next(t for t in TESTS if getattr(self, t) is not None)

    def describe(self) -> str:
        t, v = self.test, getattr(self, self.test)
        words = {
            "present": f"{self.column} {'holds a value' if v else 'is empty'}",
            "one_of": f"{self.column} is one of {', '.join(map(str, v))}",
            "none_of": f"{self.column} is none of {', '.join(map(str, v))}",
            "on_or_after": f"{self.column} is on or after {v}",
            "before": f"{self.column} is before {v}",
        }[t]
        return words + (" (or has no value)" if self.or_missing else "")


class Restricted(ConfigModel):
    """Records marked restricted (NHS 'sensitive' records, a protected address): by a declared column's values, or
    by a governed list feed; withheld whole, or with only the named fields blanked."""

    column: str | None = Field(None, description="A column of the dataset that marks a restricted record.")
    values: list[str] | None = Field(None, min_length=1, description="The column's values that mean restricted.")
    feed: Slug | None = Field(None, description="An inbound feed of kind 'restricted' listing restricted people.")
    withhold: Literal["record"] | list[str] = Field(
        "record", description="'record' (the whole record is withheld) or the fields blanked for such a record."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Restricted:
        by_column, by_list = self.column is not None, self.feed is not None
        if by_column == by_list:
            raise ValueError("mark restricted records either by column (with values) or by a list feed, not both")
        if by_column and not self.values:
            raise ValueError(f"name the values of {self.column!r} that mark a record restricted")
        if by_list and self.values is not None:
            raise ValueError("values belong with a column, not with a list feed")
        if isinstance(self.withhold, list) and not self.withhold:
            raise ValueError("withhold names at least one field, or is 'record'")
        return self

    def describe(self) -> str:
        marked = f"{self.column} is {' or '.join(self.values or ())}" if self.column else f"listed in {self.feed}"
        what = "the whole record is withheld" if self.withhold == "record" else (
            f"{', '.join(self.withhold)} blanked"
        )  # fmt: skip
        return f"restricted records ({marked}): {what}"


class Objections(ConfigModel):
    feed: Slug = Field(description="An inbound feed of kind 'objections': the people who objected (Article 21).")

    def describe(self) -> str:
        return f"people who objected (listed in {self.feed}) are withheld"


class Exclusions(ConfigModel):
    restricted: Restricted | None = None
    objections: Objections | None = None


class Population(ConfigModel):
    include: Literal["all", "matched_to_recipient"] = Field(
        description="'matched_to_recipient' or 'all' (a bulk disclosure); required, so no table leaves by omission."
    )
    where: list[Condition] = Field(default_factory=list, description="Conditions every record sent must meet.")
    exclude: Exclusions = Exclusions()

    @model_validator(mode="before")
    @classmethod
    def _word(cls, data):
        return {"include": data} if isinstance(data, str) else data

    @property
    def is_bulk(self) -> bool:
        """Every record of the dataset may leave, bar the exclusions: the register flags it."""
        return self.include == ALL and not self.where

    @property
    def list_feeds(self) -> list[tuple[str, str]]:
        """The governed lists this population reads, as (kind, feed id)."""
        out = []
        if self.exclude.objections is not None:
            out.append(("objections", self.exclude.objections.feed))
        if self.exclude.restricted is not None and self.exclude.restricted.feed is not None:
            out.append(("restricted", self.exclude.restricted.feed))
        return out

    @property
    def columns(self) -> list[str]:
        """The dataset columns the rules read or blank (each must be catalogued)."""
        out = [c.column for c in self.where]
        r = self.exclude.restricted
        if r is not None:
            out += [r.column] if r.column else []
            out += r.withhold if isinstance(r.withhold, list) else []
        return list(dict.fromkeys(out))

    def codes(self) -> list[str]:
        """The rules as short codes, for audit events and lineage: ``include:…``, ``where:<column>:<test>``,
        ``exclude:restricted:<column or feed>:<record|fields>``, ``exclude:objections:<feed>``."""
        out = [f"include:{self.include}"] + [f"where:{c.column}:{c.test}" for c in self.where]
        r = self.exclude.restricted
        if r is not None:
            out.append(f"exclude:restricted:{r.column or r.feed}:{'record' if r.withhold == 'record' else 'fields'}")
        if self.exclude.objections is not None:
            out.append(f"exclude:objections:{self.exclude.objections.feed}")
        return out

    def describe(self) -> list[str]:
        """The population in words an IG officer reads, one line a rule."""
        out = [f"who: {INCLUDES[self.include]}"]
        out += [f"only where {c.describe()}" for c in self.where]
        if self.exclude.restricted is not None:
            out.append(self.exclude.restricted.describe())
        if self.exclude.objections is not None:
            out.append(self.exclude.objections.describe())
        return out

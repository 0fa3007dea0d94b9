"""The egress gate: the one function every outbound extract passes through.

Allow-list semantics. A column with no rule in the agreement stops the run before anything
leaves (unknown columns are errors, not passengers); a column whose level is above the
recipient's is removed; everything else passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosswalk.config.models import Agreement
from crosswalk.errors import EgressRefused


@dataclass(frozen=True)
class EgressPlan:
    agreement_id: str
    agreement_version: int
    recipient: str
    level: int
    kept: list[str]
    removed: list[str]


def plan_egress(agreement: Agreement, dataset: str, recipient: str, columns: list[str]) -> EgressPlan:
    """Decide which of ``columns`` may go to ``recipient``; raise :class:`EgressRefused` if none may."""
    level = agreement.level_for(recipient)
    if level is None:
        raise EgressRefused(f"agreement {agreement.id} v{agreement.version} does not name {recipient} as a recipient")
    rules = agreement.datasets.get(dataset)
    if rules is None:
        raise EgressRefused(f"agreement {agreement.id} v{agreement.version} has no rules for dataset {dataset}")
    unknown = [c for c in columns if c not in rules.fields]
    if unknown:
        raise EgressRefused(
            f"agreement {agreement.id} v{agreement.version} has no rule for column(s) {unknown} of {dataset}"
        )
    kept = [c for c in columns if rules.fields[c].level <= level]
    removed = [c for c in columns if rules.fields[c].level > level]
    if not kept:
        raise EgressRefused(
            f"agreement {agreement.id} v{agreement.version} allows no column of {dataset} at level {level}"
        )
    return EgressPlan(agreement.id, agreement.version, recipient, level, kept, removed)

"""Does the data hold families? The twin and household rules, and the bar a sole candidate must clear, depend on it.

Fellegi-Sunter counts a shared surname, address and birthday as separate evidence; a household or twins share
them by nature. Where the data holds families, that evidence is worth less than the model says, and the rules
that guard against it apply (:mod:`crosswalk.matching.dedupe`'s twin and household rules; in a link, the review
band for a sole candidate). Where it holds none (records of independent people), they would only cost recall.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

log = logging.getLogger(__name__)

# At least this share of records with a companion of the same surname and postcode born a generation apart
# (15 years) whose forename is not alike. Measured: a population with households 13.5% (bench/people.py, 50k);
# FEBRL3 0.8% and FEBRL4 0.7-2.1% (independent people, whose duplicates may carry a wholly replaced forename).
FAMILIES_PRESENT = 0.05
GENERATION_DAYS = 15 * 365


@dataclass(frozen=True)
class FamilyEvidence:
    companion_share: float  # records with a parent- or child-like companion, as a share of all
    twins: int  # pairs with two different valid CHIs and the same surname, birthday and postcode

    @property
    def present(self) -> bool:
        return self.companion_share >= FAMILIES_PRESENT or self.twins > 0

    def log(self, what: str) -> None:
        log.info(
            "%.1f%% of records have a household companion and %d pair(s) are twins by their CHIs: %s %s",
            100 * self.companion_share,
            self.twins,
            what,
            "on" if self.present else "off (no families in this data)",
        )


def family_evidence(p: pd.DataFrame) -> FamilyEvidence:
    """Measured on prepared records (:func:`crosswalk.matching.normalise.prepare`)."""
    from crosswalk.matching.engines import duckdb_connection

    con = duckdb_connection()
    con.register("p", p[["record_id", "forename", "surname", "postcode", "birth_day", "date_of_birth", "chi"]])
    companions = con.execute(
        "SELECT count(DISTINCT l.record_id) FROM p l JOIN p r ON l.surname = r.surname AND l.postcode = r.postcode"
        f" AND l.record_id <> r.record_id WHERE abs(l.birth_day - r.birth_day) > {GENERATION_DAYS}"
        " AND jaro_winkler_similarity(l.forename, r.forename) < 0.7"
    ).fetchone()[0]
    twins = con.execute(
        "SELECT count(*) FROM p l JOIN p r ON l.surname = r.surname AND l.date_of_birth = r.date_of_birth"
        " AND l.postcode = r.postcode AND l.chi < r.chi"
    ).fetchone()[0]
    con.close()
    return FamilyEvidence(companions / len(p) if len(p) else 0.0, int(twins))

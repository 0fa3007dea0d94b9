"""A small, valid agreement to vary in tests (the shipped ones are tested as shipped)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from crosswalk.config.models.agreements import Agreement

TODAY = date(2026, 11, 21)

_BASE: dict[str, Any] = {
    "id": "isp",
    "version": 3,
    "title": "Test agreement",
    "provider": "council",
    "recipients": [
        {"partner": "board", "level": 1, "population": "all"},
        {"partner": "gp", "level": 2, "population": "all"},
    ],
    "purpose": "Testing the egress gate with a small catalogue.",
    "lawful_basis": {"article_6": "6(1)(e)", "article_9": "9(2)(h)"},
    "sign_off": {
        "council": {"name": "A Officer", "role": "DPO", "date": "2026-01-05"},
        "board": {"name": "B Officer", "role": "Caldicott Guardian", "date": "2026-01-06"},
        "gp": {"name": "C Officer", "role": "DPO", "date": "2026-01-07"},
    },
    "valid_from": "2026-02-01",
    "valid_until": "2027-01-31",
    "review_date": "2026-12-31",
    "pseudonymisation_key_conn_id": "key_isp",
    "datasets": {
        "clients": {
            "fields": {
                "id": {"description": "Client id", "classification": "direct_identifier", "min_level": 1,
                       "transform": {1: "pseudonymise", 3: "pass"}},
                "name": {"description": "Name", "classification": "direct_identifier", "min_level": 1,
                         "transform": {1: "mask", 2: "pass"}},
                "dob": {"description": "Date of birth", "classification": "quasi_identifier", "min_level": 1,
                        "transform": {1: "generalise:year", 2: "generalise:month", 3: "pass"}},
                "postcode": {"description": "Postcode", "classification": "quasi_identifier", "min_level": 1,
                             "transform": {1: "generalise:district", 2: "generalise:sector"}},
                "package": {"description": "Care package", "classification": "special_category", "min_level": 2,
                            "transform": {2: "pass"}},
                "assessment": {"description": "Assessment", "classification": "special_category", "min_level": 3,
                               "transform": {3: "pass", 4: "drop"}},
                "team": {"description": "Team", "classification": "operational", "min_level": 4},
            }
        }
    },
}  # fmt: skip


def agreement_doc(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_BASE)
    doc.update(changes)
    return doc


def agreement(**changes: Any) -> Agreement:
    return Agreement.model_validate(agreement_doc(**changes))

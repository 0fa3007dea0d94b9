"""Synthetic, obviously fictional people for demos and tests. Deterministic for a given seed.

No real person's data is ever used: names come from short lists, postcodes use the fictional
'NS' area, and CHI numbers are generated with valid check digits for made-up dates.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from crosswalk.identifiers import mod11_check_digit

FORENAMES_F = ["Isla", "Olivia", "Emily", "Freya", "Ava", "Sophie", "Grace", "Mia", "Ella", "Lucy", "Margaret", "Agnes"]
FORENAMES_M = ["Jack", "Noah", "Leo", "James", "Harris", "Lewis", "Finlay", "Alexander", "Thomas", "Robert", "John"]
SURNAMES = [
    "Smith",
    "Brown",
    "Wilson",
    "Campbell",
    "Stewart",
    "Thomson",
    "Robertson",
    "Anderson",
    "Macdonald",
    "Scott",
    "Reid",
    "Murray",
    "Taylor",
    "Clark",
    "Ross",
    "Watson",
    "Morrison",
    "Paterson",
    "Young",
    "Walker",
]
STREETS = ["High Street", "Station Road", "Main Street", "Church Lane", "Park Avenue", "Mill Road", "Kirk Wynd"]
TEAMS = ["Adult Care North", "Adult Care South", "Older People East", "Learning Disability", "Reablement"]
PACKAGES = ["home care", "day care", "residential", "respite", "telecare", ""]
ASSESSMENTS = ["community care", "carer's", "occupational therapy", "review"]
SUPPORT_REASONS = [
    "physical support",
    "sensory support",
    "memory and cognition",
    "learning disability",
    "mental health",
]
PRACTICES = ["NS10001", "NS10002", "NS10003", "NS10004"]


@dataclass(frozen=True)
class Person:
    chi: str
    forename: str
    surname: str
    dob: date
    sex: str
    postcode: str
    address: str


def make_chi(rng: random.Random, dob: date, sex: str) -> str:
    while True:
        serial = f"{rng.randrange(0, 100):02d}"
        sex_digit = rng.choice("13579" if sex == "M" else "02468")
        first9 = dob.strftime("%d%m%y") + serial + sex_digit
        check = mod11_check_digit(first9)
        if check is not None:
            return first9 + str(check)


def people(n: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        sex = rng.choice("MF")
        dob = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 85))
        chi = make_chi(rng, dob, sex)
        if chi in seen:
            continue
        seen.add(chi)
        forename = rng.choice(FORENAMES_M if sex == "M" else FORENAMES_F)
        unit = "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        postcode = f"NS{rng.randrange(1, 20)} {rng.randrange(1, 10)}{unit}"
        address = f"{rng.randrange(1, 200)} {rng.choice(STREETS)}"
        out.append(Person(chi, forename, rng.choice(SURNAMES), dob, sex, postcode, address))
    return out


CLIENT_COLUMNS = [
    "source_id",
    "chi_number",
    "nhs_number",
    "forename",
    "surname",
    "date_of_birth",
    "sex",
    "postcode",
    "address_line1",
    "allocated_worker",
    "allocated_team",
    "care_package_type",
    "care_package_start",
    "care_package_end",
    "weekly_hours",
    "care_review_due",
    "last_assessment_date",
    "assessment_type",
    "primary_support_reason",
    "adult_protection_flag",
]
INDEX_COLUMNS = ["chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "gp_practice_code"]


LIST_COLUMNS = ["chi_number", "nhs_number", "source_id", "recorded_on"]


def list_rows(*, chis: list[str] = (), source_ids: list[str] = (), on: str = "2026-10-01") -> list[dict[str, str]]:
    """A governed list of people (objections or restricted records), each named by a CHI or a source id."""
    blank = {"chi_number": "", "nhs_number": "", "source_id": "", "recorded_on": on}
    return [{**blank, "chi_number": c} for c in chis] + [{**blank, "source_id": s} for s in source_ids]


def client_rows(persons: list[Person], seed: int = 11) -> list[dict[str, str]]:
    """The council's view: some clients lack their CHI (the matching problem), one package each."""
    rng = random.Random(seed)
    later = random.Random(seed + 1)  # columns added later draw from their own stream: older ones stay as they were
    rows = []
    for i, p in enumerate(persons, start=1):
        assessed = date(2023, 6, 1) + timedelta(days=later.randrange(0, 800)) if later.random() < 0.85 else None
        package = rng.choice(PACKAGES)
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 600)) if package else None
        rows.append(
            {
                "source_id": f"MOS{i:07d}",
                "chi_number": p.chi if rng.random() < 0.7 else "",
                "nhs_number": "",
                "forename": p.forename,
                "surname": p.surname,
                "date_of_birth": p.dob.isoformat(),
                "sex": p.sex,
                "postcode": p.postcode,
                "address_line1": p.address,
                "allocated_worker": f"{rng.choice(FORENAMES_F + FORENAMES_M)} {rng.choice(SURNAMES)}"
                if rng.random() < 0.8
                else "",
                "allocated_team": rng.choice(TEAMS),
                "care_package_type": package,
                "care_package_start": start.isoformat() if start else "",
                "care_package_end": "",
                "weekly_hours": f"{rng.choice([2, 3.5, 7, 10.5, 14, 21])}" if package else "",
                "care_review_due": (start + timedelta(days=365)).isoformat() if start else "",
                "last_assessment_date": assessed.isoformat() if assessed else "",
                "assessment_type": later.choice(ASSESSMENTS) if assessed else "",
                "primary_support_reason": later.choice(SUPPORT_REASONS) if assessed else "",
                "adult_protection_flag": "Y" if later.random() < 0.03 else "N",
            }
        )
    return rows


def index_rows(persons: list[Person], seed: int = 13) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {
            "chi_number": p.chi,
            "forename": p.forename,
            "surname": p.surname,
            "date_of_birth": p.dob.isoformat(),
            "sex": p.sex,
            "postcode": p.postcode,
            "gp_practice_code": rng.choice(PRACTICES),
        }
        for p in persons
    ]


def write_csv(rows: list[dict[str, str]], columns: list[str], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path

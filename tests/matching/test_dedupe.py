"""Deduplication within one source: duplicates cluster, twins never do, and a golden record survives."""

from __future__ import annotations

import pandas as pd
import pytest

from crosswalk.demo.synthetic import index_rows, people
from crosswalk.identifiers import mod11_check_digit
from crosswalk.matching.dedupe import _two_people, dedupe, golden_records


def _chi(ddmmyy: str, serial: str) -> str:
    return ddmmyy + serial + str(mod11_check_digit(ddmmyy + serial))


TWIN_A, TWIN_B = _chi("170561", "113"), _chi("170561", "121")
ANNE = _chi("020345", "224")


def rec(rid, chi, forename, surname, dob, sex, postcode) -> dict:
    return {"record_id": rid, "chi_number": chi, "forename": forename, "surname": surname,
            "date_of_birth": dob, "sex": sex, "postcode": postcode}  # fmt: skip


@pytest.fixture(scope="module")
def data():
    crowd = pd.DataFrame(index_rows(people(2000, seed=31)))
    crowd["record_id"] = [f"R{i:05d}" for i in range(len(crowd))]
    planted = pd.DataFrame(
        [
            rec("T-A", TWIN_A, "Angus", "Mcphee", "1961-05-17", "M", "NS1 1AA"),
            rec("T-B", TWIN_B, "Angus", "Mcphee", "1961-05-17", "M", "NS1 1AA"),
            rec("T-X", "", "Angus", "Mcphee", "1961-05-17", "M", "NS1 1AA"),  # looks like both twins
            rec("D-1", ANNE, "Anne", "Gillies", "1945-03-02", "F", ""),  # older, no postcode
            rec("D-2", "", "Anne", "Gillies", "1945-03-02", "F", "NS4 7QT"),  # same woman, no CHI, moved
            # Twin sisters with no CHI: everything agrees but the forename.
            rec("W-1", "", "Mhairi", "Dunbar", "2001-08-09", "F", "NS2 2BB"),
            rec("W-2", "", "Eilidh", "Dunbar", "2001-08-09", "F", "NS2 2BB"),
        ]
    )
    people_ = pd.concat([crowd, planted], ignore_index=True)
    clusters = dedupe(people_)
    return people_, clusters.set_index("record_id", drop=False)


def test_a_cluster_never_holds_two_valid_different_chis(data):
    _, clusters = data
    assert clusters.loc["T-A", "cluster_id"] != clusters.loc["T-B", "cluster_id"]
    per_cluster = clusters.dropna(subset=["chi"]).groupby("cluster_id")["chi"].nunique()
    assert (per_cluster <= 1).all()
    # The look-alike joins at most one twin.
    assert clusters.loc["T-X", "cluster_id"] in (clusters.loc["T-A", "cluster_id"], clusters.loc["T-B", "cluster_id"])


def test_duplicates_cluster_and_the_golden_record_takes_the_valid_chi_and_latest_values(data):
    people_, clusters = data
    assert clusters.loc["D-1", "cluster_id"] == clusters.loc["D-2", "cluster_id"]
    golden = golden_records(people_, clusters.reset_index(drop=True)).set_index("cluster_id")
    anne = golden.loc[clusters.loc["D-1", "cluster_id"]]
    assert anne["chi_number"] == ANNE and anne["postcode"] == "NS4 7QT" and anne["members"] == "D-1 D-2"


def test_the_crowd_of_distinct_people_stays_apart(data):
    _, clusters = data
    crowd = clusters[clusters["record_id"].str.startswith("R")]
    assert crowd["cluster_id"].nunique() == len(crowd)  # no false merges among 2000 different people


def test_twins_without_chis_stay_apart(data):
    _, clusters = data
    assert clusters.loc["W-1", "cluster_id"] != clusters.loc["W-2", "cluster_id"]


def test_the_twin_rule_spares_transposed_names():
    scored = pd.DataFrame(
        {
            # gamma 0: Splink's lowest forename level (not alike at all)
            "gamma_forename": [0, 0, 2, 0],
            "gamma_date_of_birth": [5, 5, 5, 5],
            "gamma_sex": [1, 1, 1, 1],
            "forename_l": ["MHAIRI", "ROSS", "ANNE", "JOHN"],
            "surname_l": ["DUNBAR", "FRASER", "GILLIES", "SMITH"],
            "forename_r": ["EILIDH", "FRASER", "ANN", "SMITH"],
            "surname_r": ["DUNBAR", "ROSS", "GILLIES", "JOHN"],
        }
    )
    # twins; names swapped (kept); alike forenames (kept); names swapped the other way (kept)
    assert _two_people(scored).tolist() == [True, False, False, False]


def test_neither_rule_parts_forenames_one_keystroke_apart_however_short():
    pairs = [("SAM", "SMA"), ("AMY", "AY"), ("MEG", "MGE"), ("JO", "J"), ("EVE", "EVA"), ("MHAIRI", "EILIDH")]
    n = len(pairs)
    scored = pd.DataFrame(
        {
            "gamma_forename": [0] * n,  # Jaro-Winkler: not alike at all
            "gamma_date_of_birth": [5] * n,
            "gamma_sex": [1] * n,
            "forename_l": [a for a, _ in pairs],
            "surname_l": ["DUNBAR"] * n,
            "forename_r": [b for _, b in pairs],
            "surname_r": ["DUNBAR"] * n,
        }
    )
    # a swap, a drop, a swap, a drop, a change: one person each; the twins stay two
    assert _two_people(scored).tolist() == [False, False, False, False, False, True]
    household = scored.assign(gamma_forename=1, gamma_date_of_birth=0)  # loosely alike and born years apart
    assert _two_people(household).tolist() == [False, False, False, False, False, True]


def test_the_household_rule_parts_loosely_alike_forenames_only_with_another_difference():
    # Jaro-Winkler level 1 (0.7 to 0.88): a mother and daughter, a brother and sister, a duplicate
    n = 6
    scored = pd.DataFrame(
        {
            "gamma_forename": [1, 1, 1, 1, 2, 1],
            # date of birth: 1 more than a year apart, 0 more than ten, 5 exact, -1 missing
            "gamma_date_of_birth": [0, 1, 5, 5, 0, -1],
            "gamma_sex": [1, 1, 0, 1, 1, -1],  # 0 differs, -1 unknown on one side
            "forename_l": ["MORAG"] * n,
            "surname_l": ["DUNBAR"] * n,
            "forename_r": ["MORVEN"] * n,
            "surname_r": ["DUNBAR"] * n,
        }
    )
    # born apart (twice); other sex; the same birthday and sex (kept); forenames alike (kept); nothing
    # known beyond the names (kept)
    assert _two_people(scored).tolist() == [True, True, True, False, False, False]


def test_the_family_rules_apply_only_where_the_data_holds_families():
    """FEBRL-style data (independent people; a duplicate may carry a wholly replaced forename): no household
    companions and no twins proved by CHIs, so such a duplicate clusters. The planted CHI twins above turn
    the rules on, which keeps W-1 and W-2 apart."""
    from crosswalk.matching.families import family_evidence
    from crosswalk.matching.normalise import prepare

    crowd = pd.DataFrame(index_rows(people(2000, seed=37)))
    crowd["record_id"] = [f"R{i:05d}" for i in range(len(crowd))]
    replaced = pd.DataFrame(
        [
            rec("X-1", "", "Dillon", "Morrison", "1992-01-26", "M", "NS3 3CC"),
            rec("X-2", "", "Oliver", "Morrison", "1992-01-26", "M", "NS3 3CC"),
        ]
    )
    records = pd.concat([crowd, replaced], ignore_index=True)
    evidence = family_evidence(prepare(records))
    assert evidence.companion_share < 0.05 and evidence.twins == 0 and not evidence.present
    clusters = dedupe(records).set_index("record_id")
    assert clusters.loc["X-1", "cluster_id"] == clusters.loc["X-2", "cluster_id"]

"""The link pipeline on a synthetic population with hard cases planted in it: deterministic links,
the identifier veto, the one-to-one rule with its margin, and bands."""

from __future__ import annotations

import pandas as pd
import pytest

from crosswalk.demo.synthetic import client_rows, index_rows, people
from crosswalk.identifiers import mod11_check_digit
from crosswalk.matching.decisions import (
    AUTO,
    DETERMINISTIC,
    NONE,
    REVIEW,
    SAME_CHI,
    SAME_CHI_FORENAMES_DISAGREE,
    band_counts,
)
from crosswalk.matching.link import link


def chi_for(dob: str, serial: str) -> str:
    body = dob[8:10] + dob[5:7] + dob[2:4] + serial
    check = mod11_check_digit(body)
    assert check is not None, f"no valid CHI has the body {body}: pick another serial"
    return body + str(check)


TWIN_A, TWIN_B = chi_for("1961-05-17", "113"), chi_for("1961-05-17", "121")
SWAP = chi_for("1975-03-08", "224")  # a woman's CHI (even 9th digit)
TYPO = chi_for("1982-11-04", "315")  # recorded once with a one-digit slip in the date of birth
COPIED = chi_for("1958-02-27", "444")  # the mother's CHI, copied onto her son's record


def person(record_id, chi, forename, surname, dob, sex="M", postcode="NS1 1AA") -> dict:
    return {"record_id": record_id, "chi_number": chi, "forename": forename, "surname": surname,
            "date_of_birth": dob, "sex": sex, "postcode": postcode}  # fmt: skip


@pytest.fixture(scope="module")
def result():
    crowd = people(3000, seed=21)
    source = pd.DataFrame(client_rows(crowd[:2000])).rename(columns={"source_id": "record_id"})
    index = pd.DataFrame(index_rows(crowd))
    index["record_id"] = index["chi_number"]
    planted_index = [
        # Twins: same surname, birthday and address; different valid CHIs.
        person(TWIN_A, TWIN_A, "Angus", "Mcphee", "1961-05-17"),
        person(TWIN_B, TWIN_B, "Angus", "Mcphee", "1961-05-17"),
        person(SWAP, SWAP, "Isla", "Baird", "1975-03-08", sex="F", postcode="NS9 9ZZ"),
        person(TYPO, TYPO, "Ewan", "Lennox", "1982-11-04", postcode="NS2 4PQ"),
        person(COPIED, COPIED, "Morag", "Sinclair", "1958-02-27", sex="F", postcode="NS7 1RT"),
    ]
    planted_source = [
        # Knows twin A's CHI: deterministic, and never twin B.
        person("S-TWIN-A", TWIN_A, "Angus", "Mcphee", "1961-05-17"),
        # No CHI, looks exactly like both twins: two equal candidates, so review, never auto.
        person("S-TWIN-?", "", "Angus", "Mcphee", "1961-05-17"),
        # Valid CHI of twin B but recorded with twin A's details otherwise: deterministic to B (same CHI, same DOB).
        person("S-TWIN-B", TWIN_B, "Angus", "Mcphee", "1961-05-17"),
        # Day and month swapped in the DOB, same CHI: still deterministic.
        person("S-SWAP", SWAP, "Isla", "Baird", "1975-08-03", sex="F"),
        # One digit of the DOB mistyped, same CHI (which carries the true date): deterministic.
        person("S-TYPO", TYPO, "Ewan", "Lennox", "1982-11-01", postcode="NS2 4PQ"),
        # Same CHI and the date it carries, but another forename: a relative's CHI copied; review, not auto.
        person("S-COPIED", COPIED, "Callum", "Sinclair", "1958-02-27", postcode="NS7 1RT"),
    ]
    source = pd.concat([source, pd.DataFrame(planted_source)], ignore_index=True)
    index = pd.concat([index, pd.DataFrame(planted_index)], ignore_index=True)
    return link(source, index).set_index("record_id")


def test_same_valid_chi_and_compatible_dob_links_deterministically(result):
    for rid, chi in (("S-TWIN-A", TWIN_A), ("S-TWIN-B", TWIN_B), ("S-SWAP", SWAP), ("S-TYPO", TYPO)):
        row = result.loc[rid]
        assert (row["method"], row["band"], row["matched_chi"], row["reason"]) == (DETERMINISTIC, AUTO, chi, SAME_CHI)


def test_the_same_chi_with_forenames_that_disagree_goes_to_review_with_its_reason(result):
    row = result.loc["S-COPIED"]
    assert (row["method"], row["band"], row["matched_record_id"]) == (DETERMINISTIC, REVIEW, COPIED)
    assert row["reason"] == SAME_CHI_FORENAMES_DISAGREE and pd.isna(row["matched_chi"])  # nothing linked yet


def test_a_one_keystroke_dob_counts_only_where_the_chi_vouches_for_one_side():
    from crosswalk.matching.decisions import dob_agrees_with_chi

    chi = pd.Series([TYPO, TYPO, TYPO, TYPO])
    left = pd.Series(["1982-11-04", "1982-11-04", "1982-11-14", "1982-11-04"])
    right = pd.Series(["1982-11-01", "1982-11-40", "1982-11-41", "1982-12-05"])
    # one slip, the CHI agrees with the left; a swap; neither side is the CHI's date; two slips
    assert dob_agrees_with_chi(left, right, chi).tolist() == [True, True, False, False]


def test_two_equal_candidates_go_to_review_not_auto(result):
    row = result.loc["S-TWIN-?"]
    assert row["band"] == REVIEW
    assert pd.isna(row["matched_chi"])  # nothing is linked until a reviewer decides
    assert row["matched_record_id"] in (TWIN_A, TWIN_B)


def test_a_source_record_links_to_at_most_one_index_record(result):
    assert result.index.is_unique
    assert set(result["band"]) <= {AUTO, REVIEW, NONE}


def test_the_crowd_links_with_no_false_auto_match(result):
    crowd = result[result.index.str.startswith("MOS")]
    auto = crowd[crowd["band"] == AUTO]
    index_of = dict(zip(pd.DataFrame(client_rows(people(3000, seed=21)[:2000]))["source_id"],
                        [p.chi for p in people(3000, seed=21)[:2000]], strict=True))  # fmt: skip
    wrong = [rid for rid, m in auto["matched_record_id"].items() if index_of[rid] != m]
    assert wrong == []
    assert len(auto) >= 0.98 * len(crowd)
    assert band_counts(result)["deterministic:auto"] >= 3


def test_an_extract_of_people_the_index_does_not_hold_links_nobody_and_does_not_fail():
    # No pair agrees on name and date of birth, so the prior estimate is 0; matching must still run.
    source = pd.DataFrame(client_rows(people(200, seed=8))).rename(columns={"source_id": "record_id"})
    source["chi_number"] = ""
    index = pd.DataFrame(index_rows(people(300, seed=7)))
    index["record_id"] = index["chi_number"]
    out = link(source, index)
    assert len(out) == 200 and (out["band"] != AUTO).all()


@pytest.mark.parametrize("with_families", [False, True])
def test_a_sole_candidate_skips_review_only_where_the_index_holds_no_families(monkeypatch, with_families):
    from crosswalk.matching import link as link_module

    crowd = people(400, seed=12)
    source = pd.DataFrame(client_rows(crowd[:100])).rename(columns={"source_id": "record_id"})
    index = pd.DataFrame(index_rows(crowd))
    index["record_id"] = index["chi_number"]
    if with_families:  # a parent for every fifth person: same surname and postcode, born a generation before
        parents = index.iloc[::5].assign(forename="Euphemia", date_of_birth="1930-01-01", chi_number="")
        parents["record_id"] = "PARENT-" + parents["record_id"]
        index = pd.concat([index, parents], ignore_index=True)
    seen = {}
    decide = link_module.decide

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return decide(*args, **kwargs)

    monkeypatch.setattr(link_module, "decide", spy)
    link(source, index)
    assert seen["sole_candidate_links"] is (not with_families)

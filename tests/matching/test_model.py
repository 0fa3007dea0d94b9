"""The person model's parts: postcode normalisation, names entered the wrong way round, records with no
date of birth, and the optional address and identifier columns."""

from __future__ import annotations

import duckdb
import jellyfish
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crosswalk.demo.synthetic import index_rows, people
from crosswalk.matching.comparisons import one_character_out, words_in_common
from crosswalk.matching.decisions import AUTO
from crosswalk.matching.dedupe import _two_people
from crosswalk.matching.link import link
from crosswalk.matching.normalise import (
    address_tokens,
    normalise_postcode,
    optional_columns,
    postcode_parts,
    squeeze_spaces,
    word_signature,
)
from crosswalk.matching.training import dob_block


def test_uk_postcodes_get_one_space_before_the_inward_code_and_others_lose_their_spaces():
    got = normalise_postcode(pd.Series(["eh11aa", " EH1  1AA", "ns12 3ab", "G2 1AB", "4223", "12 34", "", None]))
    assert got.tolist()[:6] == ["EH1 1AA", "EH1 1AA", "NS12 3AB", "G2 1AB", "4223", "1234"]
    assert got.iloc[6:].isna().all()


# One connection, and each level's SQL made once: Splink's SQL translation costs more than the query.
DUCKDB = duckdb.connect()
ONE_CHARACTER_OUT = one_character_out("postcode").get_comparison_level("duckdb").sql_condition
WORDS_IN_COMMON = {k: words_in_common(k).get_comparison_level("duckdb").sql_condition for k in (1, 2, 3)}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text("AB1 ", max_size=9), st.text("AB1 ", max_size=9)), min_size=1, max_size=50))
def test_one_character_out_is_a_damerau_levenshtein_distance_of_at_most_one(pairs):
    frame = pd.DataFrame(pairs, columns=["postcode_l", "postcode_r"])
    got = DUCKDB.register("pairs", frame).sql(f"select {ONE_CHARACTER_OUT} as hit from pairs").df()["hit"].tolist()
    assert got == [jellyfish.damerau_levenshtein_distance(a, b) <= 1 for a, b in pairs]


def test_the_date_of_birth_block_needs_an_initial_the_postcode_district_or_two_address_words_as_well():
    people = pd.DataFrame(
        [
            ("base", "ANNA", "SMITH", "EH1 1AA", "12 KIRK WYND"),
            ("forename initial", "ALAN", "JONES", "G1 1AA", "3 MILL ROAD"),
            ("surname initial", "ZOE", "SHAW", "G1 1AA", "3 MILL ROAD"),
            ("names crossed", "SIMON", "ALLAN", "G1 1AA", "3 MILL ROAD"),
            ("district", "ZOE", "JONES", "EH1 9ZZ", "3 MILL ROAD"),
            ("address words", "ZOE", "JONES", "G1 1AA", "12 KIRK ROAD"),
            ("only the birthday", "ZOE", "JONES", "G1 1AA", "3 MILL ROAD"),
        ],
        columns=["record_id", "forename", "surname", "postcode", "address"],
    ).assign(date_of_birth="1980-02-03")
    people = pd.concat([people, postcode_parts(people["postcode"])], axis=1)
    people["address_signature"], _ = word_signature(address_tokens(people["address"]))
    con = DUCKDB.register("people", people)
    base = "where l.record_id = 'base' and r.record_id <> 'base'"

    def paired(optional):
        query = f"select r.record_id from people l join people r on {dob_block(optional)} {base}"
        return sorted(con.sql(query).df()["record_id"])

    by_names_and_postcode = ["district", "forename initial", "names crossed", "surname initial"]
    assert paired(frozenset()) == by_names_and_postcode
    assert paired(frozenset({"address"})) == sorted([*by_names_and_postcode, "address words"])


# ROAD and 1 share a bit of the signature, so some lists are crowded and the intersection must still count.
words = st.lists(st.sampled_from(["12", "1", "HIGH", "MILL", "ROAD", "STREET", "KIRK", "WYND"]), max_size=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(words, words), min_size=1, max_size=50), st.integers(1, 3))
@example([(["ROAD", "1", "MILL"], ["1", "ROAD", "KIRK"])], 2)
def test_words_in_common_counts_as_a_plain_intersection_does(pairs, k):
    frame = pd.DataFrame({"l": [" ".join(a) or None for a, _ in pairs], "r": [" ".join(b) or None for _, b in pairs]})
    for side in ("l", "r"):
        frame[f"address_tokens_{side}"] = address_tokens(frame[side].astype("string"))
        frame[f"address_signature_{side}"], frame[f"address_crowded_{side}"] = word_signature(
            frame[f"address_tokens_{side}"]
        )
    got = DUCKDB.register("pairs", frame).sql(f"select coalesce({WORDS_IN_COMMON[k]}, false) as hit from pairs").df()
    assert got["hit"].tolist() == [len(set(a) & set(b)) >= k for a, b in pairs]


def test_squeeze_spaces_leaves_one_space_between_words_whatever_ran_there():
    got = squeeze_spaces(pd.Series([" 12  HIGH\tSTREET ", "3\xa0\xa0MILL\nROAD", "KIRK WYND", None], dtype="string"))
    assert got.tolist()[:3] == ["12 HIGH STREET", "3 MILL ROAD", "KIRK WYND"]
    assert pd.isna(got.iloc[3])


def test_optional_columns_are_those_every_side_carries():
    a = pd.DataFrame(columns=["record_id", "address", "local_id"])
    b = pd.DataFrame(columns=["record_id", "address"])
    assert optional_columns(a, b) == frozenset({"address"})
    assert optional_columns(a) == frozenset({"address", "local_id"})


def _frames(planted_source: list[dict], planted_index: list[dict], *, extra: dict):
    crowd = people(1500, seed=41)
    index = pd.DataFrame(index_rows(crowd)).drop(columns=["gp_practice_code"])
    index["record_id"] = [f"I{i:05d}" for i in range(len(index))]
    source = index.iloc[:800].copy()
    source["record_id"] = [f"S{i:05d}" for i in range(len(source))]
    source["chi_number"] = ""
    for frame in (source, index):
        for col, make in extra.items():
            frame[col] = [make(i) for i in range(len(frame))]
    source = pd.concat([source, pd.DataFrame(planted_source)], ignore_index=True)
    index = pd.concat([index, pd.DataFrame(planted_index)], ignore_index=True)
    return source, index


def rec(rid, forename, surname, dob, postcode, **extra) -> dict:
    return {"record_id": rid, "chi_number": "", "forename": forename, "surname": surname,
            "date_of_birth": dob, "sex": "F", "postcode": postcode, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def linked():
    # The crowd's addresses and identifiers: the same person's agree on both sides.
    extra = {
        "address": lambda i: f"{i % 90 + 1} {['HIGH', 'MILL', 'KIRK', 'SHORE'][i % 4]} STREET TOWN{i % 37}",
        "local_id": lambda i: f"L{i:06d}",
    }
    source, index = _frames(
        [
            # Forename and surname entered the wrong way round, and no date of birth, address or identifier
            # on one side: the names and the postcode are all there is.
            rec("S-SWAPPED", "Baird", "Isla", "", "NS9 9ZZ", address="", local_id=""),
        ],
        [rec("I-SWAPPED", "Isla", "Baird", "1975-03-08", "NS9 9ZZ", address="4 KIRK STREET TOWN3", local_id="Q1")],
        extra=extra,
    )
    return link(source, index).set_index("record_id")


def test_names_the_wrong_way_round_with_no_date_of_birth_still_link(linked):
    row = linked.loc["S-SWAPPED"]
    assert (row["band"], row["matched_record_id"]) == (AUTO, "I-SWAPPED")


def test_the_crowd_links_to_itself_with_address_and_identifier(linked):
    crowd = linked[linked.index.str.match(r"S\d")]
    auto = crowd[crowd["band"] == AUTO]
    assert (auto["matched_record_id"].str[1:] == auto.index.str[1:]).all()
    assert len(auto) >= 0.99 * len(crowd)


def test_the_same_identifier_lifts_the_twin_rule():
    scored = pd.DataFrame(
        {
            "gamma_forename": [0, 0, 0],
            "gamma_date_of_birth": [5, 5, 5],
            "gamma_sex": [1, 1, 1],
            "forename_l": ["MHAIRI", "MHAIRI", "MHAIRI"],
            "surname_l": ["DUNBAR", "DUNBAR", "DUNBAR"],
            "forename_r": ["EILIDH", "EILIDH", "EILIDH"],
            "surname_r": ["DUNBAR", "DUNBAR", "DUNBAR"],
            "local_id_l": ["L1", "L1", None],
            "local_id_r": ["L2", "L1", "L1"],
        }
    )
    # different identifiers: twins; the same identifier: one person; one side without: twins
    assert _two_people(scored).tolist() == [True, False, True]

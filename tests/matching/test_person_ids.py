"""Person ids that only new evidence changes: unchanged clusters keep their ids, a merge keeps the larger
person's id and retires the other, a split leaves the id with the larger part, and each change is returned."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crosswalk.matching.person_ids import MERGE, SPLIT, IdChange, stable_ids


def _ids():
    counter = itertools.count(100)
    return lambda members: f"P{next(counter)}"


PREVIOUS = {"r1": "P1", "r2": "P1", "r3": "P2", "r4": "P3", "r5": "P3", "r6": "P3"}


def test_the_same_clusters_under_other_labels_keep_every_id():
    relabelled = {"r1": "z", "r2": "z", "r3": "a", "r4": "m", "r5": "m", "r6": "m"}
    assigned, changes = stable_ids(PREVIOUS, relabelled, _ids())
    assert assigned == PREVIOUS and changes == []


def test_new_records_join_a_person_or_get_a_new_id():
    clusters = {**{r: "c" + p for r, p in PREVIOUS.items()}, "r7": "cP2", "r8": "fresh"}
    assigned, changes = stable_ids(PREVIOUS, clusters, _ids())
    assert assigned["r7"] == "P2" and assigned["r8"] == "P100" and changes == []
    assert {r: assigned[r] for r in PREVIOUS} == PREVIOUS


def test_a_bridging_record_merges_two_people_and_the_larger_keeps_its_id():
    clusters = {"r1": "x", "r2": "x", "r3": "y", "r4": "x", "r5": "x", "r6": "x", "r9": "x"}
    assigned, changes = stable_ids(PREVIOUS, clusters, _ids())
    assert {assigned[r] for r in ("r1", "r2", "r4", "r5", "r6", "r9")} == {"P3"}
    assert changes == [IdChange(MERGE, "P1", "P3", 2)]


def test_a_split_leaves_the_id_with_the_larger_part():
    clusters = {"r1": "a", "r2": "a", "r3": "b", "r4": "c", "r5": "c", "r6": "d"}
    assigned, changes = stable_ids(PREVIOUS, clusters, _ids())
    assert (assigned["r4"], assigned["r5"], assigned["r6"]) == ("P3", "P3", "P100")
    assert changes == [IdChange(SPLIT, "P3", "P100", 1)]


@given(
    st.dictionaries(st.sampled_from([f"r{i}" for i in range(30)]), st.sampled_from(["a", "b", "c", "d", "e"])),
    st.permutations(["a", "b", "c", "d", "e"]),
)
def test_with_no_new_evidence_no_id_changes_whatever_the_labels(clusters, relabel):
    first, _ = stable_ids({}, clusters, _ids())
    rename = dict(zip(["a", "b", "c", "d", "e"], relabel, strict=True))
    again, changes = stable_ids(first, {r: rename[c] for r, c in clusters.items()}, _ids())
    assert again == first and changes == []


@pytest.mark.parametrize("order", [1, -1])
def test_the_result_does_not_depend_on_the_input_order(order):
    clusters = {"r1": "x", "r2": "y", "r3": "y", "r4": "x", "r5": "z", "r6": "z"}
    items = list(clusters.items())[::order]
    assert stable_ids(PREVIOUS, dict(items), _ids()) == stable_ids(PREVIOUS, clusters, _ids())


def test_a_new_persons_id_comes_from_its_records_so_a_rerun_gives_the_same():
    clusters = {"r1": "a", "r2": "a", "r3": "b"}
    first, _ = stable_ids({}, clusters)
    assert first == stable_ids({}, {"r3": "x", "r2": "y", "r1": "y"})[0]
    assert first["r1"] == first["r2"] != first["r3"] and first["r1"].startswith("P") and len(first["r1"]) == 17

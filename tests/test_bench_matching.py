"""The matching benchmark's own arithmetic: the blocking recall ceiling and the choice of plain Splink's
best threshold (a wrong ceiling or a wrong best would misstate both routes)."""

from __future__ import annotations

import sys

import pandas as pd

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import matching


def test_the_ceiling_counts_true_pairs_any_rule_reaches_either_way_round():
    from splink import block_on

    left = pd.DataFrame(
        {"unique_id": ["a1", "a2", "a3"], "given_name": ["ann", "bob", "cat"], "surname": ["x", "y", "z"]}
    )
    right = pd.DataFrame(
        {"unique_id": ["b1", "b2", "b3"], "given_name": ["ann", "rob", "z"], "surname": ["q", "y", "cat"]}
    )
    pairs = pd.DataFrame({"id_l": ["a1", "a2", "a3"], "id_r": ["b1", "b2", "b3"]})
    assert matching._ceiling([block_on("given_name")], left, right, pairs) == 1 / 3
    assert matching._ceiling([block_on("given_name"), block_on("surname")], left, right, pairs) == 2 / 3
    # An asymmetric rule counts in either orientation: b3's surname is a3's forename (only the swapped way).
    assert matching._ceiling(["l.surname = r.given_name"], left, right, pairs) == 1 / 3


def test_the_best_threshold_is_the_one_with_the_best_f1():
    pair_scores = {0.5: (0.9, 1.0, 0.947), 0.9: (1.0, 0.95, 0.974), 0.99: (1.0, 0.5, 0.667)}
    assert matching._best(pair_scores) == (0.9, (1.0, 0.95, 0.974))
    cluster_scores = {0.5: ((0.9, 1.0, 0.95), (0, 0, 0)), 0.95: ((1.0, 0.9, 0.96), (1, 1, 1))}
    assert matching._best(cluster_scores)[0] == 0.95


def test_the_synthetic_population_gives_everyone_a_valid_chi_of_their_own():
    """As the CHI register allocates them; drawing serials at random gave about 2,000 of 200,000 people another's
    CHI, and at Scotland's size hundreds of thousands."""
    from people import population

    from crosswalk.identifiers import chi_status

    pop = population(200_000, seed=9)
    assert pop["chi_number"].is_unique
    status = chi_status(pop["chi_number"], dob=pop["date_of_birth"], sex=pop["sex"])
    assert set(status) == {"valid"}

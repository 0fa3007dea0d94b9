"""Disclosure control: suppression 1-7, rounding to 5, zeros kept, and secondary suppression that an
attacker cannot undo from the published cells and totals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from crosswalk.publish.disclosure import ALL, SUPPRESSED, protect, publish_table, round_to_base, with_totals


def _table(rows: list[list[int]]) -> pd.DataFrame:
    grid = pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))], columns=[f"c{j}" for j in range(len(rows[0]))])
    return with_totals(grid)


def _long(rows: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"month": "2026-10", "age_band": f"r{i}", "type": f"c{j}", "people": v}
         for i, row in enumerate(rows) for j, v in enumerate(row)]
    )  # fmt: skip


def recover(published: pd.DataFrame, truth: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """The attack: every suppressed cell's possible values, from the table's equations, for an attacker
    who knows every *shown* cell's true value (stronger than reality: shown cells are rounded).

    Written apart from the code under test: interval propagation over the rows and columns (each
    sums to its total; a suppressed cell is at least 1), then the null space of the equations (by
    SVD): a cell with no freedom in it is pinned whatever the bounds.
    """
    cells = [(r, c) for r in truth.index for c in truth.columns]
    hidden = [p for p in cells if published.loc[p] == SUPPRESSED]
    # Zeros are shown, so a suppressed cell is at least 1; the attacker cannot tell primary from
    # secondary suppressions, so no upper bound but the totals.
    lo = {p: 1 for p in hidden}
    hi = {p: 10**9 for p in hidden}
    known = {p: int(truth.loc[p]) for p in cells if p not in hidden}
    lines = [[(r, c) for c in truth.columns] for r in truth.index] + [
        [(r, c) for r in truth.index] for c in truth.columns
    ]
    for _ in range(50):  # propagate to a fixpoint: member + ... = total
        for line in lines:
            *members, total = line
            for target in [*members, total]:
                if target not in hidden:
                    continue
                others = [p for p in members if p != target]
                if target == total:
                    lo_sum = sum(known.get(p, lo.get(p, 0)) for p in members)
                    hi_sum = sum(known.get(p, hi.get(p, 0)) for p in members)
                    lo[target], hi[target] = max(lo[target], lo_sum), min(hi[target], hi_sum)
                else:
                    t_lo, t_hi = known.get(total, lo.get(total)), known.get(total, hi.get(total))
                    o_lo = sum(known.get(p, lo.get(p, 0)) for p in others)
                    o_hi = sum(known.get(p, hi.get(p, 0)) for p in others)
                    lo[target], hi[target] = max(lo[target], t_lo - o_hi), min(hi[target], t_hi - o_lo)
    # Null space: the unknowns' equations; a coordinate that is zero in every null vector is pinned.
    idx = {p: i for i, p in enumerate(hidden)}
    eqs = []
    for line in lines:
        *members, total = line
        v = np.zeros(len(hidden))
        for p in members:
            if p in idx:
                v[idx[p]] += 1
        if total in idx:
            v[idx[total]] -= 1
        eqs.append(v)
    if hidden:
        _, s, vt = np.linalg.svd(np.array(eqs))
        null = vt[int((s > 1e-9).sum()) :]
        for p, i in idx.items():
            if null.shape[0] == 0 or np.allclose(null[:, i], 0):
                lo[p] = hi[p] = int(truth.loc[p])
    return {p: (lo[p], hi[p]) for p in hidden}


def _shown(table: pd.DataFrame, mask: pd.DataFrame) -> pd.DataFrame:
    return table.astype(object).mask(mask, SUPPRESSED)


def test_rounding_to_five():
    # 8 and 9 become 10; halves round up; 0 stays 0.
    assert [round_to_base(v) for v in (0, 8, 9, 10, 12, 13, 17, 18, 102)] == [0, 10, 10, 10, 10, 15, 15, 20, 100]


def test_one_small_cell_in_a_row_takes_the_smallest_other_cell_with_it():
    # r0: 3 is primary; its row total would give it back, so the smallest other count in r0 (10,
    # not 40) goes too; then column c0 and c1 each hold one suppression and take r1's cells with them.
    table = _table([[3, 10, 40], [20, 25, 30]])
    mask = protect(table)
    assert mask.loc["r0", "c0"] and mask.loc["r0", "c1"] and not mask.loc["r0", "c2"]
    assert mask.loc["r1", "c0"] and mask.loc["r1", "c1"]
    assert mask.loc[ALL].sum() == 0 and mask[ALL].sum() == 0  # totals stay shown
    assert recover(_shown(table, mask), table) and all(
        lo < hi for lo, hi in recover(_shown(table, mask), table).values()
    )


def test_zeros_are_kept_and_never_chosen_to_hide_a_cell():
    # r0 = [5, 0, 0]: the only non-zero partner in the row is its total, which is hidden too.
    table = _table([[5, 0, 0], [30, 40, 50]])
    mask = protect(table)
    assert mask.loc["r0", "c0"] and mask.loc["r0", ALL]
    assert not mask.loc["r0", "c1"] and not mask.loc["r0", "c2"]


def test_without_secondary_suppression_the_attack_recovers_a_cell():
    # The control: this is what the attack test below would catch if protection regressed.
    table = _table([[3, 10, 40], [20, 25, 30]])
    leaked = recover(_shown(table, protect(table, secondary=False)), table)
    assert leaked[("r0", "c0")] == (3, 3)


def test_a_bridge_between_two_groups_of_suppressions_is_found():
    # Two 2x2 rectangles of small counts, joined only by one cell in a shared row: every line holds two
    # suppressions, yet the joining cell is fixed by the equations. The algebra check catches it.
    rows = [
        [2, 3, 50, 50, 50],
        [4, 5, 9, 50, 50],
        [50, 50, 2, 3, 50],
        [50, 50, 4, 5, 50],
    ]
    table = _table(rows)
    mask = protect(table)
    assert all(lo < hi for lo, hi in recover(_shown(table, mask), table).values())


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda r: st.integers(2, 5).flatmap(
            lambda c: st.lists(
                st.lists(st.one_of(st.integers(0, 9), st.integers(0, 60)), min_size=c, max_size=c),
                min_size=r,
                max_size=r,
            )
        )
    )
)
def test_no_published_count_is_1_to_7_every_count_is_a_multiple_of_5_and_nothing_is_recoverable(rows):
    published, report = publish_table(_long(rows), by=["month"], rows="age_band", cols="type")
    values = published["people"]
    numbers = values[values != SUPPRESSED].astype(int)
    assert not numbers.between(1, 7).any()
    assert (numbers % 5 == 0).all()
    table = _table(rows)
    shown = published.pivot(index="age_band", columns="type", values="people").loc[table.index, table.columns]
    assert all(lo < hi for lo, hi in recover(shown, table).values())
    assert report.primary == int(((table >= 1) & (table <= 7)).to_numpy().sum())

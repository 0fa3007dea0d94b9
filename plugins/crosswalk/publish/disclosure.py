"""Statistical disclosure control for open-data count tables. Pure: pandas and numpy only.

The rules (shared/DOMAIN.md): a count of 1 to 7 is suppressed (published as ``*``); every other
count is rounded to the nearest 5; a true 0 is published as 0. Totals are published too (rows and
columns labelled ``All``), so suppression alone is not enough: if a row held one suppressed cell,
its total less the others would give it back. Secondary suppression therefore hides more cells
until no suppressed cell can be worked out from the published cells and totals:

1. every row and column (its total included) holds no suppressed cell or at least two;
2. no suppressed cell is fixed by the table's equations (each line sums to its total), even when an
   attacker knows every other cell exactly: checked by linear algebra, which also catches the rare
   pattern that rule 1 lets through (a cell joining two otherwise separate groups of suppressions);
3. nor pinned by bounds: a hidden cell is at least 1 (zeros are shown), so two hidden cells in a
   line that leaves 2 to share out are both 1. Checked by interval propagation.

The extra cell chosen is the smallest non-zero count still shown in that line: the least
information lost. Rounding then adds protection on top; the check does not rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ALL = "All"
SUPPRESSED = "*"
LOW, HIGH = 1, 7  # the suppressed range, inclusive
BASE = 5  # rounding base


@dataclass
class Report:
    """What disclosure control did: counts only (no cell values)."""

    tables: int = 0
    cells: int = 0
    primary: int = 0
    secondary: int = 0
    zeros: int = 0
    by_table: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "tables": self.tables,
            "cells": self.cells,
            "suppressed_primary": self.primary,
            "suppressed_secondary": self.secondary,
            "zeros": self.zeros,
        }


def round_to_base(value: int) -> int:
    """Nearest multiple of 5, halves up (8 -> 10, 12 -> 10, 13 -> 15)."""
    return int(BASE * np.floor(value / BASE + 0.5))


def with_totals(grid: pd.DataFrame) -> pd.DataFrame:
    """A rows x columns table of counts with an ``All`` column (row totals) and ``All`` row (column totals)."""
    out = grid.copy()
    out[ALL] = out.sum(axis=1)
    out.loc[ALL] = out.sum(axis=0)
    return out.astype(int)


def protect(table: pd.DataFrame, *, secondary: bool = True) -> pd.DataFrame:
    """A boolean mask of the cells of ``table`` (with totals, see :func:`with_totals`) to suppress."""
    values = table.to_numpy(dtype=np.int64)
    mask = (values >= LOW) & (values <= HIGH)
    if not secondary:
        return pd.DataFrame(mask, index=table.index, columns=table.columns)
    everywhere = [(r, c) for r in range(values.shape[0]) for c in range(values.shape[1])]
    while True:
        if _lines_rule(values, mask):
            continue
        fixed = determined_cells(mask) or bounded_cells(values, mask)
        if not fixed:
            return pd.DataFrame(mask, index=table.index, columns=table.columns)
        r, c = fixed[0]
        # Hide one more cell alongside: the smallest non-zero count shown in its row, else its column,
        # else anywhere in the table.
        row, col = [(r, j) for j in range(values.shape[1])], [(i, c) for i in range(values.shape[0])]
        hidden = _hide_smallest(values, mask, row) or _hide_smallest(values, mask, col)
        if not hidden and not _hide_smallest(values, mask, everywhere):
            raise AssertionError("a suppressed cell stays recoverable with every count hidden")


def _lines(shape: tuple[int, int]) -> list[list[tuple[int, int]]]:
    rows, cols = shape
    return [[(r, c) for c in range(cols)] for r in range(rows)] + [[(r, c) for r in range(rows)] for c in range(cols)]


def _lines_rule(values: np.ndarray, mask: np.ndarray) -> bool:
    changed = False
    for line in _lines(values.shape):
        if sum(mask[p] for p in line) == 1:
            changed |= _hide_smallest(values, mask, line)
    return changed


def _hide_smallest(values: np.ndarray, mask: np.ndarray, line: list[tuple[int, int]]) -> bool:
    shown = [p for p in line if not mask[p] and values[p] > 0]
    if not shown:
        return False
    mask[min(shown, key=lambda p: (values[p], p))] = True
    return True


def determined_cells(mask: np.ndarray) -> list[tuple[int, int]]:
    """Suppressed cells whose value follows from the table's equations given every other cell.

    Unknowns are the suppressed cells; each row and column gives one equation (its cells sum to its
    total, the last entry). A cell is fixed exactly when its unit vector lies in the equations' row
    space: appending it does not raise the rank.
    """
    cells = [tuple(p) for p in np.argwhere(mask)]
    if not cells:
        return []
    index = {p: i for i, p in enumerate(cells)}
    equations = []
    for line in _lines(mask.shape):
        total, members = line[-1], line[:-1]
        coeffs = np.zeros(len(cells))
        for p in members:
            if p in index:
                coeffs[index[p]] += 1
        if total in index:
            coeffs[index[total]] -= 1
        if coeffs.any():
            equations.append(coeffs)
    if not equations:
        return []
    a = np.array(equations)
    rank = np.linalg.matrix_rank(a)
    fixed = []
    for p, i in index.items():
        unit = np.zeros(len(cells))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            fixed.append(p)
    return fixed


def bounded_cells(values: np.ndarray, mask: np.ndarray, rounds: int = 50) -> list[tuple[int, int]]:
    """Suppressed cells pinned to one value by bounds: each is at least 1 (a 0 is shown), and every row
    and column sums to its total. For example, two hidden cells whose line leaves 2 to share out are
    both 1. Interval propagation to a fixpoint, by an attacker who knows every shown cell exactly."""
    hidden = [tuple(p) for p in np.argwhere(mask)]
    if not hidden:
        return []
    big = int(values.sum()) * 4 + 1
    lo = {p: 1 for p in hidden}
    hi = {p: big for p in hidden}

    def bounds(p):
        return (lo[p], hi[p]) if p in lo else (int(values[p]), int(values[p]))

    for _ in range(rounds):
        moved = False
        for line in _lines(values.shape):
            *members, total = line
            for target in line:
                if target not in lo:
                    continue
                if target == total:
                    new_lo = sum(bounds(p)[0] for p in members)
                    new_hi = sum(bounds(p)[1] for p in members)
                else:
                    others = [p for p in members if p != target]
                    new_lo = bounds(total)[0] - sum(bounds(p)[1] for p in others)
                    new_hi = bounds(total)[1] - sum(bounds(p)[0] for p in others)
                if new_lo > lo[target] or new_hi < hi[target]:
                    lo[target], hi[target] = max(lo[target], new_lo), min(hi[target], new_hi)
                    moved = True
        if not moved:
            break
    return [p for p in hidden if lo[p] >= hi[p]]


def publish_table(
    counts: pd.DataFrame, by: list[str], rows: str, cols: str, value: str = "people"
) -> tuple[pd.DataFrame, Report]:
    """Apply disclosure control to long-format ``counts`` (one row per cell, zeros included).

    For each combination of ``by`` (e.g. month and area) the cells form a ``rows`` x ``cols`` table;
    totals are added, protected, rounded, and returned in long format with ``value`` as text: a
    multiple of 5, ``0``, or ``*``.
    """
    report = Report()
    out = []
    for keys, part in counts.groupby(by, sort=True):
        grid = part.pivot_table(index=rows, columns=cols, values=value, aggfunc="sum", fill_value=0, sort=True)
        table = with_totals(grid)
        mask = protect(table)
        primary = int(((table >= LOW) & (table <= HIGH)).to_numpy().sum())
        n_mask = int(mask.to_numpy().sum())
        report.tables += 1
        report.cells += table.size
        report.primary += primary
        report.secondary += n_mask - primary
        report.zeros += int((table == 0).to_numpy().sum())
        keys = keys if isinstance(keys, tuple) else (keys,)
        report.by_table.append({**dict(zip(by, keys, strict=True)), "primary": primary, "secondary": n_mask - primary})
        shown = table.map(lambda v: str(round_to_base(int(v))))
        shown = shown.mask(mask, SUPPRESSED)
        long = shown.stack().rename(value).reset_index()
        long.columns = [rows, cols, value]
        for k, v in zip(by, keys, strict=True):
            long.insert(by.index(k), k, v)
        out.append(long)
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[*by, rows, cols, value])
    return frame, report

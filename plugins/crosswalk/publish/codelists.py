"""What an open-data table may contain: values from declared code lists, and nothing a spreadsheet would run.

Nothing a partner typed reaches open data except through a declared code list. Every column of a
published aggregate is either a code list (the schema field's ``enum``) or text of a declared shape (its
``pattern``: months, area codes, rounded counts). A partner's value outside a code list is counted
under :data:`OTHER`, which the code list must then declare, or the run stops before anything is
published. No declared value may start with a character a spreadsheet reads as a formula (OWASP's CSV
injection guidance), so no cell we write can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosswalk.errors import FatalError
from crosswalk.schemas.tableschema import TableSchema

if TYPE_CHECKING:  # `crosswalk check` and DAG parsing read the code-list rule; neither may import pandas
    import pandas as pd

OTHER = "Other"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutsideCodeList(FatalError):
    """A partner's value is outside a code list that declares no ``Other``: nothing is published."""


def open_data_field_problems(schema: TableSchema) -> list[str]:
    """Why ``schema`` cannot describe open data (empty if it can): a field without a code list or a declared
    shape, or a declared value that a spreadsheet would read as a formula."""
    problems = []
    for f in schema.fields:
        enum, pattern = f.constraints.get("enum"), f.constraints.get("pattern")
        if not enum and not pattern:
            problems.append(
                f"{schema.id}.{f.name}: an open-data field needs a code list (enum) or a pattern, so that no "
                "free text can be published"
            )
        bad = [str(v) for v in enum or () if str(v).startswith(FORMULA_START)]
        if bad:
            problems.append(f"{schema.id}.{f.name}: {len(bad)} code(s) start with a formula character (= + - @)")
    return problems


def to_code_list(values: pd.Series, codes: list[str], field: str) -> tuple[pd.Series, int]:
    """``values`` with everything outside ``codes`` replaced by :data:`OTHER`; and how many were replaced.

    Raises :class:`OutsideCodeList` if any value is outside and the code list declares no ``Other``.
    """
    outside = values.notna() & ~values.isin(codes)
    n = int(outside.sum())
    if n and OTHER not in codes:
        raise OutsideCodeList(
            f"{n} value(s) of {field} are outside its code list, which declares no {OTHER!r}; nothing was published"
        )
    return values.mask(outside, OTHER), n


def refuse_formula_cells(table: pd.DataFrame) -> None:
    """Stop before writing if any cell would start with a formula character (a backstop: code lists and
    patterns already exclude them)."""
    for name in table.columns:
        text = table[name].dropna().astype(str)
        n = int(text.str.startswith(FORMULA_START).sum())
        if n:
            raise FatalError(f"{n} cell(s) of {name} would start with a formula character; nothing was published")

"""Validate a CSV extract against a :class:`TableSchema`, streaming, counting every failure.

The report lists each failing column with the number of rows that fail and why, so a partner
can fix everything in one go. It never holds or prints a cell's value.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pandas as pd

from crosswalk.schemas.tableschema import FieldSpec, TableSchema

CHUNK_ROWS = 100_000
# ASCII digits only: Python's \d also takes other scripts' digits (Arabic-Indic or fullwidth ones), which
# SQLite would store and PostgreSQL refuses, and which a range check would read wrongly.
_INT = r"^[+-]?[0-9]+$"
_NUM = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NON_ASCII = r"[^\x00-\x7f]"
_TRUE = {"true", "True", "TRUE", "1", "yes", "Yes"}
_FALSE = {"false", "False", "FALSE", "0", "no", "No"}


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    rows: int
    detail: str = ""

    def __str__(self) -> str:
        what = f"{self.field}: " if self.field else ""
        count = f"{self.rows} row(s) " if self.rows else ""
        return f"{what}{count}{self.detail or self.code}"


@dataclass
class ValidationReport:
    schema_id: str
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for logs and audit: every problem, counts only."""
        if self.ok:
            return f"schema {self.schema_id}: {self.rows} rows valid"
        return f"schema {self.schema_id}: {len(self.problems)} problem(s): " + "; ".join(map(str, self.problems))


def read_header(stream: IO[bytes]) -> list[str]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        return next(csv.reader(text), [])
    finally:
        text.detach()


def _check_header(schema: TableSchema, header: list[str]) -> list[Problem]:
    """Compare the header with the schema's column names. A header cell that is not one of them is never
    repeated (it may be the first record's value, if the header row is missing): by position only."""
    expected = schema.field_names
    known = set(expected)
    found = [n for n in header if n in known]
    if not found:
        return [
            Problem(
                "", "no-header", 0,
                f"no header row: none of the {len(expected)} expected column names is in the first row "
                f"({len(header)} cells)",
            )
        ]  # fmt: skip
    problems = []
    dupes = sorted(n for n, c in Counter(found).items() if c > 1)
    if dupes:
        problems.append(Problem("", "duplicate-column", 0, f"duplicate column(s) {_names(dupes)}"))
    missing = [n for n in expected if n not in header]
    if missing:
        problems.append(
            Problem("", "missing-column", 0, f"{len(missing)} of {len(expected)} column(s) missing: {_names(missing)}")
        )
    # Unknown columns are errors, not passengers: the schema is an allow-list.
    extra = [i for i, n in enumerate(header, start=1) if n not in known]
    if extra:
        problems.append(
            Problem("", "unknown-column", 0, f"{len(extra)} unknown column(s), at position(s) {_positions(extra)}")
        )
    return problems


class _Lines:
    """The lines of a text stream (newline="" keeps their ends), remembering the last one handed out."""

    def __init__(self, text: IO[str]) -> None:
        self._text, self.last = text, ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        self.last = next(self._text)
        return self.last


def _check_shape(stream: IO[bytes], width: int) -> list[Problem]:
    """Every record has the header's number of fields, no line is blank, and every record ends the same
    way (LF or CRLF). The loaders differ on each (pandas pads a short row, skips a blank line and takes
    any mix of line ends; PostgreSQL's COPY refuses all three), so neither is handed them."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    short = long = blank = 0
    ends: set[str] = set()
    try:
        lines = _Lines(text)
        records = csv.reader(lines)
        for i, record in enumerate(records):
            end = lines.last[len(lines.last.rstrip("\r\n")) :]  # the line end of the record's last line
            if end:
                ends.add(end)
            n = len(record)
            if i == 0 or n == width:  # the header was checked already
                continue
            if n == 0:
                blank += 1
            elif n < width:
                short += 1
            else:
                long += 1
    finally:
        text.detach()
    problems = []
    if short:
        problems.append(Problem("", "short-row", short, f"with fewer than the header's {width} fields"))
    if long:
        problems.append(Problem("", "long-row", long, f"with more than the header's {width} fields"))
    if blank:
        problems.append(Problem("", "blank-line", blank, "blank: remove empty lines, including at the end"))
    if len(ends) > 1:
        problems.append(Problem("", "mixed-line-ends", 0, "lines end in more than one way (LF and CRLF): use one"))
    return problems


def _names(names: list[str], limit: int = 8) -> str:
    """Schema column names (ours, safe to show), the first ``limit`` of them."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _positions(positions: list[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, positions[:limit]))
    return shown + (f" and {len(positions) - limit} more" if len(positions) > limit else "")


def _field_failures(spec: FieldSpec, col: pd.Series) -> Iterator[tuple[str, str, pd.Series]]:
    """Yield (code, detail, mask of failing rows) for one column of one chunk."""
    present = col != ""
    c = spec.constraints
    if c.get("required"):
        yield "required", "empty but required", ~present
    vals = col[present]
    # A NUL byte: PostgreSQL cannot store it in text, so no loader may be handed one.
    yield "nul", "contains a NUL character", vals.str.contains("\x00", regex=False).reindex(col.index, fill_value=False)
    if spec.type == "integer":
        bad = ~vals.str.fullmatch(_INT)
        yield "type", "not an integer", bad.reindex(col.index, fill_value=False)
    elif spec.type == "number":
        bad = ~vals.str.fullmatch(_NUM)
        yield "type", "not a number", bad.reindex(col.index, fill_value=False)
    elif spec.type == "boolean":
        bad = ~vals.isin(_TRUE | _FALSE)
        yield "type", "not a boolean", bad.reindex(col.index, fill_value=False)
    elif spec.type == "date":
        parsed = pd.to_datetime(vals, format=spec.date_format, errors="coerce")
        bad = parsed.isna() | vals.str.contains(_NON_ASCII)
        yield "type", f"not a date ({spec.date_format})", bad.reindex(col.index, fill_value=False)
    if "pattern" in c:
        bad = ~vals.str.fullmatch(c["pattern"])
        yield "pattern", "does not match the pattern", bad.reindex(col.index, fill_value=False)
    if "enum" in c:
        bad = ~vals.isin([str(v) for v in c["enum"]])
        yield "enum", f"not one of {c['enum']}", bad.reindex(col.index, fill_value=False)
    if "maxLength" in c:
        yield (
            "maxLength",
            f"longer than {c['maxLength']}",
            (vals.str.len() > c["maxLength"]).reindex(col.index, fill_value=False),
        )
    if "minLength" in c:
        yield (
            "minLength",
            f"shorter than {c['minLength']}",
            (vals.str.len() < c["minLength"]).reindex(col.index, fill_value=False),
        )
    if "minimum" in c or "maximum" in c:
        nums = pd.to_numeric(vals, errors="coerce")
        if "minimum" in c:
            yield (
                "minimum",
                f"below {c['minimum']}",
                (nums < c["minimum"]).reindex(col.index, fill_value=False),
            )
        if "maximum" in c:
            yield (
                "maximum",
                f"above {c['maximum']}",
                (nums > c["maximum"]).reindex(col.index, fill_value=False),
            )


def iter_chunks(stream: IO[bytes], schema: TableSchema, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read the CSV as text columns in chunks; empty cells are empty strings, never NaN."""
    reader = pd.read_csv(
        stream,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        encoding="utf-8-sig",
        chunksize=chunk_rows,
    )
    with reader:
        yield from reader


def validate_csv(stream: IO[bytes], schema: TableSchema, chunk_rows: int = CHUNK_ROWS) -> ValidationReport:
    """Validate a whole CSV stream; the stream must be seekable to read the header first."""
    report = ValidationReport(schema.id)
    start = stream.tell()
    try:
        header = read_header(stream)
    except (csv.Error, UnicodeDecodeError) as exc:  # the message can quote the bytes: keep only its kind
        report.problems.append(Problem("", "unreadable", 0, f"not readable as UTF-8 CSV ({type(exc).__name__})"))
        return report
    finally:
        stream.seek(start)
    if not header:
        report.problems.append(Problem("", "empty-file", 0, "the file is empty (no header row)"))
        return report
    report.problems.extend(_check_header(schema, header))
    if report.problems:
        return report  # column problems make row checks meaningless
    try:
        report.problems.extend(_check_shape(stream, len(header)))
    except (csv.Error, UnicodeDecodeError) as exc:  # the message can quote the bytes: keep only its kind
        report.problems.append(Problem("", "unreadable", 0, f"not readable as UTF-8 CSV ({type(exc).__name__})"))
    finally:
        stream.seek(start)
    if report.problems:
        return report  # a row of the wrong width would be read into the wrong columns

    counts: Counter[tuple[str, str, str]] = Counter()
    pk_digests: list[np.ndarray] = []
    unique_digests: dict[str, list[np.ndarray]] = {f.name: [] for f in schema.fields if f.constraints.get("unique")}
    try:
        # Closed here, even when a chunk fails to parse: a reader left to the garbage collector would try
        # to close a stream its caller has closed already.
        with contextlib.closing(iter_chunks(stream, schema, chunk_rows)) as chunks:
            for chunk in chunks:
                report.rows += len(chunk)
                for spec in schema.fields:
                    for code, detail, mask in _field_failures(spec, chunk[spec.name]):
                        n = int(mask.sum())
                        if n:
                            counts[(spec.name, code, detail)] += n
                if schema.primary_key:
                    pk_digests.append(_digests(chunk[list(schema.primary_key)]))
                for name, seen in unique_digests.items():
                    col = chunk[[name]]
                    seen.append(_digests(col[col[name] != ""]))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        # The parser's message can quote the offending line; keep only its kind.
        report.problems.append(Problem("", "unreadable", 0, f"not readable as UTF-8 CSV ({type(exc).__name__})"))
        return report

    if report.rows == 0:
        report.problems.append(Problem("", "no-rows", 0, "the file has a header but no rows"))
    for (name, code, detail), n in counts.items():
        report.problems.append(Problem(name, code, n, detail))
    pk_dupes = _repeats(pk_digests)
    if pk_dupes:
        report.problems.append(Problem(",".join(schema.primary_key), "primary-key", pk_dupes, "duplicate primary key"))
    for name, digests in unique_digests.items():
        if n := _repeats(digests):
            report.problems.append(Problem(name, "unique", n, "duplicate value in a unique column"))
    return report


def _digests(frame: pd.DataFrame) -> np.ndarray:
    """A 128-bit digest per row (two keyed 64-bit hashes), vectorised: duplicate checks hold digests,
    never the identifiers in the clear."""
    first = pd.util.hash_pandas_object(frame, index=False, hash_key="crosswalk-pk-one").to_numpy()
    second = pd.util.hash_pandas_object(frame, index=False, hash_key="crosswalk-pk-two").to_numpy()
    return np.column_stack([first, second])


def _repeats(digests: list[np.ndarray]) -> int:
    """How many rows repeat an earlier row's digest."""
    if not digests:
        return 0
    every = np.concatenate(digests)
    return len(every) - len(np.unique(every, axis=0))


def to_typed(chunk: pd.DataFrame, schema: TableSchema) -> list[dict]:
    """Convert a validated text chunk into Python values for the database (None for empty)."""
    out = pd.DataFrame(index=chunk.index)
    for spec in schema.fields:
        col = chunk[spec.name]
        empty = col == ""
        if spec.type == "integer":
            out[spec.name] = pd.array([None if e else int(v) for v, e in zip(col, empty, strict=True)], dtype=object)
        elif spec.type == "number":
            out[spec.name] = pd.array([None if e else float(v) for v, e in zip(col, empty, strict=True)], dtype=object)
        elif spec.type == "date":
            parsed = pd.to_datetime(col.where(~empty), format=spec.date_format, errors="raise")
            out[spec.name] = pd.array(
                [None if e else d.date() for d, e in zip(parsed, empty, strict=True)], dtype=object
            )
        elif spec.type == "boolean":
            out[spec.name] = pd.array(
                [None if e else v in _TRUE for v, e in zip(col, empty, strict=True)], dtype=object
            )
        else:
            out[spec.name] = pd.array([None if e else v for v, e in zip(col, empty, strict=True)], dtype=object)
    return out.to_dict("records")

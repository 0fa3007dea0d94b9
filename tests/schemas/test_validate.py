"""The streaming validator reports every failing column with a row count, never a value."""

from __future__ import annotations

import io

from crosswalk.schemas.tableschema import parse_table_schema
from crosswalk.schemas.validate import iter_chunks, to_typed, validate_csv

SCHEMA = parse_table_schema(
    "people",
    {
        "fields": [
            {"name": "id", "type": "string", "description": "id", "constraints": {"required": True}},
            {"name": "dob", "type": "date", "description": "date of birth"},
            {"name": "sex", "type": "string", "description": "sex", "constraints": {"enum": ["M", "F", "U"]}},
            {"name": "hours", "type": "number", "description": "hours", "constraints": {"maximum": 168}},
            {"name": "chi", "type": "string", "description": "chi", "constraints": {"pattern": "[0-9]{10}"}},
        ],
        "primaryKey": ["id"],
    },
    "inline",
)


def _report(text: str, chunk_rows: int = 2):
    return validate_csv(io.BytesIO(text.encode()), SCHEMA, chunk_rows=chunk_rows)


def test_valid_file():
    r = _report("id,dob,sex,hours,chi\n1,1950-01-02,M,3.5,0101011237\n2,,F,,\n")
    assert r.ok and r.rows == 2


def test_counts_every_problem_across_chunks():
    text = (
        "id,dob,sex,hours,chi\n"
        "1,1950-13-01,M,3.5,0101011237\n"  # month 13
        ",1950-01-01,X,200,123\n"  # no id, bad sex, too many hours, short chi
        "3,02/01/1950,F,abc,0101011237\n"  # day-first date, hours not a number
        "3,1950-01-01,F,1,0101011237\n"  # duplicate primary key (in another chunk)
    )
    r = _report(text)
    assert not r.ok and r.rows == 4
    found = {(p.field, p.code): p.rows for p in r.problems}
    assert found == {
        ("dob", "type"): 2,
        ("id", "required"): 1,
        ("sex", "enum"): 1,
        ("hours", "maximum"): 1,
        ("hours", "type"): 1,
        ("chi", "pattern"): 1,
        ("id", "primary-key"): 1,
    }
    assert "0101011237" not in r.summary() and "02/01/1950" not in r.summary()  # counts, never values


def test_header_problems_are_reported_together():
    r = _report("id,dob,sex,chi,religion\n1,1950-01-01,M,0101011237,x\n")
    # The unknown column is named by position only: a header cell that is not ours is never repeated.
    assert [str(p) for p in r.problems] == ["1 of 5 column(s) missing: hours", "1 unknown column(s), at position(s) 5"]


def test_a_file_without_its_header_row_never_repeats_the_first_record():
    r = _report("MARKER01,1950-01-02,M,3.5,0101011237\n2,,F,,\n")
    assert [p.code for p in r.problems] == ["no-header"]
    assert r.summary() == (
        "schema people: 1 problem(s): no header row: none of the 5 expected column names is in the first row (5 cells)"
    )
    # A 10,000-column first row gives the same short reason, not 100 KB of it.
    wide = _report(",".join(f"MARKER{i}" for i in range(10_000)) + "\n")
    assert "MARKER" not in wide.summary() and len(wide.summary()) < 300


def test_a_partly_right_header_names_only_our_columns():
    r = _report("id,MARKER-A,dob,sex,MARKER-B,chi,id\n")
    text = r.summary()
    assert "MARKER" not in text
    assert "duplicate column(s) id" in text and "1 of 5 column(s) missing: hours" in text
    assert "2 unknown column(s), at position(s) 2, 5" in text


def test_numbers_and_dates_take_ascii_digits_only_and_no_field_holds_a_nul():
    r = _report(
        "id,dob,sex,hours,chi\n"
        "1,1950-01-02,M,\uff11\uff10\uff10\uff10,0101011237\n"  # fullwidth 1000: not a number (nor 1000 <= 168)
        "2,\u0661\u0669\u0665\u0660-01-02,F,,\n"  # Arabic-Indic digits in a date
        "3,,F,,\n"
        "4\x00,,F,,\n"  # a NUL inside an id
    )
    codes = {(p.field, p.code): p.rows for p in r.problems}
    assert codes == {("hours", "type"): 1, ("dob", "type"): 1, ("id", "nul"): 1}


def test_bytes_that_are_not_utf8_in_the_header_are_a_reason_not_a_crash():
    r = validate_csv(io.BytesIO(b"id,d\xffob,sex,hours,chi\n1,,M,,\n"), SCHEMA)
    assert [p.code for p in r.problems] == ["unreadable"]


def test_empty_and_header_only_files():
    assert [p.code for p in _report("").problems] == ["empty-file"]
    assert [p.code for p in _report("id,dob,sex,hours,chi\n").problems] == ["no-rows"]


def test_bom_is_accepted_and_values_are_typed():
    data = "\ufeffid,dob,sex,hours,chi\n1,1950-01-02,M,3.5,\n".encode()
    assert validate_csv(io.BytesIO(data), SCHEMA).ok
    [row] = to_typed(next(iter_chunks(io.BytesIO(data), SCHEMA)), SCHEMA)
    assert str(row["dob"]) == "1950-01-02" and row["hours"] == 3.5 and row["chi"] is None


def test_rows_of_the_wrong_width_blank_lines_and_mixed_line_ends_are_problems_not_guesses():
    # pandas would pad the short row, skip the blank line and take both line ends; PostgreSQL refuses each.
    r = _report("id,dob,sex,hours,chi\r\n1,,M\r\n2,,F,,,extra\r\n\r\n3,,F,,\n")
    assert {(p.code, p.rows) for p in r.problems} == {
        ("short-row", 1), ("long-row", 1), ("blank-line", 1), ("mixed-line-ends", 0),
    }  # fmt: skip
    # A quoted line break inside a field is data, not a line end.
    assert _report('id,dob,sex,hours,chi\r\n1,,M,,\r\n"2\nb",,F,,\r\n').ok

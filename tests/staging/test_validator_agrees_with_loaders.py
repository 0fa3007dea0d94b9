"""The validator and both loaders agree, on every file a careless or hostile partner could send.

Hypothesis writes CSV bytes from a grammar with the hostile cases in it (encodings, a byte-order mark,
CRLF and mixed line ends, quoted line breaks, NUL, short and long rows, blank lines, Unicode digits and
spaces, huge fields, formula-like values) against the real CHI-index schema. For each file:

- the validator accepts it  =>  it stages on SQLite and on PostgreSQL, and the typed rows read back from
  both are the same;
- the validator rejects it  =>  every problem carries a reason code from the closed list, and the report
  never quotes a cell (a marker seeded into every cell never appears in it).

The loaders are only ever called on what the validator accepted (the inbound flow validates first), so
"rejected" is never handed to a database.
"""

from __future__ import annotations

import io
import uuid
from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crosswalk.config.loader import load_config
from crosswalk.schemas.validate import validate_csv
from crosswalk.staging import ledger
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from crosswalk.staging.tables import iter_staged, stage_file

pytestmark = pytest.mark.postgres

SCHEMA = load_config(check_descriptors=False).schemas["health_board_index"]
TABLE = "stg_health_board_index"
CODES = {
    "empty-file", "no-header", "duplicate-column", "missing-column", "unknown-column", "unreadable", "short-row",
    "long-row", "blank-line", "mixed-line-ends", "no-rows", "required", "type", "pattern", "enum", "maxLength",
    "minLength", "minimum", "maximum", "nul", "primary-key", "unique",
}  # fmt: skip
MARKER = "QZXMARK"


@pytest.fixture(scope="module")
def engines(tmp_path_factory, postgres_url):
    sqlite = make_engine(f"sqlite:///{tmp_path_factory.mktemp('agree') / 's.db'}")
    pg = make_engine(postgres_url)
    for e in (sqlite, pg):
        upgrade(e)
    yield {"sqlite": sqlite, "postgres": pg}
    sqlite.dispose()
    pg.dispose()


# Cells: each column's valid values (names with quotes, commas, line breaks, accents and Unicode spaces
# included), and what a partner's system or a hostile hand produces instead.
names = st.text(alphabet=st.sampled_from("abcXYZ '-,\"\n\r\u00e9\u00a0\u2028\U0001f600"), min_size=1, max_size=12).map(
    lambda t: MARKER + t
)
valid = {
    "forename": names,
    "surname": names,
    "date_of_birth": st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat),
    "sex": st.sampled_from(["M", "F", "U"]),
    "postcode": st.sampled_from(["", "NS1 1AA", "EH11 1AB"]),
    "gp_practice_code": st.sampled_from(["", "N00001"]),
}
hostile = st.sampled_from(
    ["", " ", "\t", "\x00", f"{MARKER}\x00x", "\uff11\uff12", "\u0661\u0662\u0663", "\u00a0", "=SUM(A1)", "+1", "-1",
     "@cmd", f'{MARKER}"quoted"', f"{MARKER}\nline", f"{MARKER}\r\nline", f"{MARKER},comma", MARKER * 40,
     "\u2028", "E\u0301", "\ufeff", "1950-02-30", "1950-2-3", "03/02/1950", "0001-01-01", "9999-12-31", "m",
     "\U0001f600", "0101011237", "\uff10\uff11\uff10\uff11\uff10\uff11\uff11\uff12\uff13\uff17"]
)  # fmt: skip


@st.composite
def records(draw, header: list[str], i: int) -> list[str]:
    """One record: valid, or with one cell a hostile hand chose (about one in three)."""
    row = {c: draw(valid[c]) for c in header if c != "chi_number"}
    row["chi_number"] = f"{1000000000 + i}"  # unique per row, ten ASCII digits
    if draw(st.integers(0, 2)) == 0:
        row[draw(st.sampled_from(header))] = draw(hostile)
    return [row[c] for c in header]


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


@st.composite
def csv_files(draw) -> bytes:
    header = list(SCHEMA.field_names)
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.permutations(header))
    rows = []
    for i in range(draw(st.integers(0, 5))):
        row = draw(records(header, i))
        shape = draw(st.sampled_from(["ok"] * 20 + ["short", "long", "blank"]))
        if shape == "short":
            row = row[: draw(st.integers(1, len(row) - 1))]
        elif shape == "long":
            row = [*row, MARKER]
        elif shape == "blank":
            row = []
        rows.append(row)
    newline = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    lines = [",".join(_quote(c) for c in r) for r in [header, *rows]]
    if newline == "mixed":
        text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    else:
        text = newline.join(lines) + newline
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    damage = draw(st.sampled_from(["none"] * 12 + ["latin1", "truncated", "trailing-blank"]))
    if damage == "latin1":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xe9" + data[at:]
    elif damage == "truncated":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "trailing-blank":
        data += b"\n"
    return data


def _stage(engine, data: bytes) -> list[tuple]:
    batch_id = f"agree-{uuid.uuid4().hex[:12]}"
    ledger.open_batch(
        engine,
        ledger.Batch(batch_id, "health-index", "p", uuid.uuid4().hex * 2, "x.csv", None, None, SCHEMA.id,
                     ledger.RECEIVED),
        "dag", "run",
    )  # fmt: skip
    stage_file(engine, TABLE, batch_id, SCHEMA, io.BytesIO(data), 0)
    return [
        tuple("" if v is None else str(v) for v in row)
        for chunk in iter_staged(engine, TABLE, batch_id, SCHEMA.field_names)
        for row in chunk
    ]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files())
def test_the_validator_accepts_exactly_what_both_loaders_stage_alike(engines, data):
    report = validate_csv(io.BytesIO(data), SCHEMA)
    event("accepted" if report.ok else "rejected: " + ", ".join(sorted({p.code for p in report.problems})))
    if not report.ok:
        assert {p.code for p in report.problems} <= CODES
        assert MARKER not in report.summary() and "\n" not in report.summary()
        return
    on_sqlite = _stage(engines["sqlite"], data)
    on_postgres = _stage(engines["postgres"], data)
    assert len(on_sqlite) == report.rows
    assert on_sqlite == on_postgres

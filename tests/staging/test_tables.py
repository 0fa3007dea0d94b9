"""Staging on SQLite and PostgreSQL: reloads replace, failures leave nothing, migrations run once."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crosswalk.staging import ledger
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from crosswalk.staging.tables import count_rows, iter_staged, stage_batch, stage_file


def _batch(engine, bid="f-1"):
    b = ledger.Batch(bid, "f", "p", "m" * 64, "x.csv", None, None, "health_board_index", ledger.RECEIVED)
    return ledger.open_batch(engine, b, "dag", "run")


def _rows(n):
    return [
        {
            "chi_number": f"{i:010d}",
            "forename": "A",
            "surname": "B",
            "date_of_birth": "1950-01-01",
            "sex": "F",
            "postcode": None,
            "gp_practice_code": None,
        }
        for i in range(n)
    ]


COLS = ["chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "gp_practice_code"]


def test_migrations_apply_once(engine):
    assert upgrade(engine) == []


def test_reloading_a_batch_replaces_it(engine):
    _batch(engine)
    assert stage_batch(engine, "stg_health_board_index", "f-1", COLS, [_rows(3), _rows(2)], 5) == 5
    assert stage_batch(engine, "stg_health_board_index", "f-1", COLS, [_rows(4)], 4) == 4
    assert count_rows(engine, "stg_health_board_index", "f-1") == 4
    with engine.connect() as conn:
        assert ledger.get_batch(conn, "f-1").status == ledger.STAGED
    assert [r[0] for r in next(iter_staged(engine, "stg_health_board_index", "f-1", ["chi_number"]))] == [
        f"{i:010d}" for i in range(4)
    ]


def test_failure_mid_load_leaves_no_partial_batch(engine):
    _batch(engine)

    def chunks():
        yield _rows(3)
        raise RuntimeError("connection lost mid-load")

    with pytest.raises(RuntimeError):
        stage_batch(engine, "stg_health_board_index", "f-1", COLS, chunks(), 6)
    assert count_rows(engine, "stg_health_board_index", "f-1") == 0
    with engine.connect() as conn:
        assert ledger.get_batch(conn, "f-1").status == ledger.RECEIVED


def test_same_manifest_is_the_same_batch(engine):
    first = _batch(engine)
    again = _batch(engine)
    assert first.batch_id == again.batch_id
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one() == 1


def test_staging_tables_match_their_table_schemas(engine):
    from sqlalchemy import inspect

    from crosswalk.config.loader import load_config

    cfg = load_config()
    for feed in cfg.inbound_feeds():
        cols = [c["name"] for c in inspect(engine).get_columns(feed.target.table)]
        assert cols == ["batch_id", "row_number", *cfg.schemas[feed.schema_id].field_names], feed.id


def _index_csv(n: int, start: int = 0) -> bytes:
    lines = ["chi_number,forename,surname,date_of_birth,sex,postcode,gp_practice_code"]
    name = '"O\'Neil, ""Jr"""'  # a quoted field with a comma and quotes inside
    # Odd rows leave the optional columns empty, one of them quoted: both stage as NULL, not as "".
    for i in range(start, start + n):
        postcode, practice = ('""', "") if i % 2 else ("AB1 2CD", "P1")
        lines.append(f"{i:010d},Ann,{name},1950-01-{1 + i % 28:02d},F,{postcode},{practice}")
    return ("\n".join(lines) + "\n").encode()


def _table(engine, batch_id="f-1"):
    with engine.connect() as conn:
        return conn.execute(
            text(f"SELECT row_number, {', '.join(COLS)} FROM stg_health_board_index WHERE batch_id = :b ORDER BY 1"),
            {"b": batch_id},
        ).all()


def test_staging_a_file_twice_gives_identical_tables(engine):
    """The bulk path (COPY on PostgreSQL, inserts on SQLite): a rerun replaces the batch exactly."""
    import io

    from crosswalk.config.loader import load_config

    schema = load_config().schemas["health_board_index"]
    _batch(engine)
    data = _index_csv(250)
    assert stage_file(engine, "stg_health_board_index", "f-1", schema, io.BytesIO(data), 250, chunk_rows=100) == 250
    first = _table(engine)
    assert stage_file(engine, "stg_health_board_index", "f-1", schema, io.BytesIO(data), 250, chunk_rows=100) == 250
    assert _table(engine) == first
    assert [r[0] for r in first] == list(range(1, 251))
    assert first[0][1:] == ("0000000000", "Ann", 'O\'Neil, "Jr"', first[0][4], "F", "AB1 2CD", "P1")
    assert str(first[0][4]) == "1950-01-01"
    assert first[1][-2:] == (None, None)  # empty cells are NULL on both databases


class _FailsAfter:
    """A file object whose reads fail after ``limit`` bytes, like a connection lost mid-load."""

    def __init__(self, data: bytes, limit: int):
        import io

        self._f, self._limit = io.BytesIO(data), limit

    def read(self, n=-1):
        if self._f.tell() >= self._limit:
            raise OSError("read failed mid-file")
        return self._f.read(min(n if n >= 0 else self._limit, self._limit - self._f.tell()) or 1)

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_a_file_that_fails_mid_load_leaves_the_previous_load_intact(engine):
    import io

    from crosswalk.config.loader import load_config

    schema = load_config().schemas["health_board_index"]
    _batch(engine)
    stage_file(engine, "stg_health_board_index", "f-1", schema, io.BytesIO(_index_csv(10)), 10)
    before = _table(engine)
    data = _index_csv(5000, start=100)
    with pytest.raises(OSError, match="mid-file"):
        stage_file(engine, "stg_health_board_index", "f-1", schema, _FailsAfter(data, len(data) // 2), 5000, 500)
    assert _table(engine) == before
    with engine.connect() as conn:
        assert ledger.get_batch(conn, "f-1").rows_staged == 10


def test_the_database_refusing_a_row_names_line_and_column_never_the_value(postgres_url):
    import io

    from crosswalk.config.loader import load_config
    from crosswalk.errors import StagingFailed

    engine = make_engine(postgres_url)
    upgrade(engine)
    schema = load_config().schemas["health_board_index"]
    try:
        _batch(engine)
        # Not validated first: a date PostgreSQL refuses on line 3 (line 1 is the header).
        data = _index_csv(3).replace(b"1950-01-02", b"1950-02-30")
        with pytest.raises(StagingFailed) as caught:
            stage_file(engine, "stg_health_board_index", "f-1", schema, io.BytesIO(data), 3)
        message = str(caught.value)
        assert "line 3, column date_of_birth" in message and "22008" in message
        assert "1950" not in message and caught.value.__cause__ is None and caught.value.__suppress_context__
        assert count_rows(engine, "stg_health_board_index", "f-1") == 0
        with pytest.raises(StagingFailed, match="no batch f-2"):
            stage_file(engine, "stg_health_board_index", "f-2", schema, io.BytesIO(_index_csv(1)), 1)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()

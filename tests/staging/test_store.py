"""Staging on SQLite and PostgreSQL: reloads replace, failures leave nothing, migrations run once."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crosswalk.staging import ledger
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from crosswalk.staging.store import count_rows, iter_staged, stage_batch


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    if request.param == "postgres":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


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

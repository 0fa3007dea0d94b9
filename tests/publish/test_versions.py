"""Versioned publication tables: atomic swaps (a reader never sees a mix or nothing), rollback, idempotence."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crosswalk.publish import versions
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade

VIEW = "pub_summary"


def _frame(marker: str, rows: int = 500) -> pd.DataFrame:
    return pd.DataFrame({"chi_number": [f"{i:010d}" for i in range(rows)], "marker": marker})


def _publish(engine, frame, batch="b-1", agreement_version=2):
    return versions.publish(
        engine, "summary", VIEW, frame, kind="portal", source_batches=[batch], agreement_id="isp",
        agreement_version=agreement_version, level=2, recipient="nhs",
    )  # fmt: skip


def _markers(engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT DISTINCT marker FROM {VIEW}"))]


def test_publish_records_the_version_and_a_rerun_with_the_same_content_is_a_no_op(engine):
    first = _publish(engine, _frame("a"))
    assert first.published and first.version.version == 1 and first.version.rows_out == 500
    again = _publish(engine, _frame("a"))
    assert not again.published and again.version.publication_id == "summary:v1"
    assert [v.version for v in versions.versions(engine, "summary")] == [1]
    second = _publish(engine, _frame("b"), batch="b-2")
    assert second.version.version == 2 and second.version.source_batches == ["b-2"]
    assert _markers(engine) == ["b"]
    assert [(v.version, v.status) for v in versions.versions(engine, "summary")] == [(2, "live"), (1, "superseded")]


def test_rollback_restores_the_previous_version_and_refuses_when_none_is_kept(engine):
    _publish(engine, _frame("a"))
    _publish(engine, _frame("b", rows=3))
    came_from, went_to = versions.rollback(engine, "summary", VIEW)
    assert (came_from.version, went_to.version) == (2, 1)
    assert _markers(engine) == ["a"]
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT COUNT(*) FROM {VIEW}")).scalar_one() == 500
    with pytest.raises(LookupError, match="no earlier version"):
        versions.rollback(engine, "summary", VIEW)
    # The next publish supersedes the restored version; the rolled-back one is never live again by accident.
    _publish(engine, _frame("c"))
    assert [(v.version, v.status) for v in versions.versions(engine, "summary")] == [
        (3, "live"), (2, "rolled_back"), (1, "superseded"),
    ]  # fmt: skip


def test_prune_drops_old_version_tables_but_keeps_the_live_one_and_the_ledger(engine):
    for m in "abcd":
        _publish(engine, _frame(m, rows=2))
    assert versions.prune(engine, "summary", keep=2) == ["summary:v2", "summary:v1"]
    with engine.connect() as conn:
        for gone in ("pub_summary__v1", "pub_summary__v2"):
            with pytest.raises(DBAPIError):
                conn.execute(text(f"SELECT 1 FROM {gone}")).all()
            conn.rollback()
    assert [v.status for v in versions.versions(engine, "summary")] == ["live", "superseded", "purged", "purged"]
    assert _markers(engine) == ["d"]


def test_a_reader_querying_during_publishes_never_sees_a_mixed_or_empty_table(postgres_url):
    engine = make_engine(postgres_url)
    upgrade(engine)
    try:
        _publish(engine, _frame("v0", rows=20_000))
        seen, errors, stop = [], [], threading.Event()

        def reader():
            try:
                with engine.connect() as conn:
                    while not stop.is_set():
                        row = conn.execute(text(f"SELECT COUNT(*), MIN(marker), MAX(marker) FROM {VIEW}")).one()
                        conn.commit()
                        seen.append(tuple(row))
            except Exception as exc:  # surfaced below: a reader error fails the test
                errors.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        for i in range(1, 6):
            _publish(engine, _frame(f"v{i}", rows=20_000))
        versions.rollback(engine, "summary", VIEW)
        stop.set()
        thread.join(timeout=60)
        assert not errors, errors
        assert len(seen) > 5, "the reader must have read while publishes ran"
        assert all(count == 20_000 and lo == hi for count, lo, hi in seen), {r for r in seen if r[1] != r[2]}
        assert len({lo for _, lo, _ in seen}) > 1, "the reader saw more than one version go by"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()


def test_a_version_published_in_chunks_is_the_version_published_whole(engine):
    """Streaming changes nothing the reader or the ledger sees: same rows, same content hash (so a rerun in
    chunks of what was published whole is recognised as unchanged), and detail filled in as chunks pass."""
    whole = _frame("a", rows=250)
    first = _publish(engine, whole)
    detail: dict = {}

    def chunks():
        for start in range(0, 250, 100):
            detail["chunks"] = detail.get("chunks", 0) + 1
            yield whole.iloc[start : start + 100]

    again = versions.publish(
        engine, "summary", VIEW, chunks(), columns=["chi_number", "marker"], kind="portal", source_batches=["b-1"],
        agreement_id="isp", agreement_version=2, level=2, recipient="nhs", detail=detail,
    )  # fmt: skip
    assert not again.published and again.version.content_sha256 == first.version.content_sha256
    assert [v.version for v in versions.versions(engine, "summary")] == [1]  # the chunked attempt rolled back
    changed = whole.assign(marker=["a"] * 249 + ["b"])
    third = versions.publish(
        engine, "summary", VIEW, (changed.iloc[i : i + 100] for i in range(0, 250, 100)),
        columns=["chi_number", "marker"], kind="portal", source_batches=["b-2"], agreement_id="isp",
        agreement_version=2, level=2, recipient="nhs", detail=detail,
    )  # fmt: skip
    assert third.published and third.version.rows_out == 250 and sorted(_markers(engine)) == ["a", "b"]
    with engine.connect() as conn:
        recorded = conn.execute(text("SELECT detail FROM publication WHERE version = 2")).scalar_one()
    assert '"chunks": 3' in recorded  # detail as it stood after the last chunk


def test_a_version_streamed_from_a_staged_batch_while_it_is_written(engine):
    """Publishing reads the staged batch while its own transaction writes the version: on SQLite the reader
    must not wait for the writer's lock (it did, and the demo's publish timed out with 'database is locked')."""
    from crosswalk.staging import ledger
    from crosswalk.staging.tables import iter_staged, stage_batch

    ledger.open_batch(
        engine, ledger.Batch("b-9", "f", "p", "m" * 64, "x.csv", None, None, "health_board_index", ledger.RECEIVED),
        "dag", "run",
    )  # fmt: skip
    cols = ["chi_number", "forename"]
    stage_batch(engine, "stg_health_board_index", "b-9", [*cols, "surname", "date_of_birth", "sex"],
                [[{"chi_number": f"{i:010d}", "forename": "A", "surname": "B", "date_of_birth": "1950-01-01",
                   "sex": "F"} for i in range(120)]], 120)  # fmt: skip
    chunks = (
        pd.DataFrame(rows, columns=cols) for rows in iter_staged(engine, "stg_health_board_index", "b-9", cols, 50)
    )
    out = versions.publish(
        engine, "summary", VIEW, chunks, columns=cols, kind="portal", source_batches=["b-9"], agreement_id="isp",
        agreement_version=2, level=2, recipient="nhs",
    )  # fmt: skip
    assert out.published and out.version.rows_out == 120

"""The crosswalk store on SQLite and PostgreSQL: a batch's results are written as one set, reruns change
nothing, clerical decisions are reused while both records are unchanged, and the set-based writer leaves
exactly the rows the earlier per-record writer left (kept here as the oracle)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import text

from crosswalk.matching.crosswalk_table import CLERICAL, person_hashes, record_decision, write_crosswalk
from crosswalk.matching.decisions import AUTO, MODEL_VERSION, NONE, REVIEW

S = "council-clients"
PEOPLE = ["chi_number", "forename", "surname", "date_of_birth", "sex", "postcode"]


def _people(n: int, prefix: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"{prefix}{i}" for i in range(n)],
            "chi_number": [f"{i:010d}" if i % 3 else None for i in range(n)],
            "forename": [["Ann", "Bob", None, "Éilidh"][i % 4] for i in range(n)],
            "surname": ["Smith"] * n,
            "date_of_birth": [date(1950 + i % 50, 1 + i % 12, 1 + i % 28) for i in range(n)],
            "sex": ["F", "M"] * (n // 2) + ["F"] * (n % 2),
            "postcode": ["NS1 1AA"] * n,
        },
        dtype=object,
    )


def _result(n: int, candidates: list[str | None], bands: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"c{i}" for i in range(n)],
            "matched_record_id": candidates,
            "method": ["probabilistic" if c else None for c in candidates],
            "band": bands,
            "matched_chi": [f"9{i:09d}" if b == AUTO else None for i, b in enumerate(bands)],
            "match_weight": [float(i) if i % 5 else float("inf") for i in range(n)],
            "match_probability": [0.5 + i / (4 * n) for i in range(n)],
            "runner_up_weight": [np.nan] * n,
            "reason": [{AUTO: "score_above_auto", "review": "score_in_review_band"}.get(b) for b in bands],
        }
    )


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT source_record_id, batch_id, index_batch_id, matched_identifier, matched_record_id, method,"
                    " band, match_weight, match_probability, runner_up_weight, model_version, records_hash, decided_by"
                    " FROM crosswalk ORDER BY source_record_id"
                )
            )
        ]


def _oracle_write(engine, batch_id, index_batch_id, result, source_hashes, index_hashes, index_chi) -> dict:
    """The per-record writer this store had before the set-based one (one DELETE and one INSERT per record)."""

    def num(v):
        return None if v is None or pd.isna(v) or v in (float("inf"), float("-inf")) else float(v)

    counts = {"written": 0, "unchanged": 0, "clerical_reused": 0}
    with engine.begin() as conn:
        decisions = {
            (r.source_record_id, r.candidate_record_id, r.records_hash.strip()): (r.outcome, r.decided_by)
            for r in conn.execute(
                text(
                    "SELECT source_record_id, candidate_record_id, records_hash, outcome, decided_by"
                    " FROM review_decision"
                )
            )
        }
        existing = {
            r.source_record_id: r
            for r in conn.execute(
                text("SELECT source_record_id, matched_record_id, method, band, records_hash FROM crosswalk")
            )
        }
        for row in result.itertuples(index=False):
            rid = str(row.record_id)
            candidate = None if pd.isna(row.matched_record_id) else str(row.matched_record_id)
            ih = index_hashes.get(candidate) if candidate else None
            rhash = hashlib.sha256(f"{source_hashes[rid]}:{ih or ''}".encode()).hexdigest()
            method = None if pd.isna(row.method) else str(row.method)
            band, chi, by = str(row.band), None if pd.isna(row.matched_chi) else str(row.matched_chi), None
            decision = decisions.get((rid, candidate, rhash)) if candidate else None
            if decision is not None:
                outcome, by = decision
                method, band = CLERICAL, AUTO if outcome == "match" else NONE
                chi = index_chi.get(candidate) if outcome == "match" else None
                counts["clerical_reused"] += 1
            old = existing.get(rid)
            if old is not None and (old.matched_record_id, old.method, old.band, old.records_hash.strip()) == (
                candidate, method, band, rhash,
            ):  # fmt: skip
                counts["unchanged"] += 1
                continue
            p = {
                "s": S, "r": rid, "b": batch_id, "ib": index_batch_id, "chi": chi, "c": candidate, "m": method,
                "band": band, "w": num(row.match_weight), "p": num(row.match_probability),
                "ru": num(row.runner_up_weight), "v": MODEL_VERSION, "h": rhash, "t": datetime.now(), "by": by,
            }  # fmt: skip
            conn.execute(text("DELETE FROM crosswalk WHERE source_system = :s AND source_record_id = :r"), p)
            conn.execute(
                text(
                    "INSERT INTO crosswalk (source_system, source_record_id, batch_id, index_batch_id,"
                    " matched_identifier, matched_record_id, method, band, match_weight, match_probability,"
                    " runner_up_weight, model_version, records_hash, decided_at, decided_by)"
                    " VALUES (:s, :r, :b, :ib, :chi, :c, :m, :band, :w, :p, :ru, :v, :h, :t, :by)"
                ),
                p,
            )
            counts["written"] += 1
    return counts


def test_person_hashes_are_sha256_of_the_fields_joined_by_the_unit_separator():
    people = _people(4, "c")
    hashes = person_hashes(people)
    # Row 2: no CHI (i % 3 == 0 is only row 0 and 3), no forename (i % 4 == 2); missing fields hash as empty.
    expected = hashlib.sha256(b"0000000002\x1f\x1fSmith\x1f1952-03-03\x1fF\x1fNS1 1AA").hexdigest()
    assert hashes["c2"] == expected
    assert list(hashes.index) == ["c0", "c1", "c2", "c3"] and hashes.nunique() == 4


def _scenario(n: int = 40):
    source, index = _people(n, "c"), _people(n, "i")
    candidates = [f"i{i}" if i % 4 else None for i in range(n)]
    bands = [AUTO if i % 4 == 1 else REVIEW if i % 4 == 2 else NONE for i in range(n)]
    # The board's index is keyed by CHI: an index record's id is its CHI (the reviewer's decision relies on it).
    index_chi = pd.Series(index["record_id"].to_numpy(), index=index["record_id"])
    return source, index, _result(n, candidates, bands), index_chi


def test_a_rerun_writes_nothing_and_changed_records_are_replaced(engine):
    source, index, result, index_chi = _scenario()
    sh, ih = person_hashes(source), person_hashes(index)
    assert write_crosswalk(engine, S, "b1", "ib1", result, sh, ih, index_chi) == {
        "written": 40, "unchanged": 0, "clerical_reused": 0,
    }  # fmt: skip
    first = _rows(engine)
    assert write_crosswalk(engine, S, "b2", "ib1", result, sh, ih, index_chi)["unchanged"] == 40
    assert _rows(engine) == first  # not even the batch id moves: an unchanged row is left as it was
    # Record c5 changes its surname: its pair hash changes, so only its row is rewritten (with the new batch).
    source.loc[5, "surname"] = "Jones"
    counts = write_crosswalk(engine, S, "b3", "ib1", result, person_hashes(source), ih, index_chi)
    assert counts == {"written": 1, "unchanged": 39, "clerical_reused": 0}
    assert [r[1] for r in _rows(engine) if r[0] == "c5"] == ["b3"]
    # An infinite weight is stored as null: the column is a plain double.
    assert [r[7] for r in _rows(engine) if r[0] == "c0"] == [None]


def test_a_clerical_decision_is_reused_until_either_record_changes(engine):
    source, index, result, index_chi = _scenario()
    sh, ih = person_hashes(source), person_hashes(index)
    write_crosswalk(engine, S, "b1", "ib1", result, sh, ih, index_chi)
    record_decision(engine, S, "c2", "match", "Ailsa Reviewer")  # c2 was in review against i2
    record_decision(engine, S, "c6", "no_match", "Ailsa Reviewer")
    counts = write_crosswalk(engine, S, "b2", "ib1", result, sh, ih, index_chi)
    assert counts["clerical_reused"] == 2
    rows = {r[0]: r for r in _rows(engine)}
    assert rows["c2"][3:7] == ("i2", "i2", CLERICAL, AUTO) and rows["c2"][12] == "Ailsa Reviewer"
    assert rows["c6"][3:7] == (None, "i6", CLERICAL, NONE)
    # The index record i2 changes: the decision no longer applies and the pair is back in review.
    index.loc[2, "postcode"] = "NS9 9ZZ"
    counts = write_crosswalk(engine, S, "b3", "ib1", result, sh, person_hashes(index), index_chi)
    assert counts["clerical_reused"] == 1
    assert {r[0]: r for r in _rows(engine)}["c2"][5:7] == ("probabilistic", REVIEW)


def test_the_set_based_writer_leaves_what_the_per_record_writer_left(engine, tmp_path):
    """Same sequence of batches (first write, rerun, a decision, changed records) through both writers:
    the same rows and the same counts each time."""
    from crosswalk.staging.db import make_engine
    from crosswalk.staging.migrations import upgrade

    oracle = make_engine(f"sqlite:///{tmp_path / 'oracle.db'}")
    upgrade(oracle)
    source, index, result, index_chi = _scenario(60)

    def both(batch: str) -> None:
        args = (result, person_hashes(source), person_hashes(index), index_chi)
        assert write_crosswalk(engine, S, batch, "ib", *args) == _oracle_write(oracle, batch, "ib", *args)
        assert _rows(engine) == _rows(oracle)

    both("b1")
    both("b2")
    for eng in (engine, oracle):
        record_decision(eng, S, "c10", "match", "R One")
        record_decision(eng, S, "c14", "no_match", "R Two")
    both("b3")
    source.loc[[10, 20, 33], "forename"] = "Changed"
    result.loc[7, ["matched_record_id", "band"]] = ["i8", REVIEW]
    both("b4")
    oracle.dispose()

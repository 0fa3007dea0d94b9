"""DuckDB and Spark give the same links and the same clusters: one model (trained on DuckDB), the pairs scored
on each engine. Spark runs in local mode here (pyspark from the package index, Java 17), as it would inside a
worker; a cluster differs only in where the executors are. 20,000 records of the hard synthetic population
(households, twins, typos, addresses), so every comparison level and the family rules are exercised."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from crosswalk.errors import ConfigError
from crosswalk.matching.dedupe import dedupe
from crosswalk.matching.engines import Backend, for_dialect
from crosswalk.matching.link import link, train_link_model
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from people import extract, population

SPARK = Backend("spark", "local[2]")
COLUMNS = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]


@pytest.fixture(scope="module")
def sides():
    pop = population(20_000, seed=5)
    pop["record_id"] = [f"P{i:06d}" for i in range(len(pop))]
    src = extract(pop, fraction=0.5, duplicates=0.1, seed=6)
    return src[COLUMNS], pop[COLUMNS]


def test_a_link_scored_on_spark_decides_every_record_as_on_duckdb(sides, tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSWALK_WORK_ROOT", str(tmp_path / "work"))
    source, index = sides
    model = train_link_model(source, index)
    on_duckdb = link(source, index, model=model).set_index("record_id").sort_index()
    on_spark = link(source, index, model=model, backend=SPARK).set_index("record_id").sort_index()
    decided = ["matched_record_id", "band", "method", "reason"]
    pd.testing.assert_frame_equal(on_spark[decided], on_duckdb[decided])
    assert (on_duckdb["band"] == "auto").sum() > 0.8 * len(source)
    weights = pd.concat([on_duckdb["match_weight"], on_spark["match_weight"]], axis=1).dropna()
    finite = weights[~weights.isin([float("inf")]).any(axis=1)]
    assert (finite.iloc[:, 0] - finite.iloc[:, 1]).abs().max() < 1e-9
    # Spark's intermediate tables (records) went with the run.
    leftovers = [p for p in (tmp_path / "work").rglob("*") if p.is_file() and "spark-checkpoints" in str(p)]
    assert leftovers == []


def test_a_dedupe_scored_on_spark_makes_the_same_clusters_as_on_duckdb(monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSWALK_WORK_ROOT", str(tmp_path / "work"))
    records = extract(population(20_000, seed=7), fraction=0.8, duplicates=0.25, seed=8)[COLUMNS]
    on_duckdb = dedupe(records).set_index("record_id").sort_index()
    on_spark = dedupe(records, backend=SPARK).set_index("record_id").sort_index()
    pd.testing.assert_frame_equal(on_spark, on_duckdb)
    assert on_duckdb["cluster_id"].nunique() < len(records)


def test_a_model_with_other_comparisons_is_refused_on_another_engine():
    settings = {"comparisons": [{"output_column_name": "forename", "comparison_levels": []}]}
    trained = {"probability_two_random_records_match": 0.001, "comparisons": [{"output_column_name": "surname"}]}
    with pytest.raises(ConfigError, match="retrain it"):
        for_dialect(settings, trained)

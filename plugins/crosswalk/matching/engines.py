"""Where Splink runs: DuckDB on the worker (the default), or Spark (local mode, or a cluster for a national index).

Training always runs on DuckDB: it reads samples (about a million random pairs for u, as many blocked pairs for
EM), which one worker does in seconds at any population size. Scoring every blocked pair, the part that grows
with the population, runs on the configured engine, with the trained parameters moved across
(:func:`for_dialect`). So both engines score with one model, and the same inputs give the same links.

Splink and pyspark are imported inside the functions: the DAG files import the flows while the bundle is
parsed, which must not pull either in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from crosswalk.errors import ConfigError

log = logging.getLogger(__name__)

DUCKDB, SPARK = "duckdb", "spark"
MEMORY_LIMIT = "2GB"  # DuckDB's own cap; it spills to disk beyond it (its default is 80% of RAM)


@dataclass(frozen=True)
class Backend:
    """The matching engine (``settings.matching`` in config). ``spark_master``: ``local[N]`` runs Spark inside the
    worker; ``spark://host:7077`` (or ``yarn``, ``k8s://...``) sends the scoring to a cluster, which then needs
    ``checkpoint_dir`` on storage every executor reaches."""

    kind: str = DUCKDB
    spark_master: str = "local[2]"
    checkpoint_dir: str | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)


DEFAULT = Backend()


def backend_of(settings) -> Backend:
    """The backend ``settings.matching`` (:class:`crosswalk.config.models.settings.MatchingSettings`) names."""
    return Backend(settings.backend, settings.spark_master, settings.checkpoint_dir, dict(settings.spark_conf))


def unavailable(backend: Backend, where: str = "crosswalk.yaml") -> list[ConfigError]:
    """What this machine lacks to score on ``backend`` (``crosswalk check`` reports it before a run fails)."""
    import importlib.util
    import shutil

    if backend.kind != SPARK:
        return []
    problems = []
    if importlib.util.find_spec("pyspark") is None:
        problems.append(
            ConfigError(where, "matching.backend", "spark needs pyspark: pip install -r requirements-spark.txt")
        )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        problems.append(ConfigError(where, "matching.backend", "spark needs Java 17 (java on PATH, or JAVA_HOME)"))
    if not backend.spark_master.startswith("local") and not backend.checkpoint_dir:
        problems.append(
            ConfigError(where, "matching.checkpoint_dir", "a Spark cluster needs storage every executor reaches")
        )
    return problems


def duckdb_connection():
    """A DuckDB connection with a memory cap, so a national-size link stays within a worker's memory."""

    import duckdb

    from crosswalk import workroot

    # Spill files hold records: they go to this process's private directory in the work root (swept once the
    # process is gone), not DuckDB's default of ".tmp" in whatever directory the worker happens to run in.
    spill = str(workroot.process_dir("duckdb"))
    return duckdb.connect(
        config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False, "temp_directory": spill}
    )


def duckdb_api():
    from splink.backends.duckdb import DuckDBAPI

    return DuckDBAPI(duckdb_connection())


_SESSION = None  # one Spark session per worker process: the JVM takes seconds to start


def spark_session(backend: Backend):
    """The process's Spark session, with Splink's similarity functions (its jar) and Spark's scratch space in the
    work root (shuffle and spill files hold records)."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "settings", "matching.backend", "spark needs pyspark: pip install -r requirements-spark.txt"
        ) from exc
    from splink.backends.spark import similarity_jar_location

    from crosswalk import workroot

    local = backend.spark_master.startswith("local")
    # Spark's Python workers (our jaro_winkler) run this interpreter, with this environment's packages; a
    # cluster's executors need the same environment (docs/matching.md). The JVM reads it when it starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(backend.spark_master)
        .appName("crosswalk-matching")
        .config("spark.jars", similarity_jar_location())
        .config("spark.local.dir", str(workroot.process_dir("spark")))
        .config("spark.ui.enabled", "false")
        # Splink's advice for a small cluster; a local run has as many partitions as it has cores to use.
        .config("spark.sql.shuffle.partitions", "8" if local else "200")
        .config("spark.default.parallelism", "8" if local else "200")
    )
    for k, v in backend.spark_conf.items():
        builder = builder.config(k, v)
    _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


@contextlib.contextmanager
def spark_api(backend: Backend) -> Iterator:
    """Splink's SparkAPI over the process's session, its intermediate tables in a checkpoint directory of this
    run's own, which is removed afterwards (it holds records), however the run ends short of a kill (a killed
    local run's directory is in the work root, which is swept)."""
    from splink.backends.spark import SparkAPI

    from crosswalk import workroot

    spark = spark_session(backend)
    if backend.checkpoint_dir:
        base = backend.checkpoint_dir.rstrip("/")
    elif backend.spark_master.startswith("local"):
        base = str(workroot.process_dir("spark-checkpoints"))
    else:
        raise ConfigError("settings", "matching.checkpoint_dir", "a Spark cluster needs storage its executors share")
    path = f"{base}/crosswalk-{uuid.uuid4().hex}"
    spark.sparkContext.setCheckpointDir(path)
    try:
        with warnings.catch_warnings():
            # pyspark 4.3 warns that pandas 3 is not fully supported; what we use of it (Arrow conversion of flat
            # and list columns, both ways) is covered by the DuckDB/Spark equality test.
            warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
            api = SparkAPI(spark_session=spark, break_lineage_method="parquet")
            _standard_jaro_winkler(spark)
            yield api
    finally:
        jvm = spark._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(hadoop_path, True)


def _standard_jaro_winkler(spark) -> None:
    """Spark's ``jaro_winkler`` as DuckDB (and jellyfish) compute it. The Scala function Splink registers gives
    other values for some pairs ("daudales"/"daldales": 0.876 against the standard 0.895), which moves a name
    pair across a level (0.88, 0.92) and the pair's weight by several bits: the engines would disagree. This one
    runs in Spark's Python workers (Arrow batches), registered over Splink's, so both engines score alike."""
    from pyspark.sql.functions import pandas_udf

    def jaro_winkler(left, right):  # defined here so Spark ships it by value: workers need only jellyfish
        import jellyfish
        import pandas as pd

        pairs = zip(left.tolist(), right.tolist(), strict=True)
        scores = [jellyfish.jaro_winkler_similarity(a, b) if isinstance(a, str) and isinstance(b, str) else None
                  for a, b in pairs]  # fmt: skip
        return pd.Series(scores, dtype="float64")

    spark.udf.register("jaro_winkler", pandas_udf(jaro_winkler, "double"))


def for_dialect(settings: dict, trained: dict) -> dict:
    """Splink ``settings`` built for another SQL dialect, with the parameters of ``trained`` (a trained model's
    settings, same comparisons in the same order): the prior, and each level's m and u. Refuses a model whose
    comparisons or levels differ (trained by another version of the person model)."""
    out = {**settings, "probability_two_random_records_match": trained["probability_two_random_records_match"]}
    mine, theirs = settings["comparisons"], trained["comparisons"]
    names = [c["output_column_name"] for c in mine]
    if names != [c["output_column_name"] for c in theirs]:
        raise ConfigError("model", "comparisons", f"compares {names}, the trained model otherwise: retrain it")
    comparisons = []
    for c, t in zip(mine, theirs, strict=True):
        labels = [lv.get("label_for_charts") for lv in c["comparison_levels"]]
        if labels != [lv.get("label_for_charts") for lv in t["comparison_levels"]]:
            raise ConfigError("model", c["output_column_name"], "levels unlike the trained model's: retrain it")
        levels = [
            {**lv, **{k: tl[k] for k in ("m_probability", "u_probability") if tl.get(k) is not None}}
            for lv, tl in zip(c["comparison_levels"], t["comparison_levels"], strict=True)
        ]
        comparisons.append({**c, "comparison_levels": levels})
    out["comparisons"] = comparisons
    return out

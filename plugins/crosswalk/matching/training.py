"""Blocking rules and training: which pairs the model scores, and how its parameters are estimated.

Training runs on DuckDB (:mod:`crosswalk.matching.engines` says why); :func:`scoring_linker` gives the
linker that scores, on the configured engine. Splink is imported inside the functions, for the reason
:mod:`crosswalk.matching.comparisons` gives.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator

import pandas as pd

from crosswalk.matching.comparisons import comparisons, model_columns
from crosswalk.matching.engines import DEFAULT, DUCKDB, Backend, duckdb_api, for_dialect, spark_api
from crosswalk.matching.model import SavedModel
from crosswalk.matching.normalise import IDENTIFIER, optional_columns

log = logging.getLogger(__name__)

# Full name within a birth decade: full name alone gave 1.27 billion comparisons at 1M (bench/README.md).
NAME_BLOCK = ("surname", "forename", "substr(date_of_birth, 1, 3)")


def dob_block(optional: frozenset[str]) -> str:
    """The date of birth, with something else in common as well: a name's initial (either way round), the
    postcode or its district, or two address words (by signature, when both sides carry an address). A
    pair that shares only a birthday scores far below the review band, and at 1M records such pairs are
    72% of those the date of birth makes: scoring them took most of the prediction time."""
    also = [
        "substr(l.forename, 1, 1) in (substr(r.forename, 1, 1), substr(r.surname, 1, 1))",
        "substr(l.surname, 1, 1) in (substr(r.surname, 1, 1), substr(r.forename, 1, 1))",
        "l.postcode_district = r.postcode_district",
        "l.postcode = r.postcode",
        *(["bit_count(l.address_signature & r.address_signature) >= 2"] if "address" in optional else []),
    ]
    return f"l.date_of_birth = r.date_of_birth and ({' or '.join(also)})"


# The full name alone, for records with no date of birth: the name-and-decade block cannot see them.
# Each rule filters one side before the join, so it costs what the records without a date cost.
MISSING_DOB_BLOCKS = [
    "l.forename = r.forename and l.surname = r.surname and l.date_of_birth is null",
    "l.forename = r.forename and l.surname = r.surname and r.date_of_birth is null",
]


def extra_blocks(optional: frozenset[str]) -> list:
    """Blocking rules for records whose date of birth is missing or replaced as well as a name mistyped
    (FEBRL4: recall 0.945 -> 0.967 for the address rules), and on the identifiers."""
    from splink import block_on

    address = "substr(address, 1, 8)"
    return [
        *MISSING_DOB_BLOCKS,
        *(
            [block_on("postcode", address), block_on("surname", address), block_on("forename", address)]
            if "address" in optional else []
        ),
        *([block_on("local_id")] if "local_id" in optional else []),
        *([block_on(IDENTIFIER)] if IDENTIFIER in optional else []),
    ]  # fmt: skip


PRIOR_FLOOR = 1e-9


def dob_pairs(left: pd.Series, right: pd.Series | None = None) -> int:
    """How many pairs blocking on the date of birth makes: between two sides, or within one."""
    counts = left.value_counts()
    if right is None:
        return int((counts * (counts - 1) // 2).sum())
    return int((counts * right.value_counts()).sum())


def em_dob_block(pairs: int, max_pairs: float):
    """EM's date-of-birth block, sampled by record to about ``max_pairs`` pairs. At 1M records the whole
    block is 8 million pairs and EM over them took 24 of the link's 69 s; a sample of records trains
    the same m values, since which records are in it does not depend on how their pairs agree."""
    from splink import block_on

    keep_one_in = math.ceil(pairs / max_pairs)
    if keep_one_in <= 1:
        return block_on("date_of_birth")
    return f"l.date_of_birth = r.date_of_birth and hash(l.unique_id) % {keep_one_in} = 0"


def train(linker, em_max_pairs: float, dob_block_pairs: int) -> None:
    """The prior from near-certain pairs, u by random sampling, m by EM blocked on DOB and then on name;
    each sampled to about ``em_max_pairs`` pairs (``dob_block_pairs``: the pairs the DOB block makes)."""
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("forename", "surname", "date_of_birth")], recall=0.8
    )
    settings = linker._settings_obj  # Splink 5 keeps the estimate here; no public setter
    if not 0 < settings._probability_two_random_records_match < 1:
        # No pair agrees on full name and date of birth (an extract of people the index does not hold):
        # a tiny prior instead of 0, whose log would stop EM; such pairs then score as non-matches.
        settings._probability_two_random_records_match = PRIOR_FLOOR
    linker.training.estimate_u_using_random_sampling(max_pairs=em_max_pairs, seed=1)  # the same inputs, the same model
    for block in (em_dob_block(dob_block_pairs, em_max_pairs), block_on(*NAME_BLOCK)):
        _em(linker, block)


def _em(linker, block) -> None:
    """One EM pass; a block that makes no pairs (a small batch of people the other side does not hold, or
    whose names are unlike any there) trains nothing, and the m values stay at Splink's defaults or the
    other pass's estimate: that batch then scores its pairs, if any, as the model stands."""
    from splink.internals.exceptions import EMTrainingException

    try:
        linker.training.estimate_parameters_using_expectation_maximisation(block)
    except EMTrainingException:
        log.warning("EM training skipped one blocking rule: it makes no pairs in this batch")


def for_splink(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's columns as Splink takes them: ``unique_id``, and no index (DuckDB would read a
    filtered frame's index as a column once an Arrow column is present)."""
    return frame.rename(columns={"record_id": "unique_id"}).reset_index(drop=True)


def prediction_blocks(optional: frozenset[str]) -> list:
    """The blocking rules every prediction uses, linking or deduplicating."""
    from splink import block_on

    return [dob_block(optional), block_on(*NAME_BLOCK), block_on("postcode", "surname"), *extra_blocks(optional)]


def trained_linker(
    frames: dict[str, pd.DataFrame],
    link_type: str,
    *,
    more_blocks: tuple = (),
    sex: bool = False,
    retain_matching_columns: bool = False,
    em_max_pairs: float,
    model: SavedModel | None = None,
    tf_from: pd.DataFrame | None = None,
    intermediate: bool = False,
):
    """A Splink linker on DuckDB over the prepared ``frames`` (by table name: two to link, one to deduplicate)
    with the person model's comparisons on the optional columns every frame carries, blocked by
    :func:`prediction_blocks` and ``more_blocks``, and trained (:func:`train`); or, given a saved ``model``,
    with its comparisons and parameters and no training at all. Names' term frequencies come from ``tf_from``
    where given (a link: the index, the population), so a pair scores the same whichever source records
    came with it: a day's delta scores as it would in the whole extract."""
    from splink import Linker

    optional, cols = _columns(frames, model, sex)
    db = duckdb_api()
    tables = [db.register(for_splink(f[cols]), table_name=name) for name, f in frames.items()]
    if model is not None:
        settings = {**model.splink, "retain_matching_columns": retain_matching_columns,
                    "retain_intermediate_calculation_columns": intermediate}  # fmt: skip
        linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)
        _name_frequencies(linker, db, tf_from)
        return linker
    settings = _settings(link_type, optional, sex, more_blocks, retain_matching_columns)
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)
    _name_frequencies(linker, db, tf_from)
    train(linker, em_max_pairs, dob_pairs(*(f["date_of_birth"] for f in frames.values())))
    return linker


@contextlib.contextmanager
def scoring_linker(
    frames: dict[str, pd.DataFrame], link_type: str, *, backend: Backend = DEFAULT, **options
) -> Iterator:
    """The linker that scores, with :func:`trained_linker`'s ``options``: that linker itself on DuckDB; on Spark, a
    linker whose comparisons and blocking rules are built for Spark's SQL and whose parameters are the
    DuckDB-trained (or saved) model's. Spark's intermediate tables go when the block ends."""
    if backend.kind == DUCKDB:
        yield trained_linker(frames, link_type, **options)
        return
    from splink import Linker

    model, sex = options.get("model"), options.get("sex", False)
    if model is None:
        untrained = {k: v for k, v in options.items() if k != "retain_matching_columns"}
        trained = trained_linker(frames, link_type, **untrained).misc.save_model_to_json()
    else:
        trained = model.splink
    optional, cols = _columns(frames, model, sex)
    settings = _settings(
        link_type, optional, sex, options.get("more_blocks", ()), options.get("retain_matching_columns", False)
    )
    with spark_api(backend) as db:
        settings = for_dialect(settings.create_settings_dict(db.sql_dialect.sql_dialect_str), trained)
        tables = [db.register(for_splink(f[cols]), table_name=name) for name, f in frames.items()]
        linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)
        _name_frequencies(linker, db, options.get("tf_from"))
        yield linker


def _columns(frames: dict[str, pd.DataFrame], model: SavedModel | None, sex: bool) -> tuple[frozenset[str], list[str]]:
    optional = optional_columns(*frames.values())
    if model is not None:  # the model's columns; a derived one (the CHI as typed) may be all empty today
        model.check_columns(frozenset(c for c in model.optional if all(c in f.columns for f in frames.values())))
        optional = frozenset(model.optional)
    return optional, model_columns(optional, sex=sex)


def _settings(link_type: str, optional: frozenset[str], sex: bool, more_blocks: tuple, retain: bool):
    from splink import SettingsCreator

    return SettingsCreator(
        link_type=link_type,
        comparisons=comparisons(optional, sex=sex),
        blocking_rules_to_generate_predictions=[*prediction_blocks(optional), *more_blocks],
        retain_matching_columns=retain,
    )


def _name_frequencies(linker, db, frame: pd.DataFrame | None) -> None:
    """Register the names' term frequencies as measured on ``frame`` (Splink's lookup: value, tf_value)."""
    if frame is None:
        return
    for col in ("forename", "surname"):
        tf = frame[col].dropna().value_counts(normalize=True)
        lookup = pd.DataFrame({col: tf.index.astype(str), f"tf_{col}": tf.to_numpy(dtype=float)})
        linker.table_management.register_term_frequency_lookup(db.register(lookup), col)

"""Link a social-care extract to a health-board index: deterministic, then probabilistic, with the
identifier veto, a one-to-one best link and bands.

Both sides come as DataFrames of the documented person columns (:data:`PERSON_COLUMNS`):
``record_id, chi_number, forename, surname, date_of_birth, sex, postcode``, and optionally ``address``
and ``local_id`` (another identifier both sides hold; each compared only when both sides carry it).
The result has one row per source record: its best index record (if any), the method and band that
decided it, the match weight and probability, and the runner-up's weight. Pure: no Airflow, no database.

Stages, in order:
a. deterministic: the same valid CHI on both sides and a compatible date of birth (equal, missing on
   one side, or day and month swapped) links at once;
b. probabilistic for the rest: Fellegi-Sunter (Splink 5 on DuckDB) with u from random sampling and m
   by EM, term-frequency adjustments on names, names compared after normalisation;
c. veto: two valid, different CHIs never link automatically (the pair is dropped);
d. one-to-one: a source record takes its best candidate only when it leads the runner-up by
   ``min_lead`` match weight; otherwise the pair goes to review;
e. bands: ``upper`` and above links, ``lower`` to ``upper`` goes to review, below is no match
   (defaults 0.90 and 0.50; per feed in config).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crosswalk.identifiers import SPACES, VALID, chi_status_of_normalised, normalise

log = logging.getLogger(__name__)

PERSON_COLUMNS = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode"]
MODEL_VERSION = "link-v1"

AUTO, REVIEW, NONE = "auto", "review", "none"
DETERMINISTIC, PROBABILISTIC = "deterministic", "probabilistic"


@dataclass(frozen=True)
class Thresholds:
    # Tuned on bench/people.py (20k): with the CHI veto and the lead margin guarding precision, auto
    # linking from p 0.9 kept precision at 0.9997 and lifted recall from 0.974 (p 0.99) to 0.991.
    upper: float = 0.90  # match probability at or above which a link is made without review
    lower: float = 0.50  # below this, no match; between, clerical review
    min_lead: float = 4.0  # match weight (bits) by which the best candidate must beat the runner-up
    em_max_pairs: float = 1e6  # pairs for training: random pairs for u, about as many blocked pairs for EM


def prepare(people: pd.DataFrame) -> pd.DataFrame:
    """Normalise names, dates, postcodes and CHIs; keep a CHI only where it is valid for the record."""
    out = pd.DataFrame({"record_id": people["record_id"].astype("string")})
    for col in ("forename", "surname"):
        out[col] = people[col].astype("string").str.upper().str.replace(r"[^A-Z]", "", regex=True).replace("", pd.NA)
    born = pd.to_datetime(people["date_of_birth"], errors="coerce")
    out["date_of_birth"] = born.dt.strftime("%Y-%m-%d")
    out["birth_day"] = (born - pd.Timestamp("1970-01-01")).dt.days.astype("Int32")  # for the date differences
    if "address" in people.columns:  # optional: compared when both sides carry it
        letters = people["address"].astype("string").str.upper().str.replace(f"[^A-Z0-9{SPACES}]", "", regex=True)
        out["address"] = squeeze_spaces(letters).replace("", pd.NA)
        out["address_tokens"] = address_tokens(out["address"])
        out["address_signature"], out["address_crowded"] = word_signature(out["address_tokens"])
    if "local_id" in people.columns:  # optional: another identifier both sides hold, unvalidated
        out["local_id"] = people["local_id"].astype("string").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
        out["local_id"] = out["local_id"].replace("", pd.NA)
    sex = people["sex"].astype("string").str.upper()
    out["sex"] = sex.where(sex.isin(["M", "F"]))  # U (unknown) is missing, not a disagreement
    out["postcode"] = normalise_postcode(people["postcode"])
    out[list(POSTCODE_PARTS)] = postcode_parts(out["postcode"])
    chi = normalise(people["chi_number"], restore_leading_zero=True)
    status = chi_status_of_normalised(chi, dob=people["date_of_birth"], sex=people["sex"])
    # A CHI that is valid on its own is kept even if the record's DOB or sex disagrees with it: the
    # typo is more often in the DOB (day and month swapped) than in a check-digit-valid CHI.
    out["chi"] = chi.where(status.isin([VALID, "dob_mismatch", "sex_mismatch"]))
    out["chi_status"] = status
    return out


def squeeze_spaces(values: pd.Series) -> pd.Series:
    """Runs of whitespace as one space, trimmed. Only the values with something to squeeze go through the
    regular expression: it costs 0.8 s per million addresses when it runs on all of them (every space
    in an address is a match), against 0.15 s to find the few that need it."""
    odd = values.str.contains(f"[{SPACES}]{{2}}|[{SPACES.replace(' ', '')}]", regex=True).fillna(False)
    if odd.any():
        values = values.copy()
        values[odd] = values[odd].str.replace(f"[{SPACES}]+", " ", regex=True)
    return values.str.strip()


# A UK postcode's sector (EH1 1), district (EH1) and area (EH), read off once per record by prepare, so
# that scoring compares columns instead of running three regular expressions on both sides of every pair
# (as Splink's own UK levels do).
POSTCODE_PARTS = ("postcode_sector", "postcode_district", "postcode_area")
UK_POSTCODE = r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"


def postcode_parts(postcode: pd.Series) -> pd.DataFrame:
    """Sector, district and area of postcodes from :func:`normalise_postcode`; none for anything that is
    not a UK postcode (which it leaves without a space)."""
    uk = postcode.str.contains(" ", regex=False).fillna(False)
    district = postcode.str[:-4].where(uk)
    return pd.DataFrame(
        {"postcode_sector": postcode.str[:-2].where(uk), "postcode_district": district,
         "postcode_area": district.str[:1].where(district.str[1:2].str.isdigit(), district.str[:2])}
    )  # fmt: skip


def address_tokens(address: pd.Series) -> pd.Series:
    """An address's words, as an Arrow list column: DuckDB reads it as it is, where a column of Python
    lists took 1.8 s per million records to make and hand over."""
    words = pc.split_pattern(pa.array(address, type=pa.string()), " ")
    return pd.Series(pd.arrays.ArrowExtensionArray(words), index=address.index)


def word_signature(words: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A 64-bit signature of each list of words (one bit per word, chosen by the word's hash), and whether
    two of the list's words may share a bit ("crowded"; a repeated word counts). Two lists with ``k``
    words in common have ``k`` bits in common, or are both crowded: so the signatures rule out most
    pairs before DuckDB intersects the lists themselves, which took 8 s for the 1M dedupe's date of
    birth block against 0.2 s for the signatures. Missing for a missing list."""
    lists = pa.array(words)
    parent = pc.list_parent_indices(lists).to_numpy()
    hashes = pd.util.hash_array(pc.list_flatten(lists).to_numpy(zero_copy_only=False))  # stable across runs
    signature = np.zeros(len(lists), dtype=np.uint64)
    np.bitwise_or.at(signature, parent, np.left_shift(np.uint64(1), hashes % np.uint64(64)))
    signature = signature.view(np.int64)  # DuckDB's bit_count and & take a signed BIGINT
    length = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    crowded = np.bitwise_count(signature) < np.nan_to_num(length)
    missing = words.isna().to_numpy()
    return (
        pd.Series(signature, index=words.index, dtype="Int64").mask(missing),
        pd.Series(crowded, index=words.index, dtype="boolean").mask(missing),
    )


def normalise_postcode(values: pd.Series) -> pd.Series:
    """Upper case, one space before a UK postcode's inward code (``eh11aa`` -> ``EH1 1AA``), so sector,
    district and area can be read off it; anything that is not a UK postcode is kept without spaces."""
    compact = squeeze_spaces(values.astype("string").str.upper()).str.replace(" ", "", regex=False)
    uk = compact.str.fullmatch(UK_POSTCODE).fillna(False)
    spaced = compact.str[:-3] + " " + compact.str[-3:]
    return spaced.where(uk, compact).replace("", pd.NA)


def _compatible_dob(a: pd.Series, b: pd.Series) -> np.ndarray:
    same = (a == b).fillna(False).to_numpy(dtype=bool)
    missing = (a.isna() | b.isna()).to_numpy()
    swapped = (a.str[:4] == b.str[:4]) & (a.str[5:7] == b.str[8:10]) & (a.str[8:10] == b.str[5:7])
    return same | missing | swapped.fillna(False).to_numpy(dtype=bool)


def deterministic(source: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Pairs with the same valid CHI and a compatible date of birth."""
    pairs = source.dropna(subset=["chi"]).merge(index.dropna(subset=["chi"]), on="chi", suffixes=("_l", "_r"))
    pairs = pairs[_compatible_dob(pairs["date_of_birth_l"], pairs["date_of_birth_r"])]
    return pd.DataFrame(
        {"record_id_l": pairs["record_id_l"], "record_id_r": pairs["record_id_r"], "chi_r": pairs["chi"]}
    )


MEMORY_LIMIT = "2GB"  # DuckDB's own cap; it spills to disk beyond it (its default is 80% of RAM)


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


# Full name within a birth decade: full name alone gave 1.27 billion comparisons at 1M (bench/README.md).
NAME_BLOCK = ("surname", "forename", "substr(date_of_birth, 1, 3)")


def name_comparison(col: str, other: str):
    """A name compared with Splink's standard levels (exact with term frequencies, Jaro-Winkler 0.92,
    0.88, 0.7), plus a level for the name found in the other name column (forename and surname entered
    the wrong way round; FEBRL4 has several hundred)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.ColumnsReversedLevel(col, other).configure(label_for_charts=f"{col} entered as {other}"),
            cll.JaroWinklerLevel(col, 0.92),
            cll.JaroWinklerLevel(col, 0.88),
            cll.JaroWinklerLevel(col, 0.7),
            cll.ElseLevel(),
        ],
    )


def postcode_comparison():
    """Exact postcode, one character out (a typo: a dropped, changed or transposed character), then
    Splink's UK levels on the normalised form (sector, district, area)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode"),
            one_character_out("postcode"),
            *_postcode_area_levels(),
            cll.ElseLevel(),
        ],
    )


def one_character_out(col: str):
    """Damerau-Levenshtein distance 1 (a dropped, changed, added or transposed character), worked out only
    where the Levenshtein distance is at most 2, as it must then be (a transposition is two Levenshtein
    edits). DuckDB's Levenshtein is about nine times faster than its Damerau-Levenshtein, which took 12 of
    the 50 s that scoring the 1M dedupe took."""
    import splink.comparison_level_library as cll

    pair = f"{col}_l, {col}_r"
    return cll.CustomLevel(
        f"case when levenshtein({pair}) <= 2 then damerau_levenshtein({pair}) <= 1 else false end",
        label_for_charts="One character out",
    )


def _postcode_area_levels() -> list:
    """Splink's UK postcode levels, on the parts :func:`prepare` reads off: sector, district, area."""
    import splink.comparison_level_library as cll

    return [cll.ExactMatchLevel(part) for part in POSTCODE_PARTS]


def dob_comparison():
    """Splink's date-of-birth levels (exact, one character out, within a month, a year, ten years) with
    the differences taken on a day number :func:`prepare` reads off once per record: Splink's own
    comparison parses both dates from text at every level of every pair."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    days = "abs(birth_day_l - birth_day_r)"
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.LevenshteinLevel("date_of_birth", 1),
            cll.CustomLevel(f"{days} <= 30.4375", label_for_charts="Within a month"),
            cll.CustomLevel(f"{days} <= 365.25", label_for_charts="Within a year"),
            cll.CustomLevel(f"{days} <= 3652.5", label_for_charts="Within ten years"),
            cll.ElseLevel(),
        ],
    )


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


def location_comparison():
    """Address and postcode as one comparison. A household shares both, so two comparisons would count
    the same evidence twice and merge a household's members (synthetic dedupe: precision 0.96).
    Levels: both, the address alone (the postcode missing or mistyped), an address alike (a typo, or the
    house number or street left out: three words in common), the postcode alone, the postcode one
    character out, two words in common, then the postcode's UK sector, district and area."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.And(cll.NullLevel("address"), cll.NullLevel("postcode")),
            cll.And(cll.ExactMatchLevel("address"), cll.ExactMatchLevel("postcode")),
            cll.ExactMatchLevel("address"),
            cll.Or(cll.JaroWinklerLevel("address", 0.95), words_in_common(3)),
            cll.ExactMatchLevel("postcode"),
            one_character_out("postcode"),
            words_in_common(2),
            *_postcode_area_levels(),
            cll.ElseLevel(),
        ],
    )


def words_in_common(k: int):
    """At least ``k`` address words in common (Splink's ArrayIntersectLevel), with the lists intersected
    only where the words' signatures allow it (see :func:`word_signature`)."""
    import splink.comparison_level_library as cll

    possible = (
        f"bit_count(address_signature_l & address_signature_r) >= {k} or (address_crowded_l and address_crowded_r)"
    )
    return cll.CustomLevel(
        f"case when {possible} then array_length(list_intersect(address_tokens_l, address_tokens_r)) >= {k} "
        "else false end",
        label_for_charts=f"{k} words in common",
    )


def local_id_comparison():
    """Another identifier both sides hold (a council client number, a National Insurance number): exact,
    or one character out (a typo). Unvalidated, so it is evidence like any field and never a veto."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="local_id",
        comparison_levels=[
            cll.NullLevel("local_id"),
            cll.ExactMatchLevel("local_id"),
            one_character_out("local_id"),
            cll.ElseLevel(),
        ],
    )


OPTIONAL_COLUMNS = ("address", "local_id")


def person_columns(frame: pd.DataFrame) -> list[str]:
    """The documented person columns, and the optional ones this frame carries."""
    return [*PERSON_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame.columns)]


def optional_columns(*frames: pd.DataFrame) -> frozenset[str]:
    """The optional person columns every side carries: each is compared only then."""
    return frozenset(c for c in OPTIONAL_COLUMNS if all(c in f.columns for f in frames))


def model_columns(optional: frozenset[str], *, sex: bool = False) -> list[str]:
    """The prepared columns the model reads."""
    return [
        "record_id", "forename", "surname", "date_of_birth", "birth_day", *(["sex"] if sex else []),
        "postcode", *POSTCODE_PARTS,
        *(["address", "address_tokens", "address_signature", "address_crowded"] if "address" in optional else []),
        *(["local_id"] if "local_id" in optional else []),
    ]  # fmt: skip


def comparisons(optional: frozenset[str], *, sex: bool = False) -> list:
    """The person model's comparisons: names (term-frequency adjusted, either way round), date of birth,
    optionally sex, postcode (with the address, when both sides carry one), and the optional identifier."""
    import splink.comparison_library as cl

    return [
        name_comparison("forename", "surname"),
        name_comparison("surname", "forename"),
        dob_comparison(),
        *([cl.ExactMatch("sex")] if sex else []),
        location_comparison() if "address" in optional else postcode_comparison(),
        *([local_id_comparison()] if "local_id" in optional else []),
    ]


def extra_blocks(optional: frozenset[str]) -> list:
    """Blocking rules for records whose date of birth is missing or replaced as well as a name mistyped
    (FEBRL4: recall 0.945 -> 0.967 for the address rules), and on the optional identifier."""
    from splink import block_on

    address = "substr(address, 1, 8)"
    return [
        *MISSING_DOB_BLOCKS,
        *(
            [block_on("postcode", address), block_on("surname", address), block_on("forename", address)]
            if "address" in optional else []
        ),
        *([block_on("local_id")] if "local_id" in optional else []),
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
    linker.training.estimate_u_using_random_sampling(max_pairs=em_max_pairs)
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


def _splink_scores(source: pd.DataFrame, index: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    optional = optional_columns(source, index)
    cols = model_columns(optional)
    db = DuckDBAPI(duckdb_connection())
    left = db.register(_for_splink(source[cols]), table_name="source_records")
    right = db.register(_for_splink(index[cols]), table_name="index_records")
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comparisons(optional),
        blocking_rules_to_generate_predictions=[
            dob_block(optional),
            block_on(*NAME_BLOCK),
            block_on("postcode", "surname"),
            *extra_blocks(optional),
            block_on("forename", "postcode"),
            "l.forename = r.surname and l.surname = r.forename",  # names entered the wrong way round
        ],
        retain_matching_columns=False,
    )
    linker = Linker([left, right], settings, log_level=logging.WARNING)
    train(linker, t.em_max_pairs, dob_pairs(source["date_of_birth"], index["date_of_birth"]))
    # Score down to half the review threshold: enough to see every runner-up that matters for the lead.
    scored = linker.inference.predict(threshold_match_probability=t.lower / 2).as_pandas_dataframe()
    # Orient each pair as (source, index) whichever way round Splink put them.
    flip = scored["source_dataset_l"] != "source_records"
    return pd.DataFrame(
        {
            "record_id_l": np.where(flip, scored["unique_id_r"], scored["unique_id_l"]),
            "record_id_r": np.where(flip, scored["unique_id_l"], scored["unique_id_r"]),
            "match_weight": scored["match_weight"].astype(float),
            "match_probability": scored["match_probability"].astype(float),
        }
    )


def _for_splink(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's columns as Splink takes them: ``unique_id``, and no index (DuckDB would read a
    filtered frame's index as a column once an Arrow column is present)."""
    return frame.rename(columns={"record_id": "unique_id"}).reset_index(drop=True)


def link(source_people: pd.DataFrame, index_people: pd.DataFrame, t: Thresholds = Thresholds()) -> pd.DataFrame:
    """One row per source record: ``record_id, matched_record_id, matched_chi, method, band, match_weight,
    match_probability, runner_up_weight``."""
    source, index = prepare(source_people), prepare(index_people)
    det = deterministic(source, index)
    det = det.drop_duplicates("record_id_l")  # the same CHI twice in the index is the index's problem, not ours
    # Arrow's is_in: pandas' isin on Arrow strings makes a Python object of every value looked for (2 s at 1M).
    linked = pc.is_in(pa.array(source["record_id"]), value_set=pa.array(det["record_id_l"]))
    rest = source[~linked.to_numpy(zero_copy_only=False)]
    scores = _splink_scores(rest, index, t) if len(rest) and len(index) else _empty_scores()
    # Veto: two valid, different CHIs are two people.
    chi_l = scores["record_id_l"].map(source.set_index("record_id")["chi"])
    chi_r = scores["record_id_r"].map(index.set_index("record_id")["chi"])
    vetoed = (chi_l.notna() & chi_r.notna() & (chi_l != chi_r)).to_numpy()
    scores = scores[~vetoed].sort_values(["record_id_l", "match_weight"], ascending=[True, False])
    best = scores.groupby("record_id_l", sort=False).head(1).set_index("record_id_l")
    runner = scores.groupby("record_id_l", sort=False).nth(1).set_index("record_id_l")["match_weight"]

    out = pd.DataFrame({"record_id": source["record_id"]}).set_index("record_id", drop=False)
    out["matched_record_id"] = pd.Series(dtype="string")
    out["method"], out["band"] = pd.NA, NONE
    out["match_weight"], out["match_probability"], out["runner_up_weight"] = np.nan, np.nan, np.nan
    b = best.reindex(out.index)
    has = b["record_id_r"].notna()
    out.loc[has, "matched_record_id"] = b.loc[has, "record_id_r"]
    out.loc[has, "match_weight"] = b.loc[has, "match_weight"]
    out.loc[has, "match_probability"] = b.loc[has, "match_probability"]
    out["runner_up_weight"] = runner.reindex(out.index)
    lead_ok = (out["match_weight"] - out["runner_up_weight"].fillna(-np.inf)) >= t.min_lead
    p = out["match_probability"]
    out.loc[has, "method"] = PROBABILISTIC
    out.loc[has & (p >= t.upper) & lead_ok, "band"] = AUTO
    out.loc[has & (p >= t.lower) & ~((p >= t.upper) & lead_ok), "band"] = REVIEW
    d = det.set_index("record_id_l")
    out.loc[d.index, ["matched_record_id", "method", "band"]] = np.column_stack(
        [d["record_id_r"], np.full(len(d), DETERMINISTIC), np.full(len(d), AUTO)]
    )
    out.loc[d.index, ["match_weight", "match_probability"]] = [np.inf, 1.0]
    out.loc[out["band"] == NONE, ["matched_record_id", "method"]] = pd.NA
    out["matched_chi"] = out["matched_record_id"].map(index.set_index("record_id")["chi"])
    out.loc[out["band"] != AUTO, "matched_chi"] = pd.NA
    log.info("Linked %d source record(s): %s", len(out), band_counts(out))
    return out.reset_index(drop=True)


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame(
        {"record_id_l": pd.Series(dtype="string"), "record_id_r": pd.Series(dtype="string"),
         "match_weight": pd.Series(dtype=float), "match_probability": pd.Series(dtype=float)}
    )  # fmt: skip


def band_counts(result: pd.DataFrame) -> dict[str, int]:
    """Counts per method and band (for logs and the audit trail; never values)."""
    keys = result["method"].fillna("none").astype(str) + ":" + result["band"].astype(str)
    return {k: int(v) for k, v in sorted(keys.value_counts().items())}

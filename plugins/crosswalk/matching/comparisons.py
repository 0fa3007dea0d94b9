"""The person model's comparisons, as Splink comparison levels.

Splink is imported inside each function: the matching modules are imported by the DAG files' flows,
which must not pull Splink in while the bundle is parsed.
"""

from __future__ import annotations

from crosswalk.matching.normalise import IDENTIFIER, POSTCODE_PARTS

# Our own SQL is written for DuckDB and translated for another engine by Splink (through sqlglot): written with
# functions both know under a name sqlglot maps (array_intersect, not DuckDB's list_intersect).
SQL = "duckdb"


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
        base_dialect_str=SQL,
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
            cll.CustomLevel(f"{days} <= 30.4375", label_for_charts="Within a month", base_dialect_str=SQL),
            cll.CustomLevel(f"{days} <= 365.25", label_for_charts="Within a year", base_dialect_str=SQL),
            cll.CustomLevel(f"{days} <= 3652.5", label_for_charts="Within ten years", base_dialect_str=SQL),
            cll.ElseLevel(),
        ],
    )


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
        f"case when {possible} then array_length(array_intersect(address_tokens_l, address_tokens_r)) >= {k} "
        "else false end",
        label_for_charts=f"{k} words in common",
        base_dialect_str=SQL,
    )


def identifier_comparison(col: str):
    """An identifier both sides hold (the CHI as typed; a council client number, a National Insurance
    number as ``local_id``): exact, or one character out (a typo). Evidence like any field, never a veto
    (the veto reads only valid CHIs)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            one_character_out(col),
            cll.ElseLevel(),
        ],
    )


def model_columns(optional: frozenset[str], *, sex: bool = False) -> list[str]:
    """The prepared columns the model reads."""
    return [
        "record_id", "forename", "surname", "date_of_birth", "birth_day", *(["sex"] if sex else []),
        "postcode", *POSTCODE_PARTS,
        *(["address", "address_tokens", "address_signature", "address_crowded"] if "address" in optional else []),
        *(["local_id"] if "local_id" in optional else []),
        *([IDENTIFIER] if IDENTIFIER in optional else []),
    ]  # fmt: skip


def comparisons(optional: frozenset[str], *, sex: bool = False) -> list:
    """The person model's comparisons: names (term-frequency adjusted, either way round), date of birth,
    optionally sex, postcode (with the address, when both sides carry one), the optional identifier, and
    the CHI as typed where both sides hold CHIs."""
    import splink.comparison_library as cl

    return [
        name_comparison("forename", "surname"),
        name_comparison("surname", "forename"),
        dob_comparison(),
        *([cl.ExactMatch("sex")] if sex else []),
        location_comparison() if "address" in optional else postcode_comparison(),
        *([identifier_comparison("local_id")] if "local_id" in optional else []),
        *([identifier_comparison(IDENTIFIER)] if IDENTIFIER in optional else []),
    ]

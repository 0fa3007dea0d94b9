"""The person columns and their normal form: what every matching stage reads.

Both sides come as DataFrames of the documented person columns (:data:`PERSON_COLUMNS`):
``record_id, chi_number, forename, surname, date_of_birth, sex, postcode``, and optionally ``address``
and ``local_id`` (another identifier both sides hold; each compared only when both sides carry it).
:func:`prepare` normalises them once per record, so that scoring compares ready columns. Pure pandas
and Arrow: no Splink, no database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crosswalk.identifiers import SPACES, VALID, chi_status_of_normalised, normalise

PERSON_COLUMNS = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode"]


OPTIONAL_COLUMNS = ("address", "local_id")


def person_columns(frame: pd.DataFrame) -> list[str]:
    """The documented person columns, and the optional ones this frame carries."""
    return [*PERSON_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame.columns)]


IDENTIFIER = "chi_digits"  # the CHI as typed (ten digits, valid or not): model evidence, never a veto


def optional_columns(*frames: pd.DataFrame) -> frozenset[str]:
    """The optional person columns every side carries: each is compared only then. On prepared frames, also
    the CHI as evidence where every side holds some (an index without CHIs has nothing to compare)."""
    have = {c for c in OPTIONAL_COLUMNS if all(c in f.columns for f in frames)}
    if all(IDENTIFIER in f.columns and f[IDENTIFIER].notna().any() for f in frames):
        have.add(IDENTIFIER)
    return frozenset(have)


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
    # Any ten digits, valid or not: a CHI one keystroke out is strong evidence to the model, though no rule's.
    out[IDENTIFIER] = chi.where(chi.str.fullmatch(r"\d{10}").fillna(False))
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

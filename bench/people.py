"""A hard synthetic population for the matching benchmark, with the truth kept aside.

Fictional names from syllables, with a realistic spread: the commonest surname about 1.6% of people and
the commonest forename about 2.5%, then a long tail (Zipf over some 8,000 surnames and 5,000 forenames).
Households share surname, address and postcode; twins share surname, birthday and address. A
social-care extract is drawn from the population with the defects real extracts have: CHI missing for
half, typos in names, day and month swapped, moved addresses, missing postcodes, and duplicate records
of the same person. Deterministic for a seed; numpy throughout, so 1M people take seconds.

Until this version the pools were 588 surnames and 756 forenames on a steeper curve, so that one person
in six shared the commonest surname: at 1M the same full name and birthday then belonged to different
people so often that no model could tell them apart (bench/README.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_A = ["mac", "ker", "dun", "ben", "stra", "glen", "craig", "inver", "kil", "bal", "ard", "loch", "ross", "fair",
      "mor", "cal", "dal", "blair", "brae", "car", "drum", "tor", "lin", "auch"]  # fmt: skip
_M = ["", "er", "an", "el", "ing", "ow", "ar", "is"]
_B = ["ton", "more", "dale", "wick", "ford", "ley", "burn", "side", "law", "shaw", "field", "gow", "lie", "rie"]
_F = ["ai", "an", "be", "ca", "do", "el", "fi", "gr", "is", "ja", "ka", "le", "ma", "no", "ol", "ro", "sa", "ta"]
_N = ["", "li", "ri", "an"]
_G = ["la", "na", "ra", "sie", "lyn", "don", "ric", "ton", "bel", "dra", "ven", "mo", "rin", "ssa"]
_STREET = ["Street", "Road", "Avenue", "Crescent", "Place", "Drive", "Court", "Gardens", "Terrace", "Wynd"]


def _pool(*parts: list[str]) -> np.ndarray:
    out = {""}
    for part in parts:
        out = {a + b for a in out for b in part}
    return np.array(sorted(name.capitalize() for name in out if len(name) > 2))


def _names(rng, pool: np.ndarray, n: int, exponent: float) -> np.ndarray:
    """Zipf-distributed names: a few common, a long tail of rare ones."""
    pool = pool[rng.permutation(len(pool))]
    weights = 1.0 / np.arange(1, len(pool) + 1) ** exponent
    return rng.choice(pool, n, p=weights / weights.sum())


def _postcodes(rng, n: int) -> np.ndarray:
    district = rng.integers(1, 99, n).astype(str)
    unit = np.array(["".join(x) for x in rng.choice(list("ABDEFGHJLNPQRSTUWXYZ"), (n, 2))])
    return np.char.add(
        np.char.add(np.char.add("NS", district), " "), np.char.add(rng.integers(1, 9, n).astype(str), unit)
    )


def _addresses(rng, n: int) -> np.ndarray:
    streets = _pool(_A, _B)
    street = np.char.add(np.char.add(rng.choice(streets, n), " "), rng.choice(_STREET, n))
    return np.char.add(np.char.add(rng.integers(1, 200, n).astype(str), " "), street)


def _chi(rng, dob: pd.Series, sex: np.ndarray) -> np.ndarray:
    """A valid CHI per person, unique, as the CHI register allocates them: the date of birth (DDMMYY), then among
    that date's numbers of the person's sex (serial 00-99, sex digit odd for men, even for women) one no one else
    holds, in a random order, skipping the bodies whose check digit would be 10. At Scotland's size a date has
    about 150 people and each sex 455 valid numbers: drawing serials at random instead gave hundreds of
    thousands of people another's CHI, which no register does."""
    weights = np.arange(10, 1, -1)
    body = dob.dt.strftime("%d%m%y").to_numpy().astype(str)
    frame = pd.DataFrame({"body": body, "male": sex == "M"})
    # Each person's rank within (date, sex), in a random order: the k-th person takes the k-th free number.
    frame["rank"] = frame.assign(r=rng.random(len(frame))).groupby(["body", "male"])["r"].rank(method="first")
    frame["rank"] = frame["rank"].astype(int) - 1
    # The valid (serial, sex digit) choices of each sex, shuffled once, and their weighted sums.
    choices = {}
    for male in (True, False):
        digits = [1, 3, 5, 7, 9] if male else [0, 2, 4, 6, 8]
        pairs = np.array([(serial, d) for serial in range(100) for d in digits])
        choices[male] = pairs[rng.permutation(len(pairs))]
    date_sum = np.array([list(b) for b in body], dtype=int) @ weights[:6]
    rank = frame["rank"].to_numpy()
    serial, digit = np.zeros(len(frame), dtype=int), np.zeros(len(frame), dtype=int)
    for male in (True, False):
        pairs = choices[male]
        tail = np.column_stack([pairs[:, 0] // 10, pairs[:, 0] % 10, pairs[:, 1]]) @ weights[6:]
        # Whether a check digit is 10 depends only on the date's weighted sum mod 11: eleven lists per sex.
        for residue in range(11):
            rows = np.flatnonzero((frame["male"].to_numpy() == male) & (date_sum % 11 == residue))
            usable = np.flatnonzero((11 - (residue + tail) % 11) != 10)
            if len(rows) and rank[rows].max() >= len(usable):
                raise ValueError("more people share a date of birth and sex than the CHI has numbers for")
            serial[rows], digit[rows] = pairs[usable[rank[rows]], 0], pairs[usable[rank[rows]], 1]
    check = 11 - (date_sum + (serial // 10) * 4 + (serial % 10) * 3 + digit * 2) % 11
    check = np.where(check == 11, 0, check)
    return np.char.add(np.char.add(np.char.add(body, np.char.zfill(serial.astype(str), 2)), digit.astype(str)),
                       check.astype(str))  # fmt: skip


def population(n: int, seed: int = 1) -> pd.DataFrame:
    """The index: one row per person (``person`` is the truth key)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F"], n)
    surname = _names(rng, _pool(_A, _M, _B, ["", "s", "son"]), n, 0.65)
    forename = _names(rng, _pool(_F, _N, _G, ["", "a", "ie", "y", "o"]), n, 0.7)
    dob = pd.Series(pd.to_datetime("1920-01-01") + pd.to_timedelta(rng.integers(0, 36000, n), unit="D"))
    postcode, address = _postcodes(rng, n), _addresses(rng, n)
    # Households: 30% of people join the previous person's household (surname, address and postcode).
    joins = np.flatnonzero(rng.random(n) < 0.3)
    joins = joins[joins > 0]
    for col in (surname, postcode, address):
        col[joins] = col[joins - 1]
    # Twins: 2% share surname, birthday, address and postcode with the previous person.
    twins = np.flatnonzero(rng.random(n) < 0.02)
    twins = twins[twins > 0]
    for col in (surname, postcode, address):
        col[twins] = col[twins - 1]
    dob.iloc[twins] = dob.iloc[twins - 1].to_numpy()
    chi = _chi(rng, dob, sex)
    return pd.DataFrame(
        {"person": np.arange(n), "record_id": chi, "chi_number": chi, "forename": forename, "surname": surname,
         "date_of_birth": dob.dt.strftime("%Y-%m-%d"), "sex": sex, "postcode": postcode, "address": address}
    )  # fmt: skip


def _typo(rng, names: np.ndarray) -> np.ndarray:
    out = names.astype(object).copy()
    for i, name in enumerate(out):
        if len(name) < 3:
            continue
        k = rng.integers(1, len(name) - 1)
        kind = rng.integers(0, 3)
        out[i] = (
            (name[:k] + name[k + 1 :])
            if kind == 0
            else (name[:k] + name[k + 1] + name[k] + name[k + 2 :])
            if kind == 1
            else (name[:k] + "aeiou"[rng.integers(0, 5)] + name[k + 1 :])
        )
    return out


def extract(pop: pd.DataFrame, fraction: float = 0.5, duplicates: float = 0.1, seed: int = 2) -> pd.DataFrame:
    """A social-care extract of ``fraction`` of the population, with defects and duplicate records."""
    rng = np.random.default_rng(seed)
    rows = pop.sample(frac=fraction, random_state=seed)
    dups = rows.sample(frac=duplicates, random_state=seed + 1)
    src = pd.concat([rows, dups], ignore_index=True)
    n = len(src)
    src["record_id"] = [f"S{i:08d}" for i in range(n)]
    src.loc[rng.random(n) < 0.5, "chi_number"] = ""  # identifiers missing for half
    for col in ("forename", "surname"):
        hit = rng.random(n) < 0.08
        src.loc[hit, col] = _typo(rng, src.loc[hit, col].to_numpy())
    dob = pd.to_datetime(src["date_of_birth"])
    swap = (rng.random(n) < 0.03) & (dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)
    src.loc[swap, "date_of_birth"] = (
        dob[swap].dt.year.astype(str)
        + "-"
        + dob[swap].dt.day.map("{:02d}".format)
        + "-"
        + dob[swap].dt.month.map("{:02d}".format)
    )
    moved = rng.random(n) < 0.08  # a new address and postcode
    src.loc[moved, "postcode"] = _postcodes(rng, int(moved.sum()))
    src.loc[moved, "address"] = _addresses(rng, int(moved.sum()))
    src.loc[rng.random(n) < 0.1, "postcode"] = ""
    src.loc[rng.random(n) < 0.05, "address"] = ""
    return src

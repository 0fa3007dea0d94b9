"""A hard synthetic population for the matching benchmark, with the truth kept aside.

Fictional names from syllables (a long tail, like real names, plus very common ones), households
sharing surname and postcode, twins (same surname, birthday and address), and a social-care extract
drawn from the population with the defects real extracts have: CHI missing for half, typos in names,
day and month swapped, moved addresses, missing postcodes, and duplicate records of the same person.
Deterministic for a seed; numpy throughout, so 1M people take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_A = ["mac", "ker", "dun", "ben", "stra", "glen", "craig", "inver", "kil", "bal", "ard", "loch", "ross", "fair"]
_B = ["ton", "more", "dale", "wick", "ford", "ley", "burn", "side", "law", "shaw", "field", "gow", "lie", "rie"]
_F = ["ai", "an", "be", "ca", "do", "el", "fi", "gr", "is", "ja", "ka", "le", "ma", "no", "ol", "ro", "sa", "ta"]
_G = ["la", "na", "ra", "sie", "lyn", "don", "ric", "ton", "bel", "dra", "ven", "mo", "rin", "ssa"]


def _names(rng, first: list[str], second: list[str], n: int) -> np.ndarray:
    """Zipf-distributed fictional names: a few very common, a long tail of rare ones."""
    pool = np.array(sorted({(a + b + c).capitalize() for a in first for b in second for c in ("", "s", "son")}))
    pool = pool[rng.permutation(len(pool))]
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 1.1
    return rng.choice(pool, n, p=weights / weights.sum())


def _chi(rng, dob: pd.Series, sex: np.ndarray) -> np.ndarray:
    serial = rng.integers(0, 100, len(dob))
    sexdigit = np.where(sex == "M", rng.choice([1, 3, 5, 7, 9], len(dob)), rng.choice([0, 2, 4, 6, 8], len(dob)))
    body = dob.dt.strftime("%d%m%y").to_numpy().astype(str)
    digits = np.array([list(b) for b in body], dtype=int)
    nine = np.column_stack([digits, serial // 10, serial % 10, sexdigit])
    check = 11 - (nine @ np.arange(10, 1, -1)) % 11
    check = np.where(check == 11, 0, check)
    ok = check != 10
    nine[~ok, 8] = (nine[~ok, 8] + 2) % 10  # keep the sex parity, move off the invalid check
    check = 11 - (nine @ np.arange(10, 1, -1)) % 11
    check = np.where(check == 11, 0, check)
    assert (check != 10).all()
    return np.array(["".join(map(str, r)) + str(c) for r, c in zip(nine, check, strict=True)])


def population(n: int, seed: int = 1) -> pd.DataFrame:
    """The index: one row per person (``person`` is the truth key)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F"], n)
    surname = _names(rng, _A, _B, n)
    forename = _names(rng, _F, _G, n)
    dob = pd.Series(pd.to_datetime("1920-01-01") + pd.to_timedelta(rng.integers(0, 36000, n), unit="D"))
    postcode = np.char.add(
        np.char.add("NS", rng.integers(1, 99, n).astype(str)), np.char.add(" ", rng.integers(1, 9, n).astype(str))
    )
    postcode = np.char.add(postcode, np.array(["".join(x) for x in rng.choice(list("ABDEFGHJLNPQRSTUWXYZ"), (n, 2))]))
    # Households: 30% of people join the previous person's household (surname and postcode).
    joins = np.flatnonzero(rng.random(n) < 0.3)
    joins = joins[joins > 0]
    surname[joins], postcode[joins] = surname[joins - 1], postcode[joins - 1]
    # Twins: 2% share surname, birthday and postcode with the previous person.
    twins = np.flatnonzero(rng.random(n) < 0.02)
    twins = twins[twins > 0]
    surname[twins], postcode[twins] = surname[twins - 1], postcode[twins - 1]
    dob.iloc[twins] = dob.iloc[twins - 1].to_numpy()
    chi = _chi(rng, dob, sex)
    return pd.DataFrame(
        {"person": np.arange(n), "record_id": chi, "chi_number": chi, "forename": forename, "surname": surname,
         "date_of_birth": dob.dt.strftime("%Y-%m-%d"), "sex": sex, "postcode": postcode}
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
    moved = rng.random(n) < 0.08
    src.loc[moved, "postcode"] = "NS" + pd.Series(rng.integers(1, 99, moved.sum())).astype(str).to_numpy() + " 9ZZ"
    src.loc[rng.random(n) < 0.1, "postcode"] = ""
    return src

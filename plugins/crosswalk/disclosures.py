"""The per-person disclosure log: where has this person's data gone?

UK GDPR Article 15(1)(c) gives a data subject the right to know the recipients of their data, and Caldicott's
principles make IG answer for every flow. For every delivery and portal publication that carries record-level
data we keep the disclosure (recipient, time, agreement, version, level, the fields sent) and, per record, keyed
hashes of the person's identifiers: the CHI (the record's own, else the one matching linked it to), the NHS
number and the id in the sender's system. The key is our own (``keys.disclosure_key_conn_id``), never an
agreement's pseudonymisation key, so the log links to nothing a recipient holds; an identifier itself is never
stored. :func:`lookup` answers from the stores alone, without opening a delivered file.

Each record also keeps which of the sent fields held a value for it (a bitmask), so the answer names the fields
that person's record carried, not merely the fields of the file; and why it was included (the population rule
that admitted it: ``all``, ``matched`` or ``own_record``). Each disclosure keeps its recipient's population rule
as applied and how many people it withheld, by reason: counts, never who.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from crosswalk.columns import per_distinct
from crosswalk.identifiers import normalise
from crosswalk.staging.db import load_rows

CHI, NHS, SOURCE = "chi", "nhs", "source"
KINDS = (CHI, NHS, SOURCE)
HASH_HEX = 32  # 128 bits of HMAC-SHA256: no collision in any realistic register
PERSON_COLUMNS = ("disclosure_no", "chi_hash", "nhs_hash", "source_hash", "carried", "admitted")
DELIVERY, PORTAL = "delivery", "portal"


@dataclass(frozen=True)
class Disclosure:
    disclosure_id: str  # a delivery's file sha256, or a publication's id: the same disclosure recorded again replaces
    kind: str  # delivery | portal
    recipient: str
    feed_id: str
    batch_id: str
    agreement_id: str
    agreement_version: int
    level: int
    fields: tuple[str, ...]
    file_name: str
    disclosed_at: datetime
    population: dict | None = None  # the recipient's population rule as applied (crosswalk.config.models.population)

    @property
    def number(self) -> int:
        return number(self.disclosure_id)


def number(disclosure_id: str) -> int:
    """The disclosure's number in every row of its people: 60 bits of sha256 of its id (deterministic, so a
    disclosure recorded again has the same number; small, so 10M rows and their index stay small)."""
    return int(hashlib.sha256(disclosure_id.encode()).hexdigest()[:15], 16)


def normalised(kind: str, values: pd.Series) -> pd.Series:
    """An identifier as it is hashed: a CHI or NHS number as its ten digits (a CHI's lost leading zero
    restored), a source id stripped; missing or empty values stay missing."""
    if kind == CHI:
        return normalise(values, restore_leading_zero=True)
    if kind == NHS:
        digits = values.astype("string").str.replace(r"\D", "", regex=True)
        return digits.where(digits.str.len() == 10)
    stripped = values.astype("string").str.strip()
    return stripped.where(stripped.str.len() > 0)


def is_identifier(kind: str, value: str) -> bool:
    """Whether ``value`` normalises to an identifier of ``kind`` (what a lookup can find)."""
    return bool(normalised(kind, pd.Series([value], dtype=object)).notna().iloc[0])


def keyed(key: bytes, kind: str, values: pd.Series) -> pd.Series:
    """The keyed hash of each normalised identifier (``kind:value`` under HMAC-SHA256), hex, cut to 128 bits."""

    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        return hmac.digest(key, f"{kind}:{v}".encode(), "sha256")[: HASH_HEX // 2].hex()

    return pd.Series(per_distinct(normalised(kind, values), one), index=values.index, dtype=object)


def person_rows(
    key: bytes, disclosure_no: int, frame: pd.DataFrame, fields: tuple[str, ...], *, chi: pd.Series | None,
    id_column: str, admitted: pd.Series | str | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One row per record of ``frame`` (the rows the gate admitted, as staged): its keyed identifiers, which of
    ``fields`` held a value for it, and the rule that admitted it."""
    missing = pd.Series(pd.NA, index=frame.index, dtype=object)
    chi_values = chi if chi is not None else frame.get("chi_number", missing)
    why = admitted.to_numpy() if isinstance(admitted, pd.Series) else admitted
    return pd.DataFrame(
        {
            "disclosure_no": disclosure_no,
            "chi_hash": keyed(key, CHI, chi_values).to_numpy(),
            "nhs_hash": keyed(key, NHS, frame.get("nhs_number", missing)).to_numpy(),
            "source_hash": keyed(key, SOURCE, frame.get(id_column, missing)).to_numpy(),
            "carried": carried(frame, fields),
            "admitted": why,
        }
    )


def carried(frame: pd.DataFrame, fields: tuple[str, ...]) -> list[str]:
    """Per record, which of ``fields`` held a value: bit i for the i-th field, as hex (machine integers while
    they hold every bit; Python's beyond 63 fields)."""
    wide = len(fields) > 63
    mask = np.zeros(len(frame), dtype=object if wide else np.uint64)
    for i, name in enumerate(fields):
        col = frame.get(name, pd.Series(pd.NA, index=frame.index, dtype=object))
        held = (col.notna() & (col.astype("string").str.len() > 0)).fillna(False).to_numpy(dtype=bool)
        mask = mask + np.where(held, (1 << i) if wide else np.uint64(1 << i), 0 if wide else np.uint64(0))
    return [format(int(m), "x") for m in mask.tolist()]


def record(conn: Connection, d: Disclosure, rows: Iterable[pd.DataFrame], withheld=None) -> int:
    """Record ``d`` and its people (``rows``, from :func:`person_rows`) inside the caller's transaction, replacing
    any earlier record of the same disclosure (a retry or rerun records it once). ``withheld``: called once the
    rows are in, the people withheld by reason (counts). Returns the records counted."""
    forget(conn, [d.disclosure_id])
    conn.execute(
        text(
            "INSERT INTO disclosure (disclosure_no, disclosure_id, kind, recipient, feed_id, batch_id, agreement_id,"
            " agreement_version, level, fields, file_name, disclosed_at, records) VALUES (:no, :id, :kind,"
            " :recipient, :feed, :batch, :agreement, :version, :level, :fields, :file, :at, 0)"
        ),
        {"no": d.number, "id": d.disclosure_id, "kind": d.kind, "recipient": d.recipient, "feed": d.feed_id,
         "batch": d.batch_id, "agreement": d.agreement_id, "version": d.agreement_version, "level": d.level,
         "fields": json.dumps(list(d.fields)), "file": d.file_name, "at": d.disclosed_at},
    )  # fmt: skip
    records = sum(load_rows(conn, "disclosure_person", PERSON_COLUMNS, chunk) for chunk in rows)
    conn.execute(
        text("UPDATE disclosure SET records = :n, population = :p, withheld = :w WHERE disclosure_id = :id"),
        {"n": records, "id": d.disclosure_id, "p": json.dumps(d.population) if d.population else None,
         "w": json.dumps(withheld() if callable(withheld) else withheld or {})},
    )  # fmt: skip
    return records


def recorded(engine: Engine, disclosure_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM disclosure WHERE disclosure_id = :id"), {"id": disclosure_id})
        return found.first() is not None


def forget(conn: Connection, disclosure_ids: list[str]) -> None:
    for did in disclosure_ids:
        conn.execute(text("DELETE FROM disclosure_person WHERE disclosure_no = :n"), {"n": number(did)})
        conn.execute(text("DELETE FROM disclosure WHERE disclosure_id = :id"), {"id": did})


def purge(conn: Connection, before: datetime) -> dict[str, int]:
    """Remove disclosures made before ``before`` (the audit retention), and their people; the counts."""
    people = conn.execute(
        text(
            "DELETE FROM disclosure_person WHERE disclosure_no IN"
            " (SELECT disclosure_no FROM disclosure WHERE disclosed_at < :t)"
        ),
        {"t": before},
    ).rowcount
    gone = conn.execute(text("DELETE FROM disclosure WHERE disclosed_at < :t"), {"t": before}).rowcount
    return {"disclosures": gone, "person_rows": people}


@dataclass(frozen=True)
class Found:
    disclosed_at: datetime
    kind: str
    recipient: str
    agreement_id: str
    agreement_version: int
    level: int
    fields_carried: tuple[str, ...]
    file_name: str
    feed_id: str
    admitted: str | None = None  # why the person was included (the population rule that admitted them)
    population: dict | None = None  # the recipient's population rule, as the disclosure applied it


def lookup(engine: Engine, key: bytes, kind: str, value: str) -> list[Found]:
    """Every disclosure that carried the record of the person with this identifier, oldest first."""
    if kind not in KINDS:
        raise ValueError(f"an identifier is one of {', '.join(KINDS)}")
    digest = keyed(key, kind, pd.Series([value], dtype=object)).iloc[0]
    if digest is None:
        return []
    column = f"{kind}_hash"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.disclosed_at, d.kind, d.recipient, d.agreement_id, d.agreement_version, d.level, d.fields,"
                " d.file_name, d.feed_id, p.carried, p.admitted, d.population"
                " FROM disclosure_person p JOIN disclosure d"
                f" ON d.disclosure_no = p.disclosure_no WHERE p.{column} = :h AND p.{column} IS NOT NULL"
                " ORDER BY d.disclosed_at, d.file_name"
            ),
            {"h": digest},
        ).all()
    return [
        Found(_when(r.disclosed_at), r.kind, r.recipient, r.agreement_id, r.agreement_version, r.level,
              tuple(_carried(json.loads(r.fields), r.carried)), r.file_name, r.feed_id, r.admitted,
              json.loads(r.population) if r.population else None)
        for r in rows
    ]  # fmt: skip


def _when(value) -> datetime:
    """A stored time as a datetime (SQLite hands back text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _carried(fields: list[str], mask_hex: str) -> Iterator[str]:
    mask = int(mask_hex, 16)
    return (name for i, name in enumerate(fields) if mask >> i & 1)

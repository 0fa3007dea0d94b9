"""Identifiers back to the sender: for each record a partner sent, what matching found, instead of a register.

An ``identifiers_back`` feed returns to the partner that sent a matched feed (the council) one row per record of
its staged batch: its own id, the CHI the crosswalk linked it to (automatically or by a reviewer), the band,
method and reason code, the person's stable id, and what changed since the last return (``new``, ``changed``,
``unchanged``, ``withdrawn``: a CHI returned before that no longer stands after a split or a clerical
``no_match``). Clerical decisions are in the crosswalk, so they flow into the next return by construction.

The rows pass the same gate as every record-level disclosure (rows, then fields): a person on an objections or
restricted list the agreement names is withheld, and counted. What each return said of each record is kept as a
hash (``identifier_return``), so the next return can say what changed without keeping the identifiers again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from crosswalk.agreements.egress import EgressPlan
from crosswalk.agreements.population import Evidence, People, Tally, chi_digits
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed, OutboundFeed
from crosswalk.hashing import join_fields, sha256_hex
from crosswalk.pipeline.population import Released, evidence, population_detail, record_id_column
from crosswalk.staging import ledger
from crosswalk.staging.db import READ_ONLY, load_rows

NEW, CHANGED, UNCHANGED, WITHDRAWN = "new", "changed", "unchanged", "withdrawn"
COLUMNS = ("source_id", "chi_number", "match_band", "method", "reason", "person_id", "change")
_STATE = ("feed_id", "delivery_id", "source_record_id", "state_hash", "had_chi")
CHUNK = 50_000


def changes(now: pd.DataFrame, before: pd.DataFrame) -> pd.Series:
    """Each record's change since the last return (pure). ``now``: ``record_id, state_hash, has_chi``; ``before``:
    ``record_id, state_hash, had_chi`` of the last return (empty for the first)."""
    prev = before.set_index("record_id")
    old_hash = now["record_id"].map(prev["state_hash"]) if len(prev) else pd.Series(pd.NA, index=now.index)
    had = now["record_id"].map(prev["had_chi"]) if len(prev) else pd.Series(pd.NA, index=now.index)
    seen = old_hash.notna().to_numpy(dtype=bool)
    same = (old_hash.astype("string") == now["state_hash"].astype("string")).fillna(False).to_numpy(dtype=bool)
    lost = seen & (had.fillna(0).astype(int).to_numpy() == 1) & ~now["has_chi"].to_numpy(dtype=bool)
    out = np.where(~seen, NEW, np.where(same, UNCHANGED, np.where(lost, WITHDRAWN, CHANGED)))
    return pd.Series(out, index=now.index, dtype=object)


@dataclass
class IdentifierReturn:
    """The return for one staged batch of the matched feed, as it passes the gate; the same evidence and the same
    last return for every pass (the extract, then the disclosure log)."""

    cfg: ProjectConfig
    engine: Engine
    feed: OutboundFeed
    source: InboundFeed
    batch_id: str
    plan: EgressPlan
    evidence: Evidence
    before: pd.DataFrame  # the last completed return's state, by record
    tally: Tally = field(default_factory=Tally)
    malformed: dict[str, int] = field(default_factory=dict)
    state: list[pd.DataFrame] = field(default_factory=list)  # what this return says of each record sent, hashed
    changed: dict[str, int] = field(default_factory=dict)  # records returned, by change since the last return

    ids = "source_id"

    @classmethod
    def of(cls, cfg: ProjectConfig, engine: Engine, feed: OutboundFeed, batch_id: str, plan: EgressPlan):
        source = cfg.inbound(feed.source_feed)
        delivery_id = ledger.delivery_id_for(feed.id, batch_id)
        return cls(cfg, engine, feed, source, batch_id, plan, evidence(engine, cfg, source, plan),
                   last_return(engine, feed.id, other_than=delivery_id))  # fmt: skip

    def frames(self) -> Iterator[pd.DataFrame]:
        rid = record_id_column(self.cfg, self.source)
        sql = text(
            f"SELECT s.{rid}, c.matched_identifier, c.band, c.method, c.reason, c.cluster_id"
            f" FROM {self.source.target.table} s LEFT JOIN crosswalk c ON c.source_system = :f"
            f" AND c.source_record_id = s.{rid} WHERE s.batch_id = :b ORDER BY s.row_number"
        )
        with self.engine.connect().execution_options(stream_results=True, **{READ_ONLY: True}) as conn:
            result = conn.execute(sql, {"f": self.source.id, "b": self.batch_id})
            while rows := result.fetchmany(CHUNK):
                yield self._rows(pd.DataFrame(rows, columns=["rid", "chi", "band", "method", "reason", "pid"]))

    def _rows(self, raw: pd.DataFrame) -> pd.DataFrame:
        band = raw["band"].astype("string").fillna("none")
        chi = chi_digits(raw["chi"]).where(band == "auto")
        frame = pd.DataFrame(
            {
                "source_id": raw["rid"].astype("string").str.strip(),
                "chi_number": chi,
                "match_band": band,
                "method": raw["method"].astype("string").where(band != "none"),
                "reason": raw["reason"].astype("string"),
                "person_id": raw["pid"].astype("string"),
            },
        )
        hashes = sha256_hex(join_fields(frame[["chi_number", "match_band", "person_id"]], "\x1f"))
        now = pd.DataFrame({"record_id": frame["source_id"], "state_hash": hashes, "has_chi": chi.notna()})
        frame["change"] = changes(now, self.before)
        frame = frame.astype(object).where(frame.notna(), None)
        return frame.assign(_state_hash=hashes.to_numpy(), _has_chi=chi.notna().to_numpy())

    def released(self, frames: Iterable[pd.DataFrame] | None = None) -> Iterator[Released]:
        self.tally, self.malformed, self.state, self.changed = Tally(), {}, [], {}
        for frame in self.frames() if frames is None else frames:
            people = People(frame["source_id"].astype("string"), chi_digits(frame["chi_number"]), None,
                            own_records=True)  # fmt: skip
            out, bad, admission = self.plan.release(frame[list(COLUMNS)], people, self.evidence)
            self.tally.add(admission, len(frame))
            for k, v in bad.items():
                self.malformed[k] = self.malformed.get(k, 0) + v
            keep = admission.keep
            for k, v in frame["change"][keep].value_counts().items():
                self.changed[str(k)] = self.changed.get(str(k), 0) + int(v)
            self.state.append(pd.DataFrame({"record_id": frame["source_id"][keep].to_numpy(),
                                            "state_hash": frame["_state_hash"][keep].to_numpy(),
                                            "had_chi": frame["_has_chi"][keep].astype(int).to_numpy()}))  # fmt: skip
            kept = People(people.record_id[keep], people.chi[keep], None, own_records=True)
            yield Released(out, frame[list(COLUMNS)][keep], kept, admission)

    def detail(self) -> dict:
        order = (NEW, CHANGED, WITHDRAWN, UNCHANGED)
        return {**population_detail(self.plan, self.evidence, self.tally),
                "changes": {k: self.changed[k] for k in order if self.changed.get(k)}}  # fmt: skip

    def save_state(self, delivery_id: str) -> int:
        """Record what this return said of each record it carried, replacing an earlier attempt's record of it; only
        the last two returns are kept (the next compares with this one)."""
        frame = pd.concat(self.state, ignore_index=True) if self.state else pd.DataFrame(columns=list(_STATE[2:]))
        frame = frame.rename(columns={"record_id": "source_record_id"}).assign(
            feed_id=self.feed.id, delivery_id=delivery_id
        )
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM identifier_return WHERE feed_id = :f AND delivery_id = :d"),
                {"f": self.feed.id, "d": delivery_id},
            )
            n = load_rows(conn, "identifier_return", _STATE, frame[list(_STATE)])
            keep = [delivery_id, *_delivered(conn, self.feed.id, other_than=delivery_id)[:1]]
            conn.execute(
                text(
                    "DELETE FROM identifier_return WHERE feed_id = :f"
                    f" AND delivery_id NOT IN ({', '.join(f':k{i}' for i in range(len(keep)))})"
                ),
                {"f": self.feed.id, **{f"k{i}": k for i, k in enumerate(keep)}},
            )
        return n


def _delivered(conn, feed_id: str, other_than: str) -> list[str]:
    """The feed's completed deliveries, newest first, but ``other_than``."""
    return list(
        conn.execute(
            text(
                "SELECT delivery_id FROM delivery WHERE feed_id = :f AND status = :s AND delivery_id <> :d"
                " ORDER BY updated_at DESC, delivery_id DESC"
            ),
            {"f": feed_id, "s": ledger.DELIVERED, "d": other_than},
        ).scalars()
    )


def last_return(engine: Engine, feed_id: str, other_than: str) -> pd.DataFrame:
    """What the last completed return (but ``other_than``) said of each record: ``record_id, state_hash, had_chi``."""
    with engine.connect() as conn:
        done = _delivered(conn, feed_id, other_than)
        if not done:
            return pd.DataFrame(columns=["record_id", "state_hash", "had_chi"])
        rows = conn.execute(
            text(
                "SELECT source_record_id, state_hash, had_chi FROM identifier_return"
                " WHERE feed_id = :f AND delivery_id = :d"
            ),
            {"f": feed_id, "d": done[0]},
        ).all()
    frame = pd.DataFrame(rows, columns=["record_id", "state_hash", "had_chi"])
    frame["state_hash"] = frame["state_hash"].astype("string").str.strip()
    return frame

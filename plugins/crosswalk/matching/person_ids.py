"""Person ids that stay put from one run to the next.

Clustering names each cluster afresh (by its smallest record id, say), so a new record can rename a person
who did not change. Here each new cluster inherits the id of the earlier person most of its members had,
and only new evidence changes an id:

- a cluster whose members all had one id keeps it, whatever records join it;
- a **merge**: a cluster holding members of several earlier ids keeps the id with the most members (the
  earliest id on a tie) and each other id is retired into it;
- a **split**: an earlier id whose members now sit in several clusters stays with the part that has most
  of them; each other part gets a new id;
- a cluster of records never seen before gets a new id.

Each merge and split is returned as ``(kind, old id, new id, members)`` for the audit trail and the
partner's feedback. Pure: plain dicts in and out.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MERGE, SPLIT = "merge", "split"


@dataclass(frozen=True)
class IdChange:
    kind: str  # merge | split
    old_id: str
    new_id: str
    records: int  # how many records moved from old_id to new_id


def id_for(members: list[str]) -> str:
    """A new person's id, from its records: the same records give the same id, so a rerun names no one anew."""
    return "P" + hashlib.sha256("\x1f".join(sorted(members)).encode()).hexdigest()[:16]


def stable_ids(
    previous: Mapping[str, str], clusters: Mapping[str, str], new_id: Callable[[list[str]], str] = id_for
) -> tuple[dict[str, str], list[IdChange]]:
    """Person ids for ``clusters`` (record id -> this run's cluster label), given ``previous`` (record id ->
    person id from the last run). ``new_id(members)`` names a new person. Returns record id -> person id,
    and the merges and splits."""
    members: dict[str, list[str]] = defaultdict(list)
    for record, cluster in clusters.items():
        members[cluster].append(record)
    first = {c: min(rs) for c, rs in members.items()}  # each cluster's smallest record id, for ties and order
    # Which earlier ids each cluster holds, and how many of its members had each; and the other way round.
    held = {c: Counter(previous[r] for r in rs if r in previous) for c, rs in members.items()}
    holders: dict[str, list[str]] = defaultdict(list)
    for c, counts in held.items():
        for old in counts:
            holders[old].append(c)
    # Each earlier id goes to the cluster holding most of its members (ties: the cluster whose smallest
    # record id sorts first, so the choice does not depend on the order of the input). One pass over the
    # (cluster, id) pairs: a million records must not cost a search of every cluster per id.
    claim = {old: min(cs, key=lambda c, old=old: (-held[c][old], first[c])) for old, cs in holders.items()}
    assigned: dict[str, str] = {}
    changes: list[IdChange] = []
    for cluster in sorted(members, key=first.__getitem__):
        counts = held[cluster]
        mine = [old for old in counts if claim[old] == cluster]
        if mine:
            keep = min(mine, key=lambda old: (-counts[old], old))
            for old in sorted(set(mine) - {keep}):
                changes.append(IdChange(MERGE, old, keep, counts[old]))
        else:
            keep = new_id(members[cluster])
        for old in sorted(set(counts) - set(mine)):  # part of an earlier person that another cluster kept
            changes.append(IdChange(SPLIT, old, keep, counts[old]))
        for record in members[cluster]:
            assigned[record] = keep
    return assigned, changes

"""Complete drops in a partner's outbox: which files make one, from a listing of names.

Pure and light (no database, no pandas), so the inbound flow and the event trigger that watches
outboxes in the triggerer classify the same way.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from crosswalk.atomic import PART_SUFFIX
from crosswalk.config.loader import ProjectConfig
from crosswalk.manifest import MANIFEST_SUFFIX, SIGNATURE_SUFFIX, data_name, extract_name, signature_name


@dataclass(frozen=True)
class Drop:
    """A complete drop found in a partner's outbox. Small enough for XCom."""

    feed_id: str
    manifest_file: str
    data_file: str
    signature_file: str
    # Set from the listing by the inbound flow (the trigger's classification leaves them empty): the drop's
    # three files as listed (names, sizes, times) hashed, and when its last file arrived.
    drop_key: str = ""
    completed_at: int = 0

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Discovery:
    drops: list[Drop]
    waiting: list[str]  # data files whose manifest or signature has not arrived yet
    unrouted: list[str]  # files that match no feed of this partner


def _is_transient(name: str) -> bool:
    # Partner uploads in progress and editor/OS droppings are not drops.
    return name.startswith(".") or name.endswith(PART_SUFFIX)


def classify(names: Iterable[str], feed_id: str, file_pattern: str, partner_patterns: list[str]) -> Discovery:
    """Classify the file names in a partner's outbox for the feed ``feed_id`` (pure: the event trigger uses it too).

    A drop is complete when its data file, manifest and manifest signature are all present.
    """
    files = set(names)

    def extract_of(name: str) -> str:
        for suffix in (SIGNATURE_SUFFIX, MANIFEST_SUFFIX):
            name = name.removesuffix(suffix)
        return extract_name(name)

    drops, waiting, unrouted = [], [], []
    for name in sorted(n for n in files if not _is_transient(n)):
        extract = extract_of(name)
        if not any(fnmatch.fnmatchcase(extract, p) for p in partner_patterns):
            unrouted.append(name)
        elif fnmatch.fnmatchcase(extract, file_pattern) and name.endswith(MANIFEST_SUFFIX):
            drop = Drop(feed_id, name, data_name(name), signature_name(name))
            (drops if drop.signature_file in files else waiting).append(drop)
    waiting_names = [d.manifest_file for d in waiting]
    complete = {d.data_file for d in drops} | {d.data_file for d in waiting}
    waiting_names += [
        n
        for n in sorted(files)
        if not _is_transient(n)
        and not n.endswith((MANIFEST_SUFFIX, SIGNATURE_SUFFIX))
        and fnmatch.fnmatchcase(extract_of(n), file_pattern)
        and n not in complete
    ]
    return Discovery(drops, waiting_names, unrouted)


def partner_patterns(cfg: ProjectConfig, partner: str) -> list[str]:
    """The file patterns of every inbound feed from ``partner`` (a file matching none is unrouted)."""
    return [f.file_pattern for f in cfg.inbound_feeds() if f.partner == partner]

"""A trained person model, saved and reused: linking a day's delta needs no retraining.

A :class:`SavedModel` is Splink's own settings with their estimated m and u values and prior
(``linker.misc.save_model_to_json``), the optional columns it compares, a version (our rule set and a hash
of the settings: the same training gives the same version) and the training data's hash (what it was
trained on, as a hash of each record's person fields, never the fields). JSON in and out: a file for the
CLI, a row for a deployment. Retraining is a separate, deliberate call. A model is code (its comparison
levels and blocking rules are SQL that DuckDB runs): keep it where the config is kept, reviewed, never
where a partner can write.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from crosswalk.errors import ConfigError
from crosswalk.matching.decisions import MODEL_VERSION

PRIOR = "prior"  # the match weight before any comparison, in SavedModel.match_weights


@dataclass(frozen=True)
class SavedModel:
    version: str
    training_hash: str
    link_type: str  # link_only | dedupe_only
    optional: tuple[str, ...]  # the optional columns the model compares
    splink: dict  # Splink's settings with the trained parameters
    families: bool = True  # the index held families when trained (crosswalk.matching.families); unknown: assume so

    @classmethod
    def from_linker(
        cls, linker, link_type: str, optional: frozenset[str], frames: list[pd.DataFrame], families: bool = True
    ) -> SavedModel:
        settings = linker.misc.save_model_to_json()
        digest = hashlib.sha256(json.dumps([settings, families], sort_keys=True).encode()).hexdigest()[:16]
        version = f"{MODEL_VERSION}:{digest}"
        return cls(version, training_hash(frames), link_type, tuple(sorted(optional)), settings, families)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "model") -> SavedModel:
        try:
            doc = json.loads(text)
            return cls(
                doc["version"],
                doc["training_hash"],
                doc["link_type"],
                tuple(doc["optional"]),
                doc["splink"],
                bool(doc.get("families", True)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(where, "model", "not a saved Crosswalk model (crosswalk match train writes one)") from exc

    def save(self, path: Path) -> None:
        from crosswalk.atomic import write_text

        write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> SavedModel:
        return cls.from_json(path.read_text(), str(path))

    def match_weights(self) -> dict[str, float]:
        """What the model weighs, as Splink's match-weight chart shows it: ``prior`` (before any comparison), then
        each trained comparison level's weight, ``"<comparison>: <level>"`` (log2 of m/u; positive is evidence for
        the same person). Labels are the comparisons' own (column names and rules), never a value. Levels not
        trained (m or u unknown) are left out."""
        import math

        out: dict[str, float] = {}
        prior = self.splink.get("probability_two_random_records_match") or 0.0
        if 0 < prior < 1:
            out[PRIOR] = round(math.log2(prior / (1 - prior)), 3)
        for comparison in self.splink.get("comparisons", []):
            for level in comparison.get("comparison_levels", []):
                m, u = level.get("m_probability"), level.get("u_probability")
                if level.get("is_null_level") or not m or not u:
                    continue
                name = f"{comparison.get('output_column_name', '')}: {level.get('label_for_charts', '')}"
                out[name] = round(math.log2(m / u), 3)
        return out

    def check_columns(self, optional: frozenset[str]) -> None:
        """The frames must carry every optional column the model compares (it cannot score without them)."""
        missing = sorted(set(self.optional) - optional)
        if missing:
            raise ConfigError(
                f"model {self.version}",
                "optional",
                f"compares {', '.join(missing)}, which these records lack: retrain on them (crosswalk match train)",
            )


def training_hash(frames: list[pd.DataFrame]) -> str:
    """SHA-256 over the sorted record hashes of every prepared frame the model was trained on."""
    from crosswalk.hashing import join_fields, sha256_hex

    parts = []
    for frame in frames:
        cols = [c for c in ("record_id", "forename", "surname", "date_of_birth", "sex", "postcode") if c in frame]
        parts.append(sha256_hex(join_fields(frame[cols].astype("string"), "\x1f")))
    joined = "\n".join(sorted(pd.concat(parts, ignore_index=True).astype(str).tolist()))
    return hashlib.sha256(joined.encode()).hexdigest()

"""What a partner's inbox holds besides our receipts (they sit in its ``receipts`` folder)."""

from __future__ import annotations

from pathlib import Path

from crosswalk.pipeline.inbound import RECEIPTS_DIR


def inbox_entries(inbox: Path) -> list[Path]:
    """The inbox's entries, the receipts folder left out: deliveries, their manifests, feedback, partials."""
    return [p for p in inbox.iterdir() if p.name != RECEIPTS_DIR]

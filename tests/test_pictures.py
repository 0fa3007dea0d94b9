"""The pictures people look at instead of reading, rendered as they are seen, in headless Chromium: a review card's
evidence (Markdown, as Airflow's Required Actions show a card) and the go-live approval's preview of the table as
the public will see it. (The IG report's charts are rendered with the demo's report: tests/demo.) Each rendering
is kept in the artefacts; docs/ keeps one of each."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from crosswalk.pipeline.opendata import preview_markdown
from crosswalk.pipeline.review import waterfall_markdown
from tests.conftest import REPO
from tests.support.env import require

CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:60rem}table{border-collapse:collapse}"
    "th,td{border:1px solid #b1b4b6;padding:.25rem .5rem}"
)
BARS = "td:nth-child(3){font-family:monospace;color:#1d70b8}"  # the evidence column of a review card


def render(markdown: str, name: str, tmp_path: Path, css: str = "") -> Path:
    chromium = shutil.which("chromium")
    require(None if chromium else "chromium is not installed (apt-get install chromium)")
    html = tmp_path / f"{name}.html"
    html.write_text(f"<!doctype html><meta charset='utf-8'><style>{CSS}{css}</style>"
                    + MarkdownIt("commonmark").enable("table").render(markdown))  # fmt: skip
    out = Path(os.environ.get("CROSSWALK_ARTIFACTS", REPO / "build" / "artifacts")) / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=900,520", f"--screenshot={out}", html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 8_000  # a real rendering, not a blank page
    return out


@pytest.mark.server
def test_a_review_card_s_evidence_renders_as_a_picture(tmp_path):
    weights = {"prior": -7.9, "forename": 4.1, "surname": 4.4, "date_of_birth": 8.2, "postcode": 8.2,
               "chi_digits": 0.0}  # fmt: skip
    lines = waterfall_markdown(weights, visible={"forename", "surname", "postcode", "chi_number"})
    html_rows = MarkdownIt("commonmark").enable("table").render("\n".join(lines)).count("<tr>")
    assert html_rows == 1 + 6 + 1  # header, the prior and five comparisons (one folded), the total
    render("\n".join(["Is this the same person? Match probability 0.998, weight 17.0.", "", *lines]), "review-card",
           tmp_path, BARS)  # fmt: skip


@pytest.mark.server
def test_the_go_live_preview_renders_with_its_suppressed_cells_marked(tmp_path):
    table = pd.DataFrame({
        "month": ["2026-10"] * 6, "council_area": ["S12000099"] * 6,
        "age_band": ["0-17", "0-17", "18-64", "18-64", "All", "All"],
        "care_package_type": ["home care", "All", "home care", "All", "home care", "All"],
        "people": ["*", "10", "45", "220", "50", "230"],
    })  # fmt: skip
    md = preview_markdown(table)
    assert "| S12000099 / 0-17 | ✱ | 10 |" in md and md.splitlines()[0].endswith(
        "(✱ suppressed: 1 of the cells shown)."
    )
    assert "| council_area / age_band | home care | All |" in md  # the total last
    render(md, "go-live-preview", tmp_path)

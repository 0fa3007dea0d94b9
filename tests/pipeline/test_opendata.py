"""The open-data package: a valid Frictionless data package with licence, coverage, dictionary and guidance."""

from __future__ import annotations

import json
from datetime import date

import frictionless
import pandas as pd

from crosswalk.config.loader import load_config
from crosswalk.pipeline import opendata
from crosswalk.publish.disclosure import publish_table


def test_months_before_are_the_full_months_before_the_run():
    assert opendata.months_before(date(2026, 3, 15), 3) == [
        (date(2025, 12, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]  # fmt: skip


def test_the_package_validates_and_carries_licence_coverage_dictionary_and_guidance(tmp_path):
    cfg = load_config()
    feed = cfg.open_data("care-packages-open-data")
    counts = pd.DataFrame(
        [{"month": m, "council_area": "S12000099", "age_band": a, "care_package_type": t, "people": n}
         for m in ("2026-09", "2026-10") for a, t, n in [("18-64", "Home care", 3), ("18-64", "Day care", 40),
                                                         ("65-74", "Home care", 25), ("65-74", "Day care", 12)]]
    )  # fmt: skip
    table, report = publish_table(counts, by=["month", "council_area"], rows="age_band", cols="care_package_type")
    directory = tmp_path / "v1"
    opendata._write_package(cfg, feed, table, directory, "care_packages_by_area.csv", report, date(2026, 11, 21))
    assert frictionless.Package(str(directory / "datapackage.json")).validate().valid
    d = json.loads((directory / "datapackage.json").read_text())
    assert d["licenses"][0]["name"] == "OGL-UK-3.0"
    assert d["temporal_coverage"] == {"start": "2026-09", "end": "2026-10"} and d["update_frequency"] == "monthly"
    fields = {f["name"]: f["description"] for f in d["resources"][0]["schema"]["fields"]}
    assert set(fields) == {"month", "council_area", "age_band", "care_package_type", "people"} and all(fields.values())
    guidance = (directory / "README.md").read_text()
    assert "1 to 7 is not published" in guidance and "| `people` |" in guidance
    assert f"{report.primary} cell(s) were hidden" in guidance
    assert not list(tmp_path.glob(".v1-*"))  # the temporary directory was renamed into place

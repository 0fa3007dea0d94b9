"""The open-data package: a valid Frictionless data package with licence, coverage, dictionary and guidance."""

from __future__ import annotations

import json
from datetime import date

import frictionless
import pandas as pd
import pytest

from crosswalk.config.loader import load_config
from crosswalk.errors import FatalError
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
         for m in ("2026-09", "2026-10") for a, t, n in [("18-64", "home care", 3), ("18-64", "day care", 40),
                                                         ("65-74", "home care", 25), ("65-74", "day care", 12)]]
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


MARKER = "Ailsa MARKER-7Q Mcphee"  # a name a partner typed into a category field


def _portal_with(tmp_path, package_types: list[str]):
    """A portal view as the publish step leaves it: one row per person, dates ISO text."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE pub_social_care_summary (chi_number TEXT, date_of_birth TEXT,"
                          " care_package_type TEXT, care_package_start TEXT, care_package_end TEXT)"))  # fmt: skip
        for i, t in enumerate(package_types):
            conn.execute(
                text("INSERT INTO pub_social_care_summary VALUES (:c, '1950-01-01', :t, '2026-01-01', NULL)"),
                {"c": f"{i:010d}", "t": t},
            )
    return engine


def test_partner_text_outside_the_code_list_is_counted_under_other_never_published(tmp_path):
    cfg = load_config()
    feed = cfg.open_data("care-packages-open-data")
    hostile = [MARKER, '=HYPERLINK("http://x")', "Home Care ", "home care", "home care", "telecare"]
    counts, outside = opendata.aggregate(cfg, _portal_with(tmp_path, hostile), feed, date(2026, 11, 26))
    # Three of six people carry a value outside the code list (case and spacing count as outside), in each of
    # the 10 months (January to October 2026) their packages were in place; the two months before had none.
    assert feed.months == 12 and outside == 3 * 10
    assert set(counts["care_package_type"]) == {"day care", "home care", "residential", "respite", "telecare", "Other"}
    month = counts[(counts["month"] == "2026-10") & (counts["age_band"] == "75-84")]
    assert dict(zip(month["care_package_type"], month["people"], strict=True))["Other"] == 3
    table, report = publish_table(counts, by=["month", "council_area"], rows="age_band", cols="care_package_type")
    directory = tmp_path / "v1"
    opendata._write_package(cfg, feed, table, directory, "care_packages_by_area.csv", report, date(2026, 11, 26))
    published = (directory / "care_packages_by_area.csv").read_text()
    assert "MARKER" not in published and "HYPERLINK" not in published and "Home Care" not in published
    assert frictionless.Package(str(directory / "datapackage.json")).validate().valid


def test_a_code_list_without_other_stops_the_run_before_anything_is_published():
    from crosswalk.publish import codelists

    with pytest.raises(codelists.OutsideCodeList, match="1 value"):
        codelists.to_code_list(pd.Series(["a", MARKER, None]), ["a", "b"], "care_package_type")
    with pytest.raises(FatalError, match="formula"):
        codelists.refuse_formula_cells(pd.DataFrame({"x": ["5", "@SUM(A1)"]}))


def test_an_open_data_schema_needs_a_code_list_or_a_pattern_on_every_field():
    from crosswalk.publish.codelists import open_data_field_problems
    from crosswalk.schemas.tableschema import parse_table_schema

    schema = parse_table_schema(
        "agg",
        {"fields": [{"name": "area", "type": "string", "description": "d"},
                    {"name": "kind", "type": "string", "description": "d", "constraints": {"enum": ["ok", "=cmd"]}},
                    {"name": "n", "type": "string", "description": "d", "constraints": {"pattern": "[0-9]+"}}]},
        "agg.json",
    )  # fmt: skip
    problems = open_data_field_problems(schema)
    assert len(problems) == 2
    assert "agg.area" in problems[0] and "code list" in problems[0] and "formula" in problems[1]
    assert open_data_field_problems(load_config().schemas["care_packages_by_area"]) == []

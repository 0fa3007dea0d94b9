"""The CKAN target against the Action API stand-in (tests/support/ckan.py): create, then patch on a
republish (no duplicate resources), the DataStore with the data dictionary, and refusals."""

from __future__ import annotations

import json

import pytest

from crosswalk.publish import ckan
from tests.support.ckan import CKAN_TOKEN as TOKEN


def _package(tmp_path, rows: list[tuple[str, str]]):
    d = tmp_path / "v1"
    d.mkdir(exist_ok=True)
    (d / "t.csv").write_text("month,people\n" + "".join(f"{m},{p}\n" for m, p in rows))
    (d / "README.md").write_text("# Guidance\n")
    (d / "datapackage.json").write_text(
        json.dumps(
            {
                "name": "t",
                "title": "T",
                "description": "d",
                "version": "1",
                "licenses": [{"name": "OGL-UK-3.0"}],
                "update_frequency": "monthly",
                "temporal_coverage": {"start": "2026-01", "end": "2026-02"},
                "resources": [
                    {
                        "name": "t",
                        "path": "t.csv",
                        "schema": {
                            "fields": [
                                {"name": "month", "type": "string", "description": "Month."},
                                {"name": "people", "type": "string", "description": "People, rounded."},
                            ],
                            "primaryKey": ["month"],
                        },
                    }
                ],
            }
        )
    )
    return str(d)


def test_publish_creates_then_patches_and_fills_the_datastore_with_the_dictionary(ckan_portal, tmp_path):
    stand_in, url = ckan_portal
    first = ckan.publish(
        url,
        TOKEN,
        organization="northshire-hscp",
        dataset="care-packages",
        package_dir=_package(tmp_path, [("2026-01", "10"), ("2026-02", "*")]),
    )
    again = ckan.publish(
        url,
        TOKEN,
        organization="northshire-hscp",
        dataset="care-packages",
        package_dir=_package(tmp_path, [("2026-01", "15"), ("2026-02", "*")]),
    )
    assert first.dataset_id == again.dataset_id and first.resources == again.resources
    [package] = stand_in.packages.values()
    assert package["license_id"] == "OGL-UK-3.0" and package["owner_org"] == "northshire-hscp"
    assert sorted(r["name"] for r in package["resources"]) == ["README.md", "datapackage.json", "t.csv"]
    assert stand_in.files[first.resources["t.csv"]].startswith(b"month,people\n2026-01,15")
    table = stand_in.datastore[first.resources["t.csv"]]
    assert table["primary_key"] == ["month"]
    assert {f["id"]: f["info"]["notes"] for f in table["fields"]} == {"month": "Month.", "people": "People, rounded."}
    assert sorted(table["records"].values(), key=lambda r: r["month"]) == [
        {"month": "2026-01", "people": "15"},
        {"month": "2026-02", "people": "*"},
    ]
    assert stand_in.calls.count("package_create") == 1 and stand_in.calls.count("resource_patch") == 3


def test_usage_reads_the_portal_tracking(ckan_portal, tmp_path):
    stand_in, url = ckan_portal
    ckan.publish(
        url,
        TOKEN,
        organization="northshire-hscp",
        dataset="care-packages",
        package_dir=_package(tmp_path, [("2026-01", "10")]),
    )
    stand_in.tracking["care-packages"] = 42
    usage = ckan.usage(url, TOKEN, "care-packages")
    assert usage["dataset_views_total"] == 42 and usage["downloads_total:t.csv"] == 21


def test_the_stand_in_refuses_what_ckan_refuses(ckan_portal, tmp_path):
    from ckanapi import NotAuthorized, NotFound, RemoteCKAN, ValidationError

    _, url = ckan_portal
    with pytest.raises(NotAuthorized):
        ckan.publish(url, "wrong", organization="northshire-hscp", dataset="x1", package_dir=_package(tmp_path, []))
    with pytest.raises(ValidationError):
        ckan.publish(url, TOKEN, organization="no-such-org", dataset="x1", package_dir=_package(tmp_path, []))
    with RemoteCKAN(url, apikey=TOKEN) as c:
        with pytest.raises(ValidationError):
            c.action.package_create(name="Not A Slug", owner_org="northshire-hscp")
        with pytest.raises(NotFound):
            c.action.package_show(id="missing")
        p = c.action.package_create(name="ok-name", owner_org="northshire-hscp", title="t")
        r = c.action.resource_create(package_id=p["id"], name="a", url="http://example.invalid/a.csv")
        c.action.datastore_create(resource_id=r["id"], fields=[{"id": "a"}], primary_key=["a"], force=True)
        with pytest.raises(ValidationError):
            c.action.datastore_upsert(resource_id=r["id"], records=[{"a": "1", "b": "2"}], method="upsert", force=True)
        with pytest.raises(ValidationError):
            c.action.resource_create(package_id=p["id"], name="no file or url")

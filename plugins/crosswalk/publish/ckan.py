"""Publish a staged open-data package to CKAN through its Action API (``ckanapi``), and read usage back.

The dataset is created or patched by name; its files (the CSV, ``datapackage.json``, the guidance)
are uploaded as resources, created or patched by name so a republish replaces them rather than
adding copies; the table goes into the DataStore with the data dictionary in each field's ``info``,
upserted on the table's primary key. Usage comes from ``package_show`` with ``include_tracking``
where the portal has tracking on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RESOURCE_FORMATS = {".csv": "CSV", ".json": "JSON", ".md": "Markdown"}


@dataclass(frozen=True)
class CkanPublished:
    dataset_id: str
    dataset_url: str
    resources: dict[str, str]  # file name -> resource id
    datastore_rows: int


def publish(url: str, token: str, *, organization: str, dataset: str, package_dir: str) -> CkanPublished:
    from ckanapi import NotFound, RemoteCKAN

    directory = Path(package_dir)
    descriptor = json.loads((directory / "datapackage.json").read_text())
    table = descriptor["resources"][0]
    extras = [
        {"key": "update_frequency", "value": descriptor.get("update_frequency", "")},
        {"key": "temporal_coverage_start", "value": descriptor.get("temporal_coverage", {}).get("start", "")},
        {"key": "temporal_coverage_end", "value": descriptor.get("temporal_coverage", {}).get("end", "")},
        {"key": "crosswalk_version", "value": descriptor.get("version", "")},
    ]
    meta = {
        "title": descriptor["title"],
        "notes": descriptor.get("description", ""),
        "owner_org": organization,
        "license_id": descriptor["licenses"][0]["name"],
        "version": descriptor.get("version", ""),
        "extras": extras,
    }
    with RemoteCKAN(url, apikey=token, user_agent="crosswalk") as ckan:
        try:
            package = ckan.action.package_show(id=dataset)
            package = ckan.action.package_patch(id=package["id"], **meta)
        except NotFound:
            package = ckan.action.package_create(name=dataset, **meta)
        existing = {r["name"]: r["id"] for r in package.get("resources", [])}
        resources = {}
        for path in sorted(directory.iterdir()):
            fields = {
                "name": path.name,
                "format": RESOURCE_FORMATS.get(path.suffix, ""),
                "description": _describe(path.name, table["path"]),
            }
            with path.open("rb") as upload:
                if path.name in existing:
                    r = ckan.action.resource_patch(id=existing[path.name], upload=upload, **fields)
                else:
                    r = ckan.action.resource_create(package_id=package["id"], upload=upload, **fields)
            resources[path.name] = r["id"]
        csv_id = resources[table["path"]]
        schema = table["schema"]
        ckan.action.datastore_create(
            resource_id=csv_id,
            force=True,
            primary_key=schema["primaryKey"],
            fields=[
                {"id": f["name"], "type": "text", "info": {"label": f["name"], "notes": f["description"]}}
                for f in schema["fields"]
            ],
        )
        records = pd.read_csv(directory / table["path"], dtype=str, keep_default_na=False).to_dict("records")
        for start in range(0, len(records), 5000):
            ckan.action.datastore_upsert(
                resource_id=csv_id, force=True, method="upsert", records=records[start : start + 5000]
            )
    return CkanPublished(package["id"], f"{url.rstrip('/')}/dataset/{dataset}", resources, len(records))


def _describe(name: str, csv_name: str) -> str:
    if name == csv_name:
        return "The data, after disclosure control."
    if name == "datapackage.json":
        return "Frictionless data package: table schema, licence, coverage."
    return "Guidance: what the figures mean and how they are protected."


def usage(url: str, token: str, dataset: str) -> dict[str, int]:
    """Views and downloads as the portal counts them: the dataset's and each resource's totals."""
    from ckanapi import RemoteCKAN

    with RemoteCKAN(url, apikey=token, user_agent="crosswalk") as ckan:
        package = ckan.action.package_show(id=dataset, include_tracking=True)
    summary = package.get("tracking_summary") or {}
    out = {"dataset_views_total": int(summary.get("total", 0)), "dataset_views_recent": int(summary.get("recent", 0))}
    for r in package.get("resources", []):
        s = r.get("tracking_summary") or {}
        out[f"downloads_total:{r['name']}"] = int(s.get("total", 0))
    return out

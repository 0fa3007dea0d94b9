"""Open data, following the publishing journey: stage -> disclosure check -> sign-off -> go live -> usage.

:func:`stage_package` builds aggregates from the published portal table (SQL in
``include/sql/opendata/``), applies disclosure control, puts the table to the egress gate for the
public, and writes a data package into the staging area: the CSV, ``datapackage.json`` (Frictionless:
table schema, data dictionary, OGL-UK-3.0 licence, update frequency, temporal coverage) and a
guidance file. Sign-off happens in the Airflow UI (see the factory); :func:`go_live` then publishes
the staged package to each target and records it.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine, text

from crosswalk import atomic
from crosswalk.agreements.egress import gate
from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import OpenDataFeed
from crosswalk.config.models.agreements import PUBLIC
from crosswalk.errors import FatalError
from crosswalk.paths import SQL_DIR
from crosswalk.publish import codelists, disclosure, versions
from crosswalk.publish.disclosure import SUPPRESSED

if TYPE_CHECKING:  # the SFTP stack is imported only by the task that publishes to SFTP
    from crosswalk.transfer.remote import RemoteArea

log = logging.getLogger(__name__)

LICENCE = {
    "name": "OGL-UK-3.0",
    "title": "Open Government Licence v3.0",
    "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}
AGE_BANDS = ["0-17", "18-64", "65-74", "75-84", "85+"]
STAGED = "staged"  # an open-data version before go-live; versions.LIVE after


class PackageInvalid(FatalError):
    """The built data package fails Frictionless validation."""


@dataclass(frozen=True)
class StagedPackage:
    publication_id: str
    version: int
    directory: str
    csv_name: str
    rows: int
    content_sha256: str
    changed: bool  # False: the same content as the version already staged or live
    disclosure: dict
    preview: str = ""  # Markdown: the latest period as the public will see it, suppressed cells marked


def months_before(on: date, n: int) -> list[tuple[date, date]]:
    """The ``n`` full calendar months before ``on``'s month, oldest first, as (first day, last day)."""
    out = []
    first = on.replace(day=1)
    for _ in range(n):
        end = first - timedelta(days=1)
        first = end.replace(day=1)
        out.append((first, end))
    return out[::-1]


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def aggregate(cfg: ProjectConfig, engine: Engine, feed: OpenDataFeed, on: date) -> tuple[pd.DataFrame, int]:
    """Counts per month, area, age band and package type: every combination of the code lists, zeros
    included; and how many partner values fell outside a code list (counted under Other)."""
    source = cfg.portal(feed.source)
    schema = cfg.schemas[feed.dataset]
    sql = text((SQL_DIR / "opendata" / feed.sql).read_text().format(source=source.table))
    parts, months = [], []
    with engine.connect() as conn:
        for start, end in months_before(on, feed.months):
            months.append(start.strftime("%Y-%m"))
            params = {
                "month_start": start.isoformat(),
                "month_end": end.isoformat(),
                **{f"born_after_{y}": _years_before(end, y).isoformat() for y in (18, 65, 75, 85)},
            }
            rows = conn.execute(sql, params).all()
            parts.append(
                pd.DataFrame(rows, columns=["age_band", "care_package_type", "people"]).assign(
                    month=start.strftime("%Y-%m")
                )
            )
    counts = pd.concat(parts, ignore_index=True)
    # The categories are the code list's, never the values the partner sent (nothing typed is published).
    outside = 0
    for dim in ("age_band", "care_package_type"):
        codes = [c for c in schema.field(dim).constraints["enum"] if c != disclosure.ALL]
        counts[dim], n = codelists.to_code_list(counts[dim].astype("string"), codes, dim)
        outside += n
    types = [c for c in schema.field("care_package_type").constraints["enum"] if c != disclosure.ALL]
    grid = pd.MultiIndex.from_product([months, AGE_BANDS, types], names=["month", "age_band", "care_package_type"])
    full = counts.groupby(["month", "age_band", "care_package_type"])["people"].sum().reindex(grid, fill_value=0)
    out = full.reset_index()
    out.insert(1, "council_area", feed.council_area)
    out["people"] = out["people"].astype(int)
    return out, outside


def stage_package(
    cfg: ProjectConfig, engine: Engine, audit: AuditLog, feed: OpenDataFeed, *, on: date
) -> StagedPackage:
    schema = cfg.schemas[feed.dataset]
    plan = gate(cfg.agreements[feed.agreement], feed.dataset, PUBLIC, schema.field_names, on=on)
    counts, outside = aggregate(cfg, engine, feed, on)
    table, report = disclosure.publish_table(
        counts, by=["month", "council_area"], rows="age_band", cols="care_package_type"
    )
    table = table[schema.field_names]
    out, _ = plan.apply(table)
    codelists.refuse_formula_cells(out)
    digest = versions.content_hash(out)
    earlier = versions.versions(engine, feed.id)
    latest = earlier[0] if earlier else None
    number = (latest.version if latest else 0) + (0 if latest and latest.content_sha256 == digest else 1)
    directory = Path(cfg.settings.open_data_dir) / feed.id / f"v{number}"
    csv_name = f"{feed.dataset}.csv"
    changed = not (latest and latest.content_sha256 == digest and (directory / csv_name).is_file())
    if changed:
        _write_package(cfg, feed, out, directory, csv_name, report, on)
        if not (latest and latest.content_sha256 == digest):
            _record(engine, audit, feed, number, digest, out, plan, report, directory)
    audit.emit(
        "opendata.staged" if changed else "opendata.unchanged",
        "succeeded" if changed else "skipped",
        feed_id=feed.id,
        partner=PUBLIC,
        rows_in=int(counts["people"].sum()),
        rows_out=len(out),
        reason=None if changed else f"{feed.id}:v{number} already staged with the same content",
        detail={
            "publication_id": f"{feed.id}:v{number}",
            "directory": str(directory),
            "content_sha256": digest,
            "agreement_id": plan.agreement_id,
            "agreement_version": plan.agreement_version,
            "values_outside_code_lists": outside,
            **report.as_dict(),
        },
    )
    log.info(
        "%s: package v%d in %s: %d cells, %d suppressed (%d primary, %d secondary), %d zeros",
        feed.id,
        number,
        directory,
        report.cells,
        report.primary + report.secondary,
        report.primary,
        report.secondary,
        report.zeros,
    )
    return StagedPackage(
        f"{feed.id}:v{number}", number, str(directory), csv_name, len(out), digest, changed, report.as_dict(),
        preview_markdown(out),
    )  # fmt: skip


MARK = "✱"  # a suppressed cell, in the approver's preview


def preview_markdown(table: pd.DataFrame, max_rows: int = 16) -> str:
    """The table as the public will see it, for the go-live approver: its latest period (the first column), the
    last dimension across and the count in the cells; a suppressed cell marked ✱. Counts only, after disclosure
    control: nothing here is not in the package."""
    dims, value = list(table.columns[:-1]), table.columns[-1]
    latest = table[table[dims[0]] == table[dims[0]].max()]
    rows_by, across = dims[1:-1], dims[-1]
    if not rows_by:
        rows_by, across = dims[:-1] or dims, None
    shown = latest.astype(str).replace({SUPPRESSED: MARK})
    if across is None:
        body = shown[[*rows_by, value]].head(max_rows)
        header = [*rows_by, value]
        lines = [list(r) for r in body.itertuples(index=False)]
    else:
        grid = shown.pivot_table(index=rows_by, columns=across, values=value, aggfunc="first", sort=True)
        grid = grid[[c for c in grid.columns if c != disclosure.ALL] + [c for c in grid.columns if c == disclosure.ALL]]
        header = [" / ".join(rows_by), *map(str, grid.columns)]
        lines = [[" / ".join(map(str, k if isinstance(k, tuple) else (k,))), *map(str, r)]
                 for k, r in zip(grid.index, grid.to_numpy(), strict=True)][:max_rows]  # fmt: skip
    more = len(latest) // max(len(header) - 1, 1) - len(lines)
    cells = sum(r.count(MARK) for r in lines)
    return "\n".join([
        f"As the public will see it: {dims[0]} {latest[dims[0]].max()}, {value} by {' and '.join(dims[1:])}"
        f" ({MARK} suppressed: {cells} of the cells shown).", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in lines),
        *(["", f"… and {more} more row(s) in the package."] if more > 0 else []),
    ])  # fmt: skip


def _record(engine, audit, feed, number, digest, out, plan, report, directory) -> None:
    from crosswalk.publish.versions import Version, record

    with engine.begin() as conn:
        record(
            conn,
            Version(
                f"{feed.id}:v{number}",
                feed.id,
                number,
                "open_data",
                None,
                STAGED,
                digest,
                [feed.source],
                len(out),
                list(out.columns),
                plan.agreement_id,
                plan.agreement_version,
                plan.level,
                PUBLIC,
            ),
            {**report.as_dict(), "directory": str(directory)},
            audit.run.dag_id or "",
            audit.run.run_id or "",
        )


def _write_package(
    cfg, feed: OpenDataFeed, out: pd.DataFrame, directory: Path, csv_name: str, report, on: date
) -> None:
    """Write the package to a temporary directory beside ``directory``, validate it, then rename it in."""
    import frictionless

    schema = cfg.schemas[feed.dataset]
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        out.to_csv(tmp / csv_name, index=False, lineterminator="\n")
        months = sorted(out["month"].unique())
        fields = [
            {k: v for k, v in {"name": f.name, "type": f.type, "description": f.description,
             "constraints": f.constraints or None}.items() if v is not None}
            for f in schema.fields
        ]  # fmt: skip
        descriptor = {
            "name": feed.id,
            "title": feed.title,
            "description": feed.description.strip(),
            "licenses": [LICENCE],
            "version": directory.name.lstrip("v"),
            "created": f"{on.isoformat()}T00:00:00Z",  # RFC 3339, as Frictionless requires
            "publisher": cfg.settings.operator.name,
            "update_frequency": feed.update_frequency,
            "temporal_coverage": {"start": months[0], "end": months[-1]} if months else {},
            "resources": [
                {
                    "name": feed.dataset,
                    "path": csv_name,
                    "profile": "tabular-data-resource",
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "schema": {"fields": fields, "primaryKey": list(schema.primary_key)},
                }
            ],
        }
        (tmp / "datapackage.json").write_text(json.dumps(descriptor, indent=2) + "\n")
        (tmp / "README.md").write_text(_guidance(cfg, feed, descriptor, report))
        try:
            result = frictionless.Package(str(tmp / "datapackage.json")).validate()
        except frictionless.FrictionlessException as exc:
            raise PackageInvalid(f"{feed.id}: the data package descriptor is invalid ({exc.error.type})") from exc
        if not result.valid:
            errors = [e.type for task in result.tasks for e in task.errors][:5] + [e.type for e in result.errors][:5]
            raise PackageInvalid(f"{feed.id}: the data package fails validation: {sorted(set(errors))}")
        if directory.exists():
            shutil.rmtree(directory)  # an earlier attempt of this same version, never published
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _guidance(cfg, feed: OpenDataFeed, descriptor: dict, report) -> str:
    cov = descriptor["temporal_coverage"]
    fields = descriptor["resources"][0]["schema"]["fields"]
    lines = [
        f"# {feed.title}",
        "",
        feed.description.strip(),
        "",
        f"Published by {cfg.settings.operator.name} under the {LICENCE['title']} ({LICENCE['path']}).",
        f"Covers {cov.get('start')} to {cov.get('end')}; updated {feed.update_frequency}.",
        "",
        "## How the figures are protected",
        "",
        "Counts are of people, not records: each person is counted once a month, however many records "
        "describe them (records are linked by CHI number before counting).",
        "",
        "- A count of 1 to 7 is not published; it shows as `*`.",
        "- Every other count is rounded to the nearest 5, so rows and columns may not add up to their totals.",
        "- A true zero is published as `0`.",
        "- Some larger counts are also shown as `*`, so that a hidden count cannot be worked out from the totals "
        "(rows and columns labelled `All`).",
        "",
        f"In this release {report.primary} cell(s) were hidden as small counts and {report.secondary} more to "
        f"protect them, of {report.cells} cells in {report.tables} table(s).",
        "",
        "## Data dictionary",
        "",
        "| Column | Type | Description |",
        "|---|---|---|",
        *[f"| `{f['name']}` | {f['type']} | {f['description']} |" for f in fields],
        "",
    ]
    return "\n".join(lines)


def approve(engine: Engine, audit: AuditLog, feed: OpenDataFeed, staged: dict, approver: str, how: str) -> None:
    """Record go-live approval of a staged version (audited: who, which version, how)."""
    audit.emit(
        "opendata.approved",
        "succeeded",
        feed_id=feed.id,
        partner=PUBLIC,
        reason=f"approved by {approver} ({how})",
        detail={
            "publication_id": staged["publication_id"],
            "content_sha256": staged["content_sha256"],
            "approver": approver,
        },
    )


def publish_to_sftp(sftp: RemoteArea, directory: str, remote_dir: str, feed_id: str) -> str:
    """Upload the package into ``remote_dir/<feed>/`` on an open SFTP session, each file under a
    part name of ours and then renamed (as deliveries are), so a reader sees a whole file or the last one."""
    from crosswalk.transfer import placement

    dest = posixpath.join(remote_dir, feed_id)
    placement.ensure_folder(sftp, remote_dir)
    placement.ensure_folder(sftp, dest)
    for f in sorted(Path(directory).iterdir()):
        placement.put(sftp, f, posixpath.join(dest, f.name))
    return dest


def publish_to_file(directory: str, target_dir: str, feed_id: str) -> str:
    """Copy the package into ``target_dir/<feed>/``: each file under a temporary name, then renamed,
    so a reader of the drop sees a whole file or the previous one."""
    dest = Path(target_dir) / feed_id
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(directory).iterdir()):
        atomic.copy_file(f, dest / f.name)
    return str(dest)

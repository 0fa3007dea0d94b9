"""Open data: stage the package, wait for the named approver, go live, record its use."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import OpenDataFeed
from crosswalk.orchestration.common import dag_kwargs, run_bookends
from crosswalk.orchestration.context import feed_step, is_dry_run, run_date, skip_dry_run, task_audit
from crosswalk.orchestration.resources import audited_task, project_config
from crosswalk.orchestration.sftp import partner_sftp
from crosswalk.schedules import ScheduleDecision

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


def open_data_dag(feed: OpenDataFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    from crosswalk.orchestration.approval import GoLiveApproval

    targets = [t for t in ("ckan", "file", "sftp") if getattr(feed.targets, t) is not None]
    gate = (
        "published without waiting (automated)"
        if feed.automated
        else f"waits for {feed.approver.name}'s approval under **Required Actions**"
    )
    doc = f"""\
### Open data: {feed.title}

{feed.description}

Stage (aggregates of `{feed.source}` by `include/sql/opendata/{feed.sql}`, {feed.months} months) →
disclosure control (1-7 suppressed, others rounded to 5, secondary suppression) → data package in
`{cfg.settings.open_data_dir}/{feed.id}/` → sign-off: {gate} → go live to {", ".join(targets) or "no target"} → usage.
"""

    @dag(**dag_kwargs(feed, cfg, doc, decision))
    def open_data_flow() -> None:
        prepare, finish = run_bookends(feed, decision)

        @task(task_id="stage_package")
        def stage_() -> dict:
            return stage_open_data(feed.id, get_current_context())

        # Publishing to a partner's SFTP area takes a session to it: counted in that partner's pool.
        go_live_pool = (
            {"pool": cfg.partners[feed.targets.sftp.partner].sftp_pool} if feed.targets.sftp is not None else {}
        )

        @task(task_id="go_live", **go_live_pool)
        def live_(staged: dict, approval: dict | None) -> dict:
            return go_live(feed.id, staged, approval, get_current_context())

        @task(task_id="usage")
        def usage_(published: dict) -> dict:
            return open_data_usage(feed.id, published, get_current_context())

        staged = stage_()
        prepare >> staged
        if feed.automated:
            published = live_(staged, None)
        else:
            approval = GoLiveApproval(
                task_id="approve_go_live",
                subject=f"Go live: {feed.title}"[:200],
                body=(
                    "Version **{{ ti.xcom_pull(task_ids='stage_package')['publication_id'] }}** is staged in "
                    "`{{ ti.xcom_pull(task_ids='stage_package')['directory'] }}`: "
                    "{{ ti.xcom_pull(task_ids='stage_package')['rows'] }} rows; "
                    "{{ ti.xcom_pull(task_ids='stage_package')['disclosure']['suppressed_primary'] }} cells "
                    "suppressed as small counts and "
                    "{{ ti.xcom_pull(task_ids='stage_package')['disclosure']['suppressed_secondary'] }} "
                    f"more to protect them. Approve to publish to: {', '.join(targets)}.\n\n"
                    "{{ ti.xcom_pull(task_ids='stage_package')['preview'] }}"
                ),
                assigned_users=[{"id": feed.approver.id, "name": feed.approver.name}],
                retries=0,
            )
            staged >> approval
            published = live_(staged, approval.output)
        usage_(published) >> finish

    return open_data_flow()


def stage_open_data(feed_id: str, context: Any) -> dict:
    from crosswalk.pipeline.opendata import stage_package

    with feed_step(feed_id, context) as (cfg, feed, audit):
        staged = stage_package(cfg, audit.engine, audit, feed, on=run_date(context))
    return asdict(staged)


def go_live(feed_id: str, staged: dict, approval: dict | None, context: Any) -> dict:
    """Publish the staged package to every target, once signed off (or automated); audited."""
    from crosswalk.pipeline import opendata
    from crosswalk.publish import ckan, versions

    cfg = project_config()
    feed = cfg.open_data(feed_id)
    if is_dry_run(context):
        skip_dry_run(f"{staged['publication_id']} would go live to {', '.join(target_names(feed))}")
    audit = task_audit(cfg, context)
    out: dict[str, Any] = {"publication_id": staged["publication_id"]}
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        if approval is None:
            opendata.approve(audit.engine, audit, feed, staged, "automated", "dataset marked automated in config")
        else:
            user = approval.get("responded_by_user") or {}
            by = user.get("name") or user.get("id") or "unknown approver"
            opendata.approve(audit.engine, audit, feed, staged, by, "Airflow Required Actions")
        if feed.targets.file is not None:
            out["file"] = opendata.publish_to_file(staged["directory"], feed.targets.file.path, feed.id)
        if feed.targets.sftp is not None:
            with partner_sftp(cfg.partners[feed.targets.sftp.partner]) as sftp:
                out["sftp"] = opendata.publish_to_sftp(sftp, staged["directory"], feed.targets.sftp.path, feed.id)
        if feed.targets.ckan is not None:
            t = feed.targets.ckan
            url, token = _ckan_endpoint(t.conn_id)
            published = ckan.publish(
                url, token, organization=t.organization, dataset=t.dataset, package_dir=staged["directory"]
            )
            out["ckan"] = published.dataset_url
            out["datastore_rows"] = published.datastore_rows
        versions.make_live(audit.engine, feed.id, staged["publication_id"])
        audit.emit(
            "opendata.published",
            "succeeded",
            feed_id=feed_id,
            partner=feed.partner,
            rows_out=staged["rows"],
            detail={
                "publication_id": staged["publication_id"],
                "targets": sorted(k for k in ("file", "sftp", "ckan") if k in out),
                "content_sha256": staged["content_sha256"],
            },
        )
    log.info(
        "%s: %s live: %s", feed_id, staged["publication_id"], {k: v for k, v in out.items() if k != "publication_id"}
    )
    return out


def target_names(feed) -> list[str]:
    """Where an open-data feed goes live, for messages: ``ckan:<dataset>``, ``file:<dir>``, ``sftp:<partner>:<dir>``."""
    t = feed.targets
    return [
        *([f"ckan:{t.ckan.dataset}"] if t.ckan else []),
        *([f"file:{t.file.path}/{feed.id}"] if t.file else []),
        *([f"sftp:{t.sftp.partner}:{t.sftp.path}/{feed.id}"] if t.sftp else []),
    ]


def _ckan_endpoint(conn_id: str) -> tuple[str, str]:
    """The CKAN site URL (``host``, a full URL or a host name) and API token (``password``)."""
    from crosswalk.orchestration.connections import http_endpoint

    url, token = http_endpoint(conn_id)
    return url, token or ""


def open_data_usage(feed_id: str, published: dict, context: Any) -> dict:
    """Views and downloads from the portal, for the data owner (task log and audit trail)."""
    from crosswalk.publish import ckan

    cfg = project_config()
    feed = cfg.open_data(feed_id)
    if feed.targets.ckan is None:
        log.info("%s: no CKAN target, so no usage statistics to read back", feed_id)
        return {}
    audit = task_audit(cfg, context)
    t = feed.targets.ckan
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        url, token = _ckan_endpoint(t.conn_id)
        stats = ckan.usage(url, token, t.dataset)
        audit.emit("opendata.usage", "succeeded", feed_id=feed_id, partner=feed.partner, detail=stats)
    log.info("%s usage for the data owner (%s): %s", feed_id, cfg.settings.operator.name, stats)
    return stats

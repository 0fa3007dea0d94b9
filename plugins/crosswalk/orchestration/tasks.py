"""What each generated task does. Each function takes the feed id and the Airflow context,
loads config and resources at run time, and returns a small record for XCom."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any

from crosswalk.audit import AuditLog
from crosswalk.logsafety import shown_name
from crosswalk.orchestration.resources import (
    age_identities,
    audited_task,
    engine_for,
    openpgp_secret,
    prepare_database,
    project_config,
    pseudonymisation_key,
    run_context,
    signing_key,
)
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp

log = logging.getLogger(__name__)


def _audit(cfg, context) -> AuditLog:
    return AuditLog(engine_for(cfg.settings.database_conn_id), run_context(context))


def _dry_run(context: Any) -> bool:
    return bool((context.get("params") or {}).get("dry_run", False))


def prepare(feed_id: str, context: Any, schedule: str = "") -> None:
    """Migrate the database, then record the run's start: the config version and the schedule in effect.
    A scheduled run of a feed that has not graduated is held here (the graduation gate, at run time)."""
    from airflow.sdk.exceptions import AirflowSkipException

    cfg = project_config()
    applied = prepare_database(cfg)  # before the first audit event: it creates the audit table
    feed = cfg.feeds[feed_id]
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=feed.partner) as audit:
        try:
            _account_for_lost_attempts(audit, context)
        except Exception as exc:  # accounting for old attempts must never stop a new run: the next run retries it
            log.warning("Could not account for earlier attempts (%s)", type(exc).__name__)
        held = _held_by_gate(cfg, feed, audit)
        if held is None:
            _record_start(audit, cfg, feed, applied, schedule, context)
    if held is not None:  # after the task's own outcome is recorded: the rest of the run is skipped
        raise AirflowSkipException(held)
    log.info("%s: config version %s; schedule %s", feed_id, cfg.version, schedule)


def _held_by_gate(cfg, feed, audit: AuditLog) -> str | None:
    """For a run Airflow started on the feed's schedule (not a person's trigger): the gate, with the run
    history; if the feed has not graduated, record ``run.held`` and return why."""
    from datetime import date

    from crosswalk.audit import successful_manual_runs
    from crosswalk.schedules import MANUAL, decide

    if audit.run.run_type == "manual" or feed.schedule == MANUAL:
        return None
    decision = decide(cfg, feed, successful_manual_runs(audit.engine).get(feed.id, 0), date.today())
    if not decision.held:
        return None
    reason = decision.summary()
    audit.emit("run.held", "skipped", feed_id=feed.id, partner=feed.partner, reason=reason,
               detail={"requested": decision.requested, "missing": decision.missing})  # fmt: skip
    log.warning("%s: this %s run is held: %s", feed.id, audit.run.run_type, reason)
    return reason


def _record_start(audit: AuditLog, cfg, feed, applied: list[str], schedule: str, context: Any) -> None:
    audit.emit(
        "run.started",
        "started",
        feed_id=feed.id,
        partner=feed.partner,
        detail={
            "migrations_applied": applied,
            "direction": feed.direction,
            "config_version": cfg.version,
            "schedule": schedule,
            "dry_run": _dry_run(context),
        },
    )


# Airflow states in which a task instance's last attempt has ended (a retry not yet started counts).
_ENDED = {"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry", "up_for_reschedule"}


def _account_for_lost_attempts(audit: AuditLog, context: Any) -> None:
    """Every attempt gets an outcome in our audit trail: an earlier run's attempt that started and never
    said how it ended (killed, or our database down at the time) is recorded now as ``task.abandoned``,
    with what Airflow recorded for that task instance. Attempts still running are left alone."""
    import re
    from datetime import UTC, datetime, timedelta

    from crosswalk.audit import attempts_without_outcome

    dag_id, run_id = audit.run.dag_id or "", audit.run.run_id or ""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7)
    lost = attempts_without_outcome(audit.engine, dag_id, run_id, since)
    if not lost:
        return
    ti = context.get("ti")
    try:
        states = ti.get_task_states(dag_id=dag_id, run_ids=sorted({a["run_id"] for a in lost}))
    except Exception as exc:
        log.warning("Could not ask Airflow about %d attempt(s) without an outcome (%s)", len(lost), type(exc).__name__)
        return
    for attempt in lost:
        key = re.sub(r"\[(\d+)\]$", r"_\1", attempt["task_id"] or "")  # Airflow's key for a mapped instance
        state = str((states.get(attempt["run_id"]) or {}).get(key) or "")
        state = state.rsplit(".", 1)[-1].lower()
        if state not in _ENDED:
            continue
        # Recorded as that attempt's own event (its run and task), so it counts as the attempt's outcome.
        of_attempt = AuditLog(audit.engine, replace(audit.run, run_id=attempt["run_id"], task_id=attempt["task_id"]))
        of_attempt.emit(
            "task.abandoned",
            "failed" if state != "success" else "succeeded",
            reason=f"attempt started {str(attempt['started_at'])[:19]} recorded no outcome; Airflow"
            f" records the task instance as {state}",
            detail={"airflow_state": state, "noticed_by_run": run_id},
        )


def finish(feed_id: str, context: Any, schedule: str = "") -> None:
    """Record that the run succeeded (a dry run as ``dry_run``): successful manual runs are what the
    graduation gate counts."""
    from crosswalk.audit import read_events

    cfg = project_config()
    feed = cfg.feeds[feed_id]
    dry = _dry_run(context)
    audit = _audit(cfg, context)
    if read_events(audit.engine, event="run.held", dag_id=audit.run.dag_id or "", run_id=audit.run.run_id or ""):
        from airflow.sdk.exceptions import AirflowSkipException

        # Held by the gate: nothing ran, so nothing succeeded, and no new data is announced downstream.
        raise AirflowSkipException("held by the graduation gate")
    audit.emit(
        "run.succeeded",
        "dry_run" if dry else "succeeded",
        feed_id=feed_id,
        partner=feed.partner,
        detail={"config_version": cfg.version, "schedule": schedule, "dry_run": dry},
    )


def discover(feed_id: str, context: Any) -> list[dict]:
    from crosswalk.pipeline.inbound import discover as discover_drops

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    partner = cfg.partners[feed.partner]
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=partner.code) as audit:
        with partner_sftp(partner) as sftp:
            resend = bool((context.get("params") or {}).get("resend", False))
            intake = discover_drops(sftp, cfg, feed, audit.engine, resend)
        found = intake.found
        for name in found.unrouted:
            audit.emit(
                "file.unrouted",
                "skipped",
                feed_id=feed_id,
                partner=partner.code,
                file_name=name,
                reason=f"matches no feed of {partner.code}; left in place",
            )
        audit.emit(
            "drops.discovered",
            "succeeded",
            feed_id=feed_id,
            partner=partner.code,
            detail={
                "complete": len(found.drops),
                "already_taken_in": intake.already,
                "taken_this_run": len(intake.new),
                "matched_again": len(intake.again),
                "backlog": intake.backlog,
                "max_drops_per_run": feed.max_drops_per_run,
                "waiting_for_manifest": len(found.waiting),
                "unrouted": len(found.unrouted),
            },
        )
    log.info(
        "%s: %d complete drop(s): %d already taken in, %d new taken this run, %d left for the next run"
        " (max_drops_per_run %d); %d waiting for a manifest, %d file(s) matching no feed",
        partner.sftp.paths.outbox,
        len(found.drops),
        intake.already,
        len(intake.new),
        intake.backlog,
        feed.max_drops_per_run,
        len(found.waiting),
        len(found.unrouted),
    )
    if intake.backlog:
        log.warning("%s: a backlog of %d drop(s) waits for the next run", feed_id, intake.backlog)
    if _dry_run(context):
        names = ", ".join(shown_name(d.data_file) for d in intake.new) or "none"
        log.info("Dry run: complete drops a real run would take in: %s", names)
        return []
    return [d.to_dict() for d in intake.again + intake.new]


def ingest(feed_id: str, drop: dict, context: Any) -> dict:
    from crosswalk.errors import DropRejected
    from crosswalk.pipeline.inbound import Drop, InboundJob, ingest_drop

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    audit = _audit(cfg, context)
    with (
        audited_task(audit, feed_id=feed_id, partner=feed.partner, file_name=drop["data_file"]),
        partner_sftp(cfg.partners[feed.partner]) as sftp,
    ):
        job = InboundJob(
            sftp,
            audit.engine,
            audit,
            cfg,
            feed,
            age_identities(cfg),
            partner_bulk(cfg.partners[feed.partner]),
            openpgp_secret(cfg),
            resend=bool((context.get("params") or {}).get("resend", False)),
        )
        try:
            return asdict(ingest_drop(job, Drop(**drop)))
        except DropRejected as exc:  # quarantined: tell whoever asked, then fail the task as before
            from crosswalk.notify import QUARANTINE
            from crosswalk.orchestration.callbacks import notify_about

            summary = f"{feed.partner}: {shown_name(drop['data_file'])} quarantined: {exc.code}: {exc.reason}"[:500]
            notify_about(cfg, QUARANTINE, summary, audit.run, feed_id=feed_id, partner=feed.partner)
            raise


def match(feed_id: str, ingested: dict, context: Any) -> dict:
    """Link a staged batch to its index feed's latest batch and write the crosswalk."""
    from crosswalk.pipeline.match import match_batch

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    audit = _audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner, batch_id=ingested["batch_id"]):
        # Only a batch that holds staged rows is matched: a drop skipped as already quarantined (a rejected
        # drop still in the outbox) costs this run nothing.
        if ingested.get("batch_status") != "staged":
            return {"batch_id": ingested["batch_id"], "outcome": "not staged"}
        return asdict(match_batch(audit.engine, audit, cfg, feed, ingested["batch_id"]))


def _param_date(context: Any, name: str):
    from datetime import date

    value = (context.get("params") or {}).get(name)
    return date.fromisoformat(value) if value else None


def _outbound_options(context: Any):
    from crosswalk.agreements.egress import RunOptions
    from crosswalk.agreements.model import IN_FORCE

    params = context.get("params") or {}
    agreement = params.get("agreement")
    return RunOptions(
        dry_run=bool(params.get("dry_run", False)),
        resend=bool(params.get("resend_batch")),
        max_level=params.get("level"),
        agreement_ref=agreement if agreement and agreement != IN_FORCE else None,
    )


def plan(feed_id: str, context: Any) -> list[str]:
    from crosswalk.pipeline.outbound import pending_batches, take_back_unfinished
    from crosswalk.staging import ledger
    from crosswalk.transfer.session import SftpSession

    cfg = project_config()
    feed = cfg.outbound(feed_id)
    params = context.get("params") or {}
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=feed.partner) as audit:
        if ledger.unfinished_deliveries(audit.engine, feed_id, audit.run.run_id or "") and not _dry_run(context):
            # Before anything else: no data file of ours stays in the partner's inbox without its manifest and
            # signature for longer than one run.
            with SftpSession(lambda: partner_sftp(cfg.partners[feed.partner])) as sftp:
                take_back_unfinished(sftp, audit.engine, audit, cfg, feed)
        since, until = _param_date(context, "staged_from"), _param_date(context, "staged_to")
        batches = pending_batches(audit.engine, feed, since, until, params.get("resend_batch") or None)
        audit.emit(
            "deliveries.planned",
            "succeeded",
            feed_id=feed_id,
            partner=feed.partner,
            detail={
                "batches": batches,
                "staged_from": str(since or ""),
                "staged_to": str(until or ""),
                "resend": bool(params.get("resend_batch")),
                "dry_run": _dry_run(context),
            },
        )
    log.info("%s: %d staged batch(es) of %s to deliver", feed_id, len(batches), feed.source_feed)
    return batches


def deliver(feed_id: str, batch_id: str, context: Any) -> dict:
    from crosswalk.pipeline.outbound import OutboundJob, deliver_batch

    cfg = project_config()
    feed = cfg.outbound(feed_id)
    audit = _audit(cfg, context)
    from crosswalk.transfer.session import SftpSession

    partner = cfg.partners[feed.partner]
    with (
        audited_task(audit, feed_id=feed_id, partner=feed.partner, batch_id=batch_id),
        SftpSession(lambda: partner_sftp(partner)) as sftp,  # reopened if it dies mid-delivery
    ):
        result = deliver_batch(
            OutboundJob(
                sftp,
                audit.engine,
                audit,
                cfg,
                feed,
                signing_key(cfg),
                partner_bulk(cfg.partners[feed.partner]),
                openpgp_secret(cfg),
                pseudonymisation_key,
                _outbound_options(context),
            ),
            batch_id,
        )
    return {**asdict(result), "fields": list(result.fields)}


# --- the audit DAG: evidence for IG, kept by us -----------------------------------------------


def audit_verify(context: Any) -> str:
    """Walk the chain; a broken chain fails the run (and says where) without retrying."""
    from crosswalk import auditchain
    from crosswalk.errors import FatalError

    cfg = project_config()
    prepare_database(cfg)
    with audited_task(_audit(cfg, context)) as audit:
        result = auditchain.verify(audit.engine)
        audit.emit(
            "audit.verified",
            "succeeded" if result.ok else "failed",
            reason=result.summary(),
            detail={"checked": result.checked, "first": result.first, "position": result.position},
        )
        if not result.ok:
            raise FatalError(result.summary())
    log.info("Audit chain: %s", result.summary())
    return result.summary()


def audit_report(context: Any) -> str:
    """The IG report for the run's period (the previous week when scheduled; the last 7 days when
    triggered), written to ``audit.report_dir`` via a temporary name, then renamed."""
    import hashlib
    import os
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from crosswalk import auditreport

    cfg = project_config()
    end, start = context.get("data_interval_end"), context.get("data_interval_start")
    manual = "scheduled" not in str(getattr(context["dag_run"], "run_type", ""))
    if manual or end is None or start is None or start >= end:
        # Triggered by hand: the seven days up to and including today.
        end = datetime.now(UTC) + timedelta(days=1)
        start = end - timedelta(days=7)
    end_day = datetime.combine(end.date(), datetime.min.time())
    start_day = datetime.combine(start.date(), datetime.min.time())
    out_dir = Path(cfg.settings.audit.report_dir)
    with audited_task(_audit(cfg, context)) as audit:
        report = auditreport.build(audit.engine, start_day, end_day)
        out_dir.mkdir(parents=True, exist_ok=True)
        last = end_day - timedelta(days=1)
        stem = f"ig-report_{start_day:%Y-%m-%d}_{last:%Y-%m-%d}"
        written = []
        for suffix, body in ((".html", auditreport.to_html(report)), (".csv", auditreport.to_csv(report))):
            target = out_dir / f"{stem}{suffix}"
            tmp = target.with_name(f".{target.name}.part")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, target)  # a rerun replaces the report; readers never see half of one
            written.append(target)
            audit.emit(
                "audit.report_written",
                "succeeded",
                file_name=target.name,
                file_sha256=hashlib.sha256(body.encode()).hexdigest(),
                file_size=len(body.encode()),
                rows_out=len(report.rows),
                detail={"period_from": f"{start_day:%Y-%m-%d}", "period_to": f"{last:%Y-%m-%d}"},
            )
    log.info("IG report for %s written to %s (%d file event(s))", stem, out_dir, len(report.rows))
    return str(written[0])


def audit_purge(context: Any) -> int:
    """Remove audit events older than the retention period; the purge is itself an audit event."""
    from datetime import UTC, datetime, timedelta

    from crosswalk import auditchain

    cfg = project_config()
    days = cfg.settings.audit.retention_days
    cutoff = (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
    with audited_task(_audit(cfg, context)) as audit:
        removed = auditchain.purge_before(audit.engine, cutoff, audit.append)
    log.info("Audit retention (%d days): %d event(s) older than %s removed", days, removed, f"{cutoff:%Y-%m-%d}")
    return removed


def review_queue(feed_id: str, context: Any) -> list[dict]:
    """One review card per pair awaiting a decision (subject and body for the human-in-the-loop task)."""
    from crosswalk.pipeline.review import cards, pending

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    audit = _audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        made = cards(cfg, audit.engine, feed, pending(audit.engine, feed_id))
    log.info("%d pair(s) of %s await review", len(made), feed_id)
    if made:
        from crosswalk.notify import APPROVAL_NEEDED
        from crosswalk.orchestration.callbacks import notify_about

        reviewer = cfg.partners[feed.reviewer]
        summary = f"{len(made)} pair(s) of {feed_id} wait for clerical review by {reviewer.name} under Required Actions"
        notify_about(cfg, APPROVAL_NEEDED, summary, audit.run, feed_id=feed_id, partner=reviewer.code)
    return made


def review_record(feed_id: str, cards: list[dict], responses: list[dict], context: Any) -> dict:
    """Record each reviewer's answer (audited); 'not sure' and pairs decided elsewhere meanwhile stay as they are."""
    from crosswalk.matching.choices import OUTCOMES
    from crosswalk.pipeline.review import decide

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    audit = _audit(cfg, context)
    counts = {"match": 0, "no_match": 0, "left_in_queue": 0, "already_decided": 0}
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        for c, response in zip(cards, responses, strict=True):
            outcome = OUTCOMES.get(response["chosen_options"][0])
            if outcome is None:
                counts["left_in_queue"] += 1
                continue
            user = response.get("responded_by_user") or {}
            by = user.get("name") or user.get("id") or "unknown reviewer"
            try:
                decide(audit.engine, audit, feed_id, c["source_record_id"], outcome, by)
            except LookupError:
                counts["already_decided"] += 1  # decided on the command line since the card was made
                continue
            counts[outcome] += 1
    log.info("Review of %s recorded: %s", feed_id, counts)
    return counts


# --- publishing: portal tables and open data --------------------------------------------------


def _run_date(context: Any):
    from datetime import UTC, datetime

    logical = context.get("logical_date") if context else None
    return (logical or datetime.now(UTC)).date()


def publish_portal(feed_id: str, context: Any) -> dict:
    from crosswalk.pipeline.publish import publish_portal as publish

    cfg = project_config()
    feed = cfg.portal(feed_id)
    audit = _audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        result = publish(
            cfg,
            audit.engine,
            audit,
            feed,
            on=_run_date(context),
            key_for=pseudonymisation_key,
            options=_outbound_options(context),
        )
    return {**asdict(result), "fields": list(result.fields)}


def prune_versions(feed_id: str, context: Any) -> list[str]:
    """Drop version tables beyond the ones kept for rollback (audited; the ledger keeps their record)."""
    from crosswalk.publish import versions

    if _dry_run(context):
        log.info("Dry run: no version pruned")
        return []
    cfg = project_config()
    feed = cfg.portal(feed_id)
    audit = _audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        dropped = versions.prune(audit.engine, feed.id, feed.keep_versions)
        if dropped:
            audit.emit(
                "portal.pruned", "succeeded", feed_id=feed_id, partner=feed.partner, detail={"versions": dropped}
            )
    return dropped


def stage_open_data(feed_id: str, context: Any) -> dict:
    from crosswalk.pipeline.opendata import stage_package

    cfg = project_config()
    feed = cfg.open_data(feed_id)
    audit = _audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        staged = stage_package(cfg, audit.engine, audit, feed, on=_run_date(context))
    return asdict(staged)


def go_live(feed_id: str, staged: dict, approval: dict | None, context: Any) -> dict:
    """Publish the staged package to every target, once signed off (or automated); audited."""
    from crosswalk.pipeline import opendata
    from crosswalk.publish import ckan, versions

    cfg = project_config()
    feed = cfg.open_data(feed_id)
    if _dry_run(context):
        skip_dry_run(f"{staged['publication_id']} would go live to {', '.join(target_names(feed))}")
    audit = _audit(cfg, context)
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


def skip_dry_run(what: str) -> None:
    """End a task of a dry run as skipped, saying what a real run would have done."""
    from airflow.sdk.exceptions import AirflowSkipException

    log.info("Dry run: %s; nothing published", what)
    raise AirflowSkipException(f"dry run: {what}")


def _ckan_endpoint(conn_id: str) -> tuple[str, str]:
    """The CKAN site URL (``host``, a full URL or a host name) and API token (``password``)."""
    from crosswalk.orchestration.callbacks import http_endpoint

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
    audit = _audit(cfg, context)
    t = feed.targets.ckan
    with audited_task(audit, feed_id=feed_id, partner=feed.partner):
        url, token = _ckan_endpoint(t.conn_id)
        stats = ckan.usage(url, token, t.dataset)
        audit.emit("opendata.usage", "succeeded", feed_id=feed_id, partner=feed.partner, detail=stats)
    log.info("%s usage for the data owner (%s): %s", feed_id, cfg.settings.operator.name, stats)
    return stats


def retention_purge(context: Any) -> list[dict]:
    """Purge staged rows past the retention period; one audit event with the counts per batch."""
    from datetime import UTC, datetime, timedelta

    from crosswalk.staging.retention import purge_staged

    cfg = project_config()
    prepare_database(cfg)
    audit = _audit(cfg, context)
    days = cfg.settings.staging.retention_days
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    with audited_task(audit):
        tables = {f.id: f.target.table for f in cfg.inbound_feeds()}
        purged = purge_staged(audit.engine, tables, cutoff)
        audit.emit(
            "staging.purged",
            "succeeded",
            rows_out=sum(p.rows for p in purged),
            reason=f"retention: batches staged more than {days} days ago",
            detail={"batches": [p.batch_id for p in purged], "rows": sum(p.rows for p in purged),
                    "retention_days": days},
        )  # fmt: skip
    log.info("Retention: purged %d batch(es), %d staged row(s)", len(purged), sum(p.rows for p in purged))
    return [{"feed_id": p.feed_id, "batch_id": p.batch_id, "rows": p.rows} for p in purged]

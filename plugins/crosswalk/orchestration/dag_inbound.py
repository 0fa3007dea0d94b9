"""The inbound flow: discover complete drops in a partner's outbox, take each in, match it."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.logsafety import shown_name
from crosswalk.orchestration.common import dag_kwargs, run_bookends
from crosswalk.orchestration.connections import age_identities, openpgp_secret, signing_key
from crosswalk.orchestration.context import feed_step, is_dry_run
from crosswalk.orchestration.ids import (
    review_asset,
)
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp
from crosswalk.schedules import ScheduleDecision

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


def inbound_dag(feed: InboundFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    partner = cfg.partners[feed.partner]
    doc = f"""\
### Inbound: {feed.id}

{feed.description}

| | |
|---|---|
| Partner | {partner.name} (`{partner.code}`) |
| Picks up | `{feed.file_pattern}` with its `.manifest.json` from `{partner.sftp.paths.outbox}` |
| Checks | size and sha256 against the manifest; table schema `{feed.schema_id}` |
| Stages into | `{feed.target.table}` (one batch per manifest; reruns never load twice) |
| Rejected drops | copied to `{partner.sftp.paths.quarantine}/<batch>/` with `REASON.txt`; originals untouched |
"""

    @dag(**dag_kwargs(feed, cfg, doc, decision))
    def inbound_flow() -> None:
        prepare, finish = run_bookends(feed, decision)

        @task(task_id="discover_drops", pool=partner.sftp_pool)
        def discover_() -> list[dict]:
            return discover(feed.id, get_current_context())

        @task(task_id="ingest_drop", map_index_template="{{ drop_name }}", pool=partner.sftp_pool)
        def ingest_(drop: dict) -> dict:
            ctx = get_current_context()
            ctx["drop_name"] = drop["shown"]  # type: ignore[typeddict-unknown-key]  (as shown: never a raw name)
            return ingest(feed.id, drop, ctx)

        drops = discover_()
        prepare >> drops
        ingested = ingest_.expand(drop=drops)
        if feed.matching is not None:
            # Each staged drop is matched whatever became of the others in its run: a quarantined drop fails its own
            # ingest task (red in the grid, ops told) and never holds back a good drop's matching.
            @task(
                task_id="match_batch",
                map_index_template="{{ batch_name }}",
                outlets=[review_asset(feed)],
                trigger_rule="all_done",
            )
            def match_(result: dict) -> dict:
                ctx = get_current_context()
                ctx["batch_name"] = result["batch_id"]  # type: ignore[typeddict-unknown-key]
                return match(feed.id, result, ctx)

            match_.expand(result=ingested) >> finish
            ingested >> finish  # a quarantined drop still fails the run (after the good ones are matched)
        else:
            ingested >> finish

    return inbound_flow()


def discover(feed_id: str, context: Any) -> list[dict]:
    from crosswalk.pipeline.inbound import discover as discover_drops
    from crosswalk.pipeline.inbound import send_owed_receipts

    with feed_step(feed_id, context) as (cfg, feed, audit):
        partner = cfg.partners[feed.partner]
        with partner_sftp(partner) as sftp:
            load = load_duplicate(feed_id, audit.engine, context)
            intake = discover_drops(sftp, cfg, feed, audit.engine, load)
            if not is_dry_run(context):  # receipts that could not go when their drops were done: tried again
                send_owed_receipts(_job(cfg, feed, audit, sftp, context))
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
    if is_dry_run(context):
        names = ", ".join(shown_name(d.data_file) for d in intake.new) or "none"
        log.info("Dry run: complete drops a real run would take in: %s", names)
        return []
    # What Airflow keeps and shows of a drop (XCom, the task list, the runner's log, lineage): its key and its name
    # as shown; the ingest task lists the outbox again to find its files.
    return [{"drop_key": d.drop_key, "shown": shown_name(d.data_file), "load": load} for d in intake.again + intake.new]


def load_duplicate(feed_id: str, engine, context: Any) -> str | None:
    """The batch the run's "Load duplicate" names (by batch id or data file name), or None; a name that is no
    drop of this feed skipped as a duplicate fails the run before anything is taken in."""
    from crosswalk.errors import ConfigError
    from crosswalk.staging import ledger

    name = (context.get("params") or {}).get("load_duplicate")
    if not name:
        return None
    batch_id = ledger.skipped_batch_named(engine, feed_id, name)
    if batch_id is None:
        raise ConfigError(
            "trigger form", "load_duplicate", f"no drop of {feed_id} skipped as a duplicate is named {name!r}"
        )
    return batch_id


def _job(cfg: ProjectConfig, feed: InboundFeed, audit, sftp, context: Any, load: str | None = None):
    from crosswalk.notify import FAILURE
    from crosswalk.orchestration.callbacks import notify_about
    from crosswalk.pipeline.inbound import InboundJob

    return InboundJob(
        sftp,
        audit.engine,
        audit,
        cfg,
        feed,
        age_identities(cfg),
        partner_bulk(cfg.partners[feed.partner]),
        openpgp_secret(cfg),
        resend=load,  # resolved once, by discover: a batch id, or None
        signing_key=signing_key(cfg),
        on_partner_problem=lambda summary: notify_about(
            cfg, FAILURE, summary[:500], audit.run, feed_id=feed.id, partner=feed.partner
        ),
    )


def ingest(feed_id: str, ref: dict, context: Any) -> dict:
    from crosswalk.errors import DropRejected
    from crosswalk.pipeline.inbound import IngestResult, find_drop, ingest_drop

    with (
        feed_step(feed_id, context, file_name=ref["shown"]) as (cfg, feed, audit),
        partner_sftp(cfg.partners[feed.partner]) as sftp,
    ):
        drop = find_drop(sftp, cfg, feed, ref["drop_key"])
        if drop is None:
            reason = "its files changed since this run listed them; the next run takes it in"
            log.info("%s: %s", ref["shown"], reason)
            return asdict(IngestResult("", "skipped", reason=reason))
        job = _job(cfg, feed, audit, sftp, context, ref.get("load"))
        try:
            return asdict(ingest_drop(job, drop))
        except DropRejected as exc:  # quarantined: tell whoever asked, then fail the task as before
            from crosswalk.notify import QUARANTINE
            from crosswalk.orchestration.callbacks import notify_about

            summary = f"{feed.partner}: {ref['shown']} quarantined: {exc.code}: {exc.reason}"[:500]
            notify_about(cfg, QUARANTINE, summary, audit.run, feed_id=feed_id, partner=feed.partner)
            raise


def match(feed_id: str, ingested: dict, context: Any) -> dict:
    """Link a staged batch to its index feed's latest batch and write the crosswalk."""
    from crosswalk.pipeline.match import match_batch

    with feed_step(feed_id, context, batch_id=ingested["batch_id"]) as (cfg, feed, audit):
        # Only a batch that holds staged rows is matched: a drop skipped as already quarantined (a rejected
        # drop still in the outbox) costs this run nothing.
        if ingested.get("batch_status") != "staged":
            return {"batch_id": ingested["batch_id"], "outcome": "not staged"}
        result = match_batch(audit.engine, audit, cfg, feed, ingested["batch_id"])
        if result.person_id_changes:  # offered to the partner: their people we now see merged or split
            from crosswalk.pipeline.inbound import optional
            from crosswalk.pipeline.match import send_person_id_feedback

            # Best effort, as receipts are: the match is recorded; a file the partner's area cannot take is
            # audited once, told to ops and to the partner, and never fails the match.
            with partner_sftp(cfg.partners[feed.partner]) as sftp:
                optional(
                    _job(cfg, feed, audit, sftp, context),
                    result.batch_id,
                    "person-id file",
                    lambda: send_person_id_feedback(sftp, cfg.partners[feed.partner], result),
                )
        return asdict(result)

"""Clerical review in the Airflow UI: the queue, one human-in-the-loop task per pair, the record."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.orchestration.common import default_args
from crosswalk.orchestration.context import feed_step, task_audit
from crosswalk.orchestration.ids import (
    START,
    review_asset,
)
from crosswalk.orchestration.resources import audited_task, project_config

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


def review_dag(feed: InboundFeed, cfg: ProjectConfig) -> DAG:
    """Clerical review in the Airflow UI: one human-in-the-loop task per pair awaiting a decision."""
    from airflow.providers.standard.operators.hitl import HITLOperator

    from crosswalk.matching.choices import OPTIONS, UNSURE

    assert feed.matching is not None
    reviewer = cfg.partners[feed.reviewer]
    doc = f"""\
### Clerical review: {feed.id}

Pairs that matching of `{feed.id}` against `{feed.matching.against}` could not settle (match probability
between {feed.matching.lower} and {feed.matching.upper}, or too close to a runner-up). Each pair is a task
under **Required Actions**: the two records side by side, only the fields {reviewer.name} may see
under the agreements in force. Answers are recorded in the crosswalk and the audit trail (who, when, the
pair by hash, the outcome), and reused on reruns while both records are unchanged. The same queue can
be worked with `crosswalk review list|decide --feed {feed.id}`.
"""

    @dag(
        dag_id=f"review_{feed.id.replace('-', '_')}",
        description=f"Clerical review of uncertain matches of {feed.id}"[:200],
        doc_md=doc,
        schedule=[review_asset(feed)],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "review", feed.partner, *feed.tags],
        default_args=default_args(cfg, retries=0, feed=feed),  # a person's answer is never asked for twice
    )
    def review_flow() -> None:
        @task(task_id="review_queue")
        def queue_() -> list[dict]:
            return review_queue(feed.id, get_current_context())

        @task(task_id="pair_cards")
        def pair_cards(cards: list[dict]) -> list[dict]:
            return [{"subject": c["subject"], "body": c["body"]} for c in cards]

        @task(task_id="record_decisions")
        def record_(cards: list[dict], responses: list[dict]) -> dict:
            return review_record(feed.id, cards, list(responses), get_current_context())

        cards = queue_()
        answers = HITLOperator.partial(
            task_id="review_pair", options=OPTIONS, defaults=[UNSURE], multiple=False
        ).expand_kwargs(pair_cards(cards))
        record_(cards, answers.output)

    return review_flow()


def review_queue(feed_id: str, context: Any) -> list[dict]:
    """One review card per pair awaiting a decision (subject and body for the human-in-the-loop task)."""
    from crosswalk.pipeline.review import cards, pending

    with feed_step(feed_id, context) as (cfg, feed, audit):
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
    audit = task_audit(cfg, context)
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

"""Each kind of DAG is its flow's steps in order, with one retry policy everywhere (no server, no run)."""

from __future__ import annotations

import pytest

from crosswalk.orchestration.callbacks import on_task_failure
from crosswalk.orchestration.factory import dags_from_config

DAGS = dags_from_config()


def _chain(dag) -> list[str]:
    """The task ids from the first task along single downstream links (a flow's main line)."""
    task = next(t for t in dag.tasks if not t.upstream_task_ids)
    order = [task.task_id]
    while task.downstream_task_ids:
        nexts = [dag.get_task(i) for i in sorted(task.downstream_task_ids)]
        task = next((t for t in nexts if len(t.upstream_task_ids) == 1), nexts[-1])
        order.append(task.task_id)
    return order


@pytest.mark.parametrize(
    ("dag_id", "steps"),
    [
        ("inbound_council_clients", ["prepare", "discover_drops", "ingest_drop", "match_batch", "finish"]),
        ("inbound_health_index", ["prepare", "discover_drops", "ingest_drop", "finish"]),  # an index is not matched
        ("outbound_clients_to_health", ["prepare", "plan_deliveries", "deliver_batch", "finish"]),
        ("publish_social_care_summary", ["prepare", "publish_portal", "prune_versions", "finish"]),
        (
            "open_data_care_packages_open_data",
            ["prepare", "stage_package", "approve_go_live", "go_live", "usage", "finish"],
        ),
        ("review_council_clients", ["review_queue", "pair_cards", "review_pair", "record_decisions"]),
        ("crosswalk_audit", ["verify_chain", "write_report", "purge_expired"]),
        ("crosswalk_retention", ["purge_staged"]),
    ],
)
def test_each_dag_reads_as_its_flows_steps(dag_id, steps):
    assert _chain(DAGS[dag_id]) == steps


def test_every_task_of_every_dag_retries_with_backoff_and_reports_its_failure():
    """default_args is written once: the retention DAG once lacked the backoff the others had."""
    policies = {
        # A mapped task keeps the backoff as its multiplier (2.0) and the callback unlisted.
        (bool(t.retry_exponential_backoff), t.retry_delay, _listed(t.on_failure_callback) == [on_task_failure])
        for dag in DAGS.values()
        for t in dag.tasks
    }
    assert len(policies) == 1
    ((backoff, _, reported),) = policies
    assert backoff and reported


def _listed(callbacks) -> list:
    return list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks]

"""Each kind of DAG is its flow's steps in order, with one retry policy everywhere (no server, no run)."""

from __future__ import annotations

import pytest

from crosswalk.orchestration.factory import dags_from_config
from crosswalk.orchestration.ids import dag_id_for
from crosswalk.orchestration.notifiers import CrosswalkNotifier

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
    """default_args is written once: the retention DAG once lacked the backoff the others had. Each task's failure
    callback is the notifier of every channel that asked for failures about its DAG's partner."""
    from crosswalk.config.loader import load_config
    from crosswalk.config.models import NotificationChannel

    cfg = load_config(check_descriptors=False)
    channels = [
        NotificationChannel.model_validate({"id": "ops", "webhook": {"conn_id": "a"}, "on": ["failure"]}),
        NotificationChannel.model_validate(
            {"id": "council", "webhook": {"conn_id": "b"}, "on": ["failure"], "partners": ["northshire-council"]}
        ),
    ]
    cfg.settings.notifications[:] = channels
    dags = dags_from_config(cfg)
    policies = {
        (bool(t.retry_exponential_backoff), t.retry_delay) for dag in dags.values() for t in dag.tasks
    }  # a mapped task keeps the backoff as its multiplier (2.0)
    assert len(policies) == 1 and next(iter(policies))[0]
    partner_of = {dag_id_for(f): f.partner for f in cfg.feeds.values()}
    partner_of |= {f"review_{f.id.replace('-', '_')}": f.partner for f in cfg.feeds.values()}
    council = 0
    for dag in dags.values():
        expected = ["council", "ops"] if partner_of.get(dag.dag_id) == "northshire-council" else ["ops"]
        council += expected == ["council", "ops"]
        for t in dag.tasks:
            told = sorted(n.channel_id for n in _listed(t.on_failure_callback) if isinstance(n, CrosswalkNotifier))
            assert told == expected, (dag.dag_id, t.task_id, told)
    assert council >= 2  # the council's inbound feed and its review


def _listed(callbacks) -> list:
    return list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks] if callbacks else []

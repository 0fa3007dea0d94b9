"""Emit each disclosure's OpenLineage run (:mod:`crosswalk.lineage`) through Airflow's OpenLineage provider: its
configured transport, namespace and redaction, parented to the Airflow task run that made the disclosure (as the
provider names that run), so a lineage tool shows the delivery under its task. Nothing is emitted where the
provider is not configured; a transport that fails never fails the task."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from crosswalk.lineage import Flow, events

log = logging.getLogger(__name__)


def emitter(context: Any, target_namespace: str | None = None):
    """The ``on_disclosed`` callback for a task: emits each flow it is given, in ``target_namespace`` (the partner's
    server) where the target is a file."""

    def emit(flow: Flow) -> None:
        try:
            _emit(flow if target_namespace is None else dataclasses.replace(flow, target_namespace=target_namespace),
                  context)  # fmt: skip
        except Exception as exc:  # lineage is a report on the work, never a reason to fail it
            log.warning("OpenLineage event for %s not emitted: %s", flow.kind, type(exc).__name__)

    return emit


def _emit(flow: Flow, context: Any) -> None:
    from airflow.providers.openlineage import conf

    if conf.is_disabled():
        return
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    adapter = get_openlineage_listener().adapter
    ti, dag_run = context["ti"], context["dag_run"]
    parent_run = adapter.build_task_instance_run_id(
        dag_id=ti.dag_id, task_id=ti.task_id, try_number=ti.try_number,
        logical_date=dag_run.logical_date or dag_run.run_after, map_index=ti.map_index,
    )  # fmt: skip
    namespace = conf.namespace()
    for event in events(flow, namespace, (namespace, f"{ti.dag_id}.{ti.task_id}", parent_run)):
        adapter.emit(event)
    log.info(
        "OpenLineage: %s of %s emitted (run %s)", flow.kind, flow.feed_id, events(flow, namespace, None)[0].run.runId
    )


def sftp_namespace(conn_id: str) -> str:
    """A partner's server as the OpenLineage naming spec names it: ``sftp://host:port``."""
    from crosswalk.orchestration.connection_types import connection

    conn = connection(conn_id)
    return f"sftp://{conn.host}:{conn.port or 22}"

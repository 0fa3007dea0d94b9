"""Run the generated DAGs for real with ``dag.test()``, loaded from the bundle like the DAG processor does."""

from __future__ import annotations

from tests.conftest import REPO


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False, bundle_path=REPO, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def run_dag(dag_id: str, conf: dict | None = None):
    """Run one DAG run to completion (with ``conf``, what the trigger form submits); return
    (state, {task_id[map_index]: state})."""
    dag = load_dags()[dag_id]
    dr = dag.test(run_conf=conf)
    states = {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in dr.get_task_instances()
    }
    return str(dr.state), states


def run_dag_answering(dag_id: str, answer):
    """Run a DAG whose human-in-the-loop tasks wait for people, answering each as a reviewer would in the
    Required Actions UI: through the api-server's own handler for that form (``update_hitl_detail``),
    against the metadata database ``dag.test()`` uses. ``answer(subject, body)`` returns
    ``(chosen option, responder name)``. Returns (state, task states, the HITL details answered)."""
    import threading
    import time
    from types import SimpleNamespace

    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    answered: list[dict] = []
    stop = threading.Event()

    def respond() -> None:
        # Answers for as long as the run waits: a deadline here would leave dag.test() waiting forever
        # on a slow machine.
        while not stop.is_set():
            with create_session() as session:
                waiting = session.execute(
                    select(HITLDetail, TaskInstance)
                    .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
                    # As the Required Actions list does: only tasks parked waiting for an answer (a task
                    # writes its request a moment before it parks).
                    .where(
                        TaskInstance.dag_id == dag_id,
                        TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                        HITLDetail.responded_at.is_(None),
                    )
                ).all()
                for detail, ti in waiting:
                    option, name = answer(detail.subject, detail.body)
                    user = SimpleNamespace(
                        get_id=lambda name=name: name.lower().replace(" ", "."), get_name=lambda name=name: name
                    )
                    update_hitl_detail(
                        dag_id=ti.dag_id,
                        dag_run_id=ti.run_id,
                        task_id=ti.task_id,
                        update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
                        user=user,
                        session=session,
                        map_index=ti.map_index,
                    )
                    session.commit()
                    answered.append({"subject": detail.subject, "body": detail.body, "option": option, "by": name})
            time.sleep(0.5)

    responder = threading.Thread(target=respond, daemon=True)
    responder.start()
    try:
        state, states = run_dag(dag_id)
    finally:
        stop.set()
        responder.join(timeout=10)
    return state, states, answered


def task_context(dag_id: str, task_id: str, run_id: str, map_index: int = -1, run_type: str = "manual") -> dict:
    """What a task body sees of Airflow (the run, the task instance, the form's params), for tests that call
    a task's body directly rather than through a DAG run."""
    from types import SimpleNamespace

    return {
        "dag_run": SimpleNamespace(dag_id=dag_id, run_id=run_id, run_type=run_type, triggering_user_name="ops"),
        "ti": SimpleNamespace(task_id=task_id, map_index=map_index, get_task_states=lambda **kw: {}),
        "params": {},
    }

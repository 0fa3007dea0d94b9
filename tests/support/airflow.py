"""Run the generated DAGs for real with ``dag.test()``, loaded from the bundle like the DAG processor does."""

from __future__ import annotations

from tests.conftest import REPO


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False, bundle_path=REPO, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def run_dag(dag_id: str):
    """Run one DAG run to completion; return (state, {task_id[map_index]: state})."""
    dag = load_dags()[dag_id]
    dr = dag.test()
    states = {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in dr.get_task_instances()
    }
    return str(dr.state), states

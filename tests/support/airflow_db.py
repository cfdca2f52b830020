"""Reading a finished run back from Airflow's metadata database (tests that run DAGs in-process)."""

from __future__ import annotations

from typing import Any


def run_state(dag_id: str, run_id: str) -> tuple[str, dict[tuple[str, int], str], dict[tuple[str, int], Any]]:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        )
        states = {(ti.task_id, ti.map_index): str(ti.state) for ti in tis}
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        )
        xcoms = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
        return str(run.state), states, xcoms

"""gong_crm_setup's tasks against the emulator: idempotent registration and the custom-field schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

pytestmark = [pytest.mark.floor]


@pytest.fixture(scope="module")
def setup_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS / "gong_crm_setup.py"), bundle_path=DAGS).dags["gong_crm_setup"]


def run(dag: Any, task_id: str, *args: Any, **params: Any) -> Any:
    """Call a @task's function as the task would, with the DAG's Params (defaults + ``params``)."""
    values = {name: dag.params[name] for name in dag.params}
    values.update(params)
    return dag.task_dict[task_id].python_callable(*args, params=values)


def test_register_is_idempotent_and_writes_the_schema_file(
    setup_dag: Any, gong_connection_env: str, emulator: Any, emulator_client: Any
) -> None:
    from gong_provider.hooks.gong import GongCrmHook

    existing = GongCrmHook(gong_connection_env).list_integrations()
    # The documented order: the emulator starts as gong_crm_setup would leave Gong, so the setup's
    # default Params find its integration (Gong answers 409, we reuse it): no Param to guess.
    first = run(setup_dag, "register")
    again = run(setup_dag, "register")
    assert first == again == str(existing[0].integration_id)
    assert existing[0].name == setup_dag.params["integration_name"]
    assert isinstance(first, str)  # a string, so that no JSON consumer rounds the 64-bit id

    written = run(setup_dag, "write_schema", first)
    schema = json.loads((DAGS / "data" / "schema.json").read_text())
    assert written == {object_type: len(fields) for object_type, fields in schema.items()}
    stored = GongCrmHook(gong_connection_env).get_entity_schema(int(first), "ACCOUNT")
    assert {field.unique_name for field in stored} == {f["uniqueName"] for f in schema["ACCOUNT"]}

    assert run(setup_dag, "write_schema", first, schema_file=None) == {}
    message = setup_dag.task_dict["announce"].python_callable(first, written)
    assert message == first

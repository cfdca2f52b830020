"""The example DAGs: they parse cleanly, without I/O, into the graph the docs describe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
TYPES = ["BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD"]
GROUPS = [t.lower() for t in TYPES]

pytestmark = [pytest.mark.floor]


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import BundleDagBag as DagBag

    return DagBag(dag_folder=str(DAGS), bundle_path=DAGS)


@pytest.fixture(scope="module")
def sync_dag(dagbag: Any) -> Any:
    return dagbag.dags["gong_crm_sync"]


def test_both_dags_parse_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"gong_crm_sync", "gong_crm_setup"}


def test_helper_package_and_data_are_not_scanned_as_dags() -> None:
    ignored = (DAGS / ".airflowignore").read_text().split()
    assert {"gong_crm_lib/", "data/"} <= set(ignored)


def test_sync_dag_schedule_and_params(sync_dag: Any) -> None:
    assert sync_dag.catchup is False
    assert sync_dag.max_active_runs == 1
    params = sync_dag.params
    expected = {"integration_id", "source", "entity_types", "dry_run", "max_reject_ratio"}
    assert expected <= set(params.keys())
    for name in params:
        param = params.get_param(name)
        assert param.schema.get("title"), name
        assert param.description, name
    integration = params.get_param("integration_id").schema
    assert integration["type"] == "string"  # a JS number would round a 64-bit id
    entity_types = params.get_param("entity_types")
    assert entity_types.value == TYPES
    assert entity_types.schema["items"]["enum"] == TYPES


def test_integration_id_param_accepts_a_64_bit_id_exactly(sync_dag: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    param = sync_dag.params.get_param("integration_id")
    assert param.resolve("2271307570613351879") == "2271307570613351879"
    with pytest.raises(ParamValidationError):
        param.resolve("22713075706133518.79")


def test_each_type_is_a_task_group_of_stage_upload_wait(sync_dag: Any) -> None:
    for group in GROUPS:
        for task in ("stage", "upload", "wait", "later_generations", "summarize"):
            assert f"{group}.{task}" in sync_dag.task_dict, f"{group}.{task}"
        stage = sync_dag.get_task(f"{group}.stage")
        upload = sync_dag.get_task(f"{group}.upload")
        wait = sync_dag.get_task(f"{group}.wait")
        assert upload.upstream_task_ids == {stage.task_id}
        assert wait.upstream_task_ids == {upload.task_id}
        assert type(upload).__name__ == "MappedOperator"
        assert type(wait).__name__ == "MappedOperator"
        assert wait.partial_kwargs["deferrable"] is True
        assert stage.trigger_rule == "none_failed"


def test_every_gong_calling_task_uses_the_pool(dagbag: Any, sync_dag: Any) -> None:
    for group in GROUPS:
        for task in ("upload", "wait", "later_generations"):
            assert sync_dag.get_task(f"{group}.{task}").pool == "gong_api", f"{group}.{task}"
    setup = dagbag.dags["gong_crm_setup"]
    assert setup.get_task("register").pool == "gong_api"
    assert setup.get_task("write_schema").pool == "gong_api"


def test_waves_follow_gongs_dependency_order(sync_dag: Any) -> None:
    def upstream_groups(group: str) -> set[str]:
        return {task.split(".")[0] for task in sync_dag.get_task(f"{group}.stage").upstream_task_ids}

    assert upstream_groups("business_user") == set()
    assert upstream_groups("stage") == set()
    assert upstream_groups("account") == {"business_user", "stage"}
    for group in ("contact", "deal", "lead"):
        assert upstream_groups(group) == {"account"}


def test_report_runs_whatever_happened_and_follows_every_type(sync_dag: Any) -> None:
    report = sync_dag.get_task("report")
    assert report.trigger_rule == "all_done"
    assert {f"{group}.summarize" for group in GROUPS} <= report.upstream_task_ids
    assert sync_dag.leaves == [report]


def test_summarize_emits_through_an_asset_alias_per_type(sync_dag: Any) -> None:
    from airflow.sdk import AssetAlias

    for object_type in TYPES:
        outlets = sync_dag.get_task(f"{object_type.lower()}.summarize").outlets
        assert outlets == [AssetAlias(f"gong-crm-{object_type}")]


def test_setup_dag_is_manual_and_paused(dagbag: Any) -> None:
    setup = dagbag.dags["gong_crm_setup"]
    assert setup.schedule is None
    assert setup.is_paused_upon_creation is True
    assert set(setup.task_dict) == {"register", "write_schema", "announce"}


def test_schedule_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import BundleDagBag as DagBag

    monkeypatch.setenv("GONG_CRM_SYNC_SCHEDULE", "0 3 * * *")
    dag = DagBag(dag_folder=str(DAGS / "gong_crm_sync.py"), bundle_path=DAGS).dags["gong_crm_sync"]
    assert dag.schedule == "0 3 * * *"
    monkeypatch.setenv("GONG_CRM_SYNC_SCHEDULE", "none")
    dag = DagBag(dag_folder=str(DAGS / "gong_crm_sync.py"), bundle_path=DAGS).dags["gong_crm_sync"]
    assert dag.schedule is None
    monkeypatch.delenv("GONG_CRM_SYNC_SCHEDULE")
    dag = DagBag(dag_folder=str(DAGS / "gong_crm_sync.py"), bundle_path=DAGS).dags["gong_crm_sync"]
    assert dag.schedule == "@daily"


PARSE_WITHOUT_IO = textwrap.dedent(
    """
    import json, os, sys
    import airflow, airflow.sdk
    from airflow.dag_processing.dagbag import BundleDagBag as DagBag

    events = []
    def audit(event, args):
        if event == "socket.connect":
            events.append(["connect", repr(args[1])])
        elif event == "open" and isinstance(args[0], str):
            path = args[0]
            code = path.endswith((".py", ".pyc", ".so", ".pth")) or "__pycache__" in path
            library = "site-packages" in path or "/lib/python" in path
            if not (code or library or os.path.isdir(path) or path.endswith(".airflowignore")):
                events.append(["open", path])
        elif event == "sqlite3.connect":
            events.append(["sqlite", repr(args)])
    sys.addaudithook(audit)
    bag = DagBag(dag_folder=sys.argv[1], bundle_path=os.path.dirname(sys.argv[1]))
    print(json.dumps({"errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                      "dags": sorted(bag.dag_ids), "events": events}))
    """
)


@pytest.mark.parametrize("dag_file", ["gong_crm_sync.py", "gong_crm_setup.py"])
def test_parsing_does_no_io(dag_file: str, tmp_path: Path) -> None:
    """No socket, no database, no data file is touched while the DAG file is parsed."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'never-opened.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_IO, str(DAGS / dag_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == {}
    assert outcome["dags"] == [dag_file.removesuffix(".py")]
    assert outcome["events"] == []
    assert not (tmp_path / "never-opened.db").exists()

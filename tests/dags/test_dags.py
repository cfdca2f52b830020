"""The packaged DAGs (gong_provider.dags) through the repo's thin files: they parse cleanly, without I/O,
into the graph the docs describe, with Params the trigger form and REST API conf accept."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def test_sample_data_is_not_scanned_as_dags() -> None:
    assert (DAGS / ".airflowignore").read_text().split() == ["data/"]


def test_the_thin_files_only_call_the_packaged_factories() -> None:
    thin_files = {"gong_crm_sync.py": "gong_crm_sync_dag", "gong_crm_setup.py": "gong_crm_setup_dag"}
    for name, factory in thin_files.items():
        text = (DAGS / name).read_text()
        assert f"from gong_provider.dags import {factory}" in text
        assert len([line for line in text.splitlines() if line.strip()]) <= 8, name


@pytest.fixture(scope="module")
def served_sync_dag(sync_dag: Any) -> Any:
    """The DAG as the API server sees it (serialized to JSON and back): it validates triggered conf."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_json(DagSerialization.to_json(sync_dag))


def test_sync_dag_schedule_and_params(sync_dag: Any) -> None:
    assert sync_dag.catchup is False
    assert sync_dag.max_active_runs == 1
    params = sync_dag.params
    expected = {"integration_id", "source", "entity_types", "dry_run", "max_reject_ratio"}
    expected |= {"sync_mode", "reset_state", "max_delete_ratio", "confirm_deletes", "staging_retention_days"}
    expected |= {"reference_check", "delete_approval_hours", "verify_sample"}
    assert expected <= set(params.keys())
    for name in params:
        param = params.get_param(name)
        assert param.schema.get("title"), name
        assert param.description, name
    integration = params.get_param("integration_id").schema
    assert integration["type"][0] == "string"  # the form shows text: a JS number would round a 64-bit id
    assert params.get_param("source").value == str(DAGS / "data")  # the repo's thin file: the sample
    entity_types = params.get_param("entity_types")
    assert entity_types.value == TYPES
    assert entity_types.schema["items"]["enum"] == TYPES


def form_requires(schema: dict[str, Any]) -> bool:
    """Airflow 3.3's trigger form: a Param is required unless its type is missing or includes "null"."""
    kind = schema.get("type")
    return bool(kind) and not (isinstance(kind, list) and "null" in kind)


def form_field_parses_json(schema: dict[str, Any]) -> bool:
    """The form's multi-type field (2+ non-null types, no enum or examples) JSON-parses what is typed."""
    kind = schema.get("type")
    several = isinstance(kind, list) and len([k for k in kind if k != "null"]) > 1
    listed = isinstance(schema.get("enum"), list) or isinstance(schema.get("examples"), list)
    return several and not listed


@pytest.mark.parametrize("dag_id", ["gong_crm_sync", "gong_crm_setup"])
def test_the_trigger_form_can_trigger_with_the_defaults(dag_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any GONG_* variable (a fresh pip install): no required field is left empty."""
    for variable in ("GONG_INTEGRATION_ID", "GONG_CRM_SOURCE", "GONG_CRM_SCHEMA_FILE"):
        monkeypatch.delenv(variable, raising=False)
    from gong_provider.dags import gong_crm_setup_dag, gong_crm_sync_dag

    dag = {"gong_crm_sync": gong_crm_sync_dag, "gong_crm_setup": gong_crm_setup_dag}[dag_id]()
    for name in dag.params:
        param = dag.params.get_param(name)
        if form_requires(param.schema):
            assert param.value not in (None, ""), f"{name} is required by the form and empty"
        assert not form_field_parses_json(param.schema), f"{name} would pass through a JS number"
    dag.params.validate()  # what the form sends with the defaults is valid
    optional = {"integration_id", "source", "sql_conn_id", "sql_queries", "confirm_deletes"}
    assert {n for n in dag.params if not form_requires(dag.params.get_param(n).schema)} == (
        optional if dag_id == "gong_crm_sync" else {"schema_file"}
    )


@pytest.mark.parametrize(
    "value",
    ["2271307570613351879", 2271307570613351879, "0", 0, str(2**63 - 1), 2**63 - 1, None, ""],
)
def test_integration_id_param_accepts_a_string_or_an_exact_json_integer(
    served_sync_dag: Any, value: Any
) -> None:
    """REST API / CLI conf: digits or a JSON integer (exact in Python clients); None or "" for dry runs."""
    conf = json.loads(json.dumps({"integration_id": value}))  # as the API server receives it
    params = served_sync_dag.params.deep_merge(conf)  # what create_dagrun validates
    assert params.validate()["integration_id"] == value


@pytest.mark.parametrize(
    "value",
    ["22713075706133518.79", "2.27e18", "-1", -1, str(2**63), 2**63, "1" * 20, 1.5, True, "abc", " 42"],
)
def test_integration_id_param_refuses_what_is_not_an_id(served_sync_dag: Any, value: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    # Airflow 3.3 raises ParamValidationError for a served DAG's params; 3.2 (the floor) a ValueError
    with pytest.raises((ParamValidationError, ValueError), match="integration_id"):
        served_sync_dag.params.deep_merge({"integration_id": value}).validate()


def test_both_conf_shapes_of_the_id_reach_the_tasks_as_the_same_exact_int(served_sync_dag: Any) -> None:
    from gong_provider.dags.params import integration_id_from

    for value in ("2271307570613351879", 2271307570613351879):
        params = served_sync_dag.params.deep_merge({"integration_id": value}).validate()
        assert integration_id_from(params) == 2271307570613351879
    with pytest.raises(ValueError, match="GONG_INTEGRATION_ID"):
        integration_id_from(served_sync_dag.params.deep_merge({"integration_id": None}).validate())


def test_each_type_is_a_task_group_of_stage_upload_wait(sync_dag: Any) -> None:
    for group in GROUPS:
        for task in ("stage", "upload", "wait", "later_generations", "summarize"):
            assert f"{group}.{task}" in sync_dag.task_dict, f"{group}.{task}"
        stage = sync_dag.get_task(f"{group}.stage")
        upload = sync_dag.get_task(f"{group}.upload")
        wait = sync_dag.get_task(f"{group}.wait")
        if group == "business_user":  # changed users: deleted first, then the new versions
            reassociate = sync_dag.get_task(f"{group}.delete_changed_users")
            assert reassociate.upstream_task_ids == {stage.task_id}
            assert upload.upstream_task_ids == {stage.task_id, reassociate.task_id}
        else:
            assert upload.upstream_task_ids == {stage.task_id}
            assert f"{group}.delete_changed_users" not in sync_dag.task_dict
        assert wait.upstream_task_ids == {upload.task_id}
        assert type(upload).__name__ == "MappedOperator"
        assert type(wait).__name__ == "MappedOperator"
        assert wait.partial_kwargs["deferrable"] is True
        assert stage.trigger_rule == "all_done"  # a later wave goes whatever the earlier one's outcome
        # the commit waits for every upload of the type, whatever their outcome; the report for it
        commit = sync_dag.get_task(f"{group}.commit")
        assert commit.trigger_rule == "all_done"
        assert commit.upstream_task_ids == {f"{group}.later_generations", f"{group}.send_approved_deletes"}
        # withheld mirror deletes: a person approves them, then exactly those files go
        approve = sync_dag.get_task(f"{group}.approve_deletes")
        assert type(approve).__name__ == "GongDeleteApprovalOperator"
        assert approve.upstream_task_ids == {stage.task_id}
        send = sync_dag.get_task(f"{group}.send_approved_deletes")
        assert send.upstream_task_ids == {approve.task_id, stage.task_id}
        # GET /v2/crm/entities returns these four types: a verify task after the commit
        if group in ("account", "contact", "deal", "lead"):
            verify = sync_dag.get_task(f"{group}.verify")
            assert verify.upstream_task_ids == {commit.task_id}
            assert verify.pool == "gong_api"
        else:
            assert f"{group}.verify" not in sync_dag.task_dict
        assert sync_dag.get_task(f"{group}.later_generations").upstream_task_ids >= {wait.task_id}
        assert commit.task_id in sync_dag.get_task("report").upstream_task_ids
        assert upload.partial_kwargs["client_request_id_scope"] == "run"


def test_every_gong_calling_task_uses_the_pool(dagbag: Any, sync_dag: Any) -> None:
    for group in GROUPS:
        for task in ("upload", "wait", "later_generations", "commit"):
            assert sync_dag.get_task(f"{group}.{task}").pool == "gong_api", f"{group}.{task}"
    setup = dagbag.dags["gong_crm_setup"]
    assert setup.get_task("register").pool == "gong_api"
    assert setup.get_task("write_schema").pool == "gong_api"


def test_waves_follow_gongs_dependency_order(sync_dag: Any) -> None:
    """A wave waits for the earlier wave's commits (trigger rule all_done), not for its success."""

    def upstream_groups(group: str, task: str = "commit") -> set[str]:
        upstream = sync_dag.get_task(f"{group}.stage").upstream_task_ids
        return {name.split(".")[0] for name in upstream if name.endswith(f".{task}")}

    assert sync_dag.get_task("business_user.stage").upstream_task_ids == set()
    assert sync_dag.get_task("stage.stage").upstream_task_ids == set()
    assert upstream_groups("account") == {"business_user", "stage"}
    for group in ("contact", "deal", "lead"):
        assert upstream_groups(group) == {"account"}
    # LEAD's convertedTo* references are checked against this run's CONTACT and DEAL ids
    assert upstream_groups("lead", "stage") == {"contact", "deal"}
    assert upstream_groups("contact", "stage") == upstream_groups("deal", "stage") == set()
    for group in GROUPS:
        assert sync_dag.get_task(f"{group}.stage").trigger_rule == "all_done"


def test_report_and_cleanup_run_whatever_happened_and_follow_every_type(sync_dag: Any) -> None:
    report = sync_dag.get_task("report")
    cleanup = sync_dag.get_task("cleanup")
    assert report.trigger_rule == cleanup.trigger_rule == "all_done"
    assert {f"{group}.summarize" for group in GROUPS} <= report.upstream_task_ids
    assert cleanup.upstream_task_ids == {f"{group}.commit" for group in GROUPS}
    assert sorted(task.task_id for task in sync_dag.leaves) == ["cleanup", "report"]


@pytest.mark.parametrize("integration_id", [None, "not an id", "2271307570613351879"])
def test_summarize_emits_through_an_asset_alias_per_type(
    integration_id: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias carries every run's event; the Asset of the DAG's integration id, when it is known at
    parse time, is declared too (Airflow then creates it before its first event: issue 22)."""
    from airflow.sdk import Asset, AssetAlias

    from gong_provider.dags import gong_crm_sync_dag
    from gong_provider.dags.summary import alias_only

    monkeypatch.delenv("GONG_INTEGRATION_ID", raising=False)
    dag = gong_crm_sync_dag(integration_id=integration_id, schedule=None)
    for object_type in TYPES:
        outlets = dag.get_task(f"{object_type.lower()}.summarize").outlets
        declared = (
            [Asset(f"gong://crm/{integration_id}/{object_type}")]
            if integration_id == "2271307570613351879"
            else []
        )
        assert outlets == [AssetAlias(f"gong-crm-{object_type}"), *declared]
        alias_only(outlets)  # what the task does when it runs: its one event goes through the alias
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


ENVIRONMENT = {
    "GONG_CRM_SOURCE": "/env/export",
    "GONG_INTEGRATION_ID": "42",
    "GONG_CONN_ID": "gong_env",
    "GONG_POLL_INTERVAL": "7",
    "GONG_CRM_SYNC_SCHEDULE": "0 3 * * *",
    "GONG_CRM_SCHEMA_FILE": "/env/schema.json",
}


def sync_settings(dag: Any) -> dict[str, Any]:
    upload = dag.get_task("contact.upload")
    wait = dag.get_task("contact.wait")
    return {
        "source": dag.params["source"],
        "integration_id": dag.params["integration_id"],
        "conn_id": {upload.partial_kwargs["gong_conn_id"], wait.partial_kwargs["gong_conn_id"]},
        "poll_interval": wait.partial_kwargs["poke_interval"],
        "schedule": dag.schedule,
    }


def test_factory_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gong_provider.dags import gong_crm_setup_dag, gong_crm_sync_dag

    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    assert sync_settings(gong_crm_sync_dag(fallback_source="/sample")) == {
        "source": "/env/export",
        "integration_id": "42",
        "conn_id": {"gong_env"},
        "poll_interval": 7.0,
        "schedule": "0 3 * * *",
    }
    assert gong_crm_setup_dag().params["schema_file"] == "/env/schema.json"
    for name in ENVIRONMENT:
        monkeypatch.delenv(name)
    assert sync_settings(gong_crm_sync_dag()) == {
        "source": None,  # a pip user's default: no sample data sent to a real Gong by surprise
        "integration_id": None,
        "conn_id": {"gong_default"},
        "poll_interval": 10.0,
        "schedule": "@daily",
    }
    assert gong_crm_sync_dag(fallback_source="/sample").params["source"] == "/sample"
    assert gong_crm_setup_dag().params["schema_file"] is None


def test_factory_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gong_provider.dags import gong_crm_setup_dag, gong_crm_sync_dag

    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    dag = gong_crm_sync_dag(
        dag_id="gong_crm_sync_eu",
        schedule=None,
        source="s3://eu/export",
        integration_id=2271307570613351879,
        gong_conn_id="gong_eu",
        poll_interval=2,
        pool="gong_eu",
        tags=["eu"],
    )
    assert dag.dag_id == "gong_crm_sync_eu"
    assert dag.tags == {"eu"}
    assert dag.get_task("contact.upload").pool == "gong_eu"
    assert sync_settings(dag) == {
        "source": "s3://eu/export",
        "integration_id": "2271307570613351879",
        "conn_id": {"gong_eu"},
        "poll_interval": 2,
        "schedule": None,
    }
    setup = gong_crm_setup_dag(dag_id="gong_crm_setup_eu", schema_file="/eu.json", gong_conn_id="gong_eu")
    assert (setup.dag_id, setup.params["schema_file"]) == ("gong_crm_setup_eu", "/eu.json")


def test_the_three_line_file_is_found_in_safe_mode(tmp_path: Path) -> None:
    """What README tells pip users to write: Airflow's safe mode needs the words "airflow" and "dag"."""
    from airflow.dag_processing.dagbag import BundleDagBag as DagBag

    from tests.support.gong_tasks import readme_dag_file

    dag_file = readme_dag_file()
    assert len([line for line in dag_file.splitlines() if line.strip()]) == 3
    (tmp_path / "gong.py").write_text(dag_file)
    bag = DagBag(dag_folder=str(tmp_path), bundle_path=tmp_path, safe_mode=True)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["gong_crm_sync"]
    assert bag.dags["gong_crm_sync"].fileloc == str(tmp_path / "gong.py")


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

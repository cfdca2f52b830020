"""Shared pieces of the fault-injection matrix (tests/reliability/test_faults*.py): data, DAG runs, checks.

DAG runs use ``dag.test()`` (tasks executed through the task SDK, in this process) or worker
subprocesses running ``dag.test()``; ``continue_run`` drives an existing run on the way the
scheduler retries a task in the same run (so the same clientRequestId is derived).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.paths import importing_tests

FAULTS_DAG_FILE = Path(__file__).parents[1] / "airflow_dags" / "faults_upload_wait.py"
ENTITIES = "/v2/crm/entities"
REQUEST_STATUS = "/v2/crm/request-status"
BOUND = 240.0
"""Seconds any wait in these tests may take before it fails: generous, since CI runs the e2e tests beside
the others on 2 cores (a bound, never a timing assertion)."""
FAST_RETRIES = {"retry_wait_base": 0.05, "retry_wait_max": 0.5, "max_retries": 5}
"""Connection extras: the hook's own backoff shortened for tests (Retry-After is still honoured)."""


# ----------------------------------------------------------------------------- helpers


def poll(check: Callable[[], Any], *, what: str, timeout: float = BOUND, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def faults_dags() -> Any:
    """The test DAGs module (also found by Airflow in the dags folder under its own name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("faults_upload_wait", FAULTS_DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get("faults_upload_wait")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["faults_upload_wait"] = module
        spec.loader.exec_module(module)
    return module


def contact_line(object_id: str, **fields: Any) -> str:
    record = {
        "objectId": object_id,
        "modifiedDate": "2026-01-02T03:04:05Z",
        "emailAddress": f"{object_id}@example.com",
        "firstName": object_id.title(),
    }
    record.update(fields)
    return json.dumps(record)


def write_contacts(path: Path, object_ids: list[str]) -> Path:
    path.write_text("".join(contact_line(object_id) + "\n" for object_id in object_ids), encoding="utf-8")
    return path


def connection_json(emulator: EmulatorProcess, **extra: Any) -> str:
    conn = json.loads(emulator.connection_json())
    conn["extra"] = {**FAST_RETRIES, **extra}
    return json.dumps(conn)


def conf_for(emulator: EmulatorProcess, **values: Any) -> dict[str, Any]:
    return {"integration_id": str(emulator.integration_id), "object_type": "CONTACT", **values}


class RunResult:
    """What a DAG run left: its state, each task instance (state, try number) and its XComs."""

    def __init__(self, dag_id: str, run_id: str, output: str = "") -> None:
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        self.dag_id, self.run_id, self.output = dag_id, run_id, output
        with create_session() as session:
            run = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            ).one()
            self.state = str(run.state)
            self.tis: dict[tuple[str, int], tuple[str, int]] = {
                (ti.task_id, ti.map_index): (str(ti.state), ti.try_number)
                for ti in session.scalars(
                    select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
                )
            }
            self.xcoms: dict[tuple[str, int], Any] = {
                (row.task_id, row.map_index): XComModel.deserialize_value(row)
                for row in session.scalars(
                    select(XComModel).where(
                        XComModel.dag_id == dag_id,
                        XComModel.run_id == run_id,
                        XComModel.key == "return_value",
                    )
                )
            }

    def state_of(self, task_id: str, map_index: int = -1) -> str:
        return self.tis[(task_id, map_index)][0]

    def tries_of(self, task_id: str, map_index: int = -1) -> int:
        return self.tis[(task_id, map_index)][1]

    def xcom(self, task_id: str, map_index: int = -1) -> Any:
        return self.xcoms[(task_id, map_index)]


def run_dag(dag: Any, conf: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> RunResult:
    """``dag.test()`` in this process; the run's task output is returned with the result."""
    capsys.readouterr()
    run = dag.test(run_conf=conf)
    output = capsys.readouterr()
    return RunResult(dag.dag_id, run.run_id, output.out + output.err)


def continue_run(dag: Any, run_id: str, capsys: pytest.CaptureFixture[str] | None = None) -> RunResult:
    """Go on with an existing run the way the scheduler would (same run_id; retries get try + 1).

    ``dag.test()`` always starts a new run with a new run_id, so a retry of a killed or cleared task
    in the same run (which is what sends the same clientRequestId) is driven here with the same loop
    ``dag.test()`` uses.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    if capsys is not None:
        capsys.readouterr()
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    session = settings.Session()
    try:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)
        ).one()
        run.dag = scheduler_dag
        if run.state != DagRunState.RUNNING:
            run.state = DagRunState.RUNNING
            session.commit()
        deadline = time.monotonic() + BOUND
        while run.state == DagRunState.RUNNING:
            assert time.monotonic() < deadline, "the run did not finish"
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in run.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
    finally:
        session.close()
    if capsys is None:
        return RunResult(dag.dag_id, run_id)
    output = capsys.readouterr()
    return RunResult(dag.dag_id, run_id, output.out + output.err)


def mark_for_retry(dag_id: str, run_id: str, task_ids: list[str] | None, *, clear: bool = False) -> list[str]:
    """What the scheduler does to a task whose worker died (retry), or what a user's "Clear" does."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        tis = list(
            session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id.in_(task_ids)
                    if task_ids is not None
                    else TaskInstance.state == TaskInstanceState.RUNNING,
                )
            )
        )
        assert tis, f"no task instances {task_ids} in {run_id}"
        if clear:
            clear_task_instances(tis, session)
        else:
            for ti in tis:
                ti.state = TaskInstanceState.UP_FOR_RETRY
                ti.end_date = datetime.now(timezone.utc) - timedelta(hours=1)  # retry_delay is over
        return [f"{ti.task_id}[{ti.map_index}]" for ti in tis]


def assert_exactly_once(client: EmulatorClient, object_ids: list[str], *, uploads: int = 1) -> None:
    """Every record stored, each accepted exactly once; each file accepted once."""
    assert client.record_counts("CONTACT") == dict.fromkeys(object_ids, 1)
    assert set(client.entities("CONTACT")) == set(object_ids)
    counts = client.upload_counts()
    assert len(counts) == uploads, counts
    assert set(counts.values()) == {1}, counts


def posts(client: EmulatorClient) -> list[dict[str, Any]]:
    return [call for call in client.requests_log() if call["method"] == "POST" and call["path"] == ENTITIES]


def statuses_seen(client: EmulatorClient, path: str) -> list[int]:
    return [call["status"] for call in client.requests_log() if call["path"] == path]


def subprocess_env(emulator: EmulatorProcess, pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AIRFLOW_CONN_GONG_DEFAULT"] = connection_json(emulator)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a shared bytecode cache: each worker starts faster
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONUNBUFFERED"] = "1"
    return env


WORKER = """
import json, sys
from tests.support.faults import faults_dags
run = getattr(faults_dags(), sys.argv[1]).test(run_conf=json.loads(sys.argv[2]))
print("RUN-RESULT " + json.dumps({"run_id": run.run_id, "state": str(run.state)}), flush=True)
"""


def start_worker(
    dag_var: str, conf: dict[str, Any], env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], Any]:
    """A worker process running ``dag.test()`` in its own process group (so a kill takes it all)."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, dag_var, json.dumps(conf)],
        env=importing_tests(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def worker_result(log_path: Path) -> dict[str, Any]:
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("RUN-RESULT "):
            result: dict[str, Any] = json.loads(line[len("RUN-RESULT ") :])
            return result
    raise AssertionError(f"no result from the worker:\n{log_path.read_text(errors='replace')[-4000:]}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def kill_when(process: subprocess.Popen[bytes], check: Callable[[], Any], *, what: str) -> None:
    """SIGKILL ``process``'s group as soon as ``check()`` holds (a worker dying at that point)."""
    try:
        poll(check, what=what, timeout=300)
    finally:
        stop_group(process)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def gong(
    airflow_db: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
) -> EmulatorClient:
    """The session emulator, reset, and ``gong_default`` pointing at it with fast backoff."""
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", connection_json(emulator))
    return emulator_client


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bytecode cache for every Airflow process of the session (each compiles the DAGs once)."""
    return tmp_path_factory.mktemp("pycache")


def latest_run_id(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).one()
        return str(run.run_id)

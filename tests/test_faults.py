"""The fault-injection matrix: real upload-and-wait runs against the emulator's faults.

Each fault runs ``GongUploadEntitiesOperator`` + ``GongRequestStatusSensor`` (tests/dags/
faults_upload_wait.py) in a real Airflow DAG run (``dag.test()``, tasks executed through the task SDK),
then proves from the emulator's inspection endpoints that every record was stored exactly once
(``record_counts``), that each file was accepted once (``upload_counts``), and that the task outcome
is what a user should see.

| # | fault | expected outcome |
|---|---|---|
| 1 | 500, 502, 503 on upload, then success | success on the first try; one upload |
| 2 | 429 storms (Retry-After: 1) on upload and on request-status | success; one upload |
| 3 | connection dropped after Gong stored the upload | the hook's retry gets 409, continues; one upload |
| 4 | worker process SIGKILLed while the upload is in flight | the retry (try 2) gets 409; one upload |
| 5 | emulator restarted between upload and status check | the sensor rides it out; DONE; one upload |
| 6 | Gong FAILED with record errors | the sensor fails naming the objectIds; fixed data re-run stores them |
| 7 | processing slower than the sensor's timeout | a clear timeout; a cleared retry re-uploads nothing |
| 8 | three mapped uploads under Gong's 3 calls/s | no 429 reaches the user; all DONE |

Worker processes (fault 4, and the parallel half of fault 8) are real subprocesses running
``dag.test()``. Processing delays are zero except where a delay is the point; Retry-After is 1 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess

pytestmark = [pytest.mark.timeout(240)]

FAULTS_DAG_FILE = Path(__file__).parent / "dags" / "faults_upload_wait.py"
ENTITIES = "/v2/crm/entities"
REQUEST_STATUS = "/v2/crm/request-status"
BOUND = 60.0
"""Seconds any wait in these tests may take before it fails."""
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


def continue_run(dag: Any, run_id: str, capsys: pytest.CaptureFixture[str]) -> RunResult:
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
    output = capsys.readouterr()
    return RunResult(dag.dag_id, run_id, output.out + output.err)


def mark_for_retry(dag_id: str, run_id: str, task_ids: list[str], *, clear: bool = False) -> None:
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
                    TaskInstance.task_id.in_(task_ids),
                )
            )
        )
        assert tis, f"no task instances {task_ids} in {run_id}"
        if clear:
            clear_task_instances(tis, session)
        else:
            for ti in tis:
                ti.state = TaskInstanceState.UP_FOR_RETRY
                ti.end_date = datetime.now(timezone.utc)


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
sys.path.insert(0, sys.argv[1])
import faults_upload_wait as dags
run = getattr(dags, sys.argv[2]).test(run_conf=json.loads(sys.argv[3]))
print("RUN-RESULT " + json.dumps({"run_id": run.run_id, "state": str(run.state)}), flush=True)
"""


def start_worker(
    dag_var: str, conf: dict[str, Any], env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], Any]:
    """A worker process running ``dag.test()`` in its own process group (so a kill takes it all)."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(FAULTS_DAG_FILE.parent), dag_var, json.dumps(conf)],
        env=env,
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


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def gong(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> EmulatorClient:
    """The session emulator, reset, and ``gong_default`` pointing at it with fast backoff."""
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", connection_json(emulator))
    return emulator_client


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


# ----------------------------------------------------------------------------- 1, 2, 3: the hook's retries


def test_fault_1_server_errors_on_upload_then_success(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f1-a", "f1-b", "f1-c"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    for status in (500, 502, 503):
        gong.inject_fault("status", status=status, path=ENTITIES, method="POST")
    result = run_dag(faults_dags().faults_upload_wait, conf_for(emulator, file=str(source)), capsys)
    assert result.state == "success", result.output[-4000:]
    assert result.tries_of("upload") == 1  # absorbed by the hook, not by a task retry
    assert [call["status"] for call in posts(gong)] == [500, 502, 503, 201]
    assert_exactly_once(gong, ids)
    assert result.xcom("wait")["status"] == "DONE"


def test_fault_2_429_storms_on_upload_and_status(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f2-a", "f2-b"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    gong.inject_fault("status", status=429, retry_after=1, count=2, path=ENTITIES, method="POST")
    gong.inject_fault("status", status=429, retry_after=1, count=2, path=REQUEST_STATUS, method="GET")
    result = run_dag(faults_dags().faults_upload_wait, conf_for(emulator, file=str(source)), capsys)
    assert result.state == "success", result.output[-4000:]
    assert (result.tries_of("upload"), result.tries_of("wait")) == (1, 1)
    assert [call["status"] for call in posts(gong)] == [429, 429, 201]
    assert statuses_seen(gong, REQUEST_STATUS)[:2] == [429, 429]
    assert_exactly_once(gong, ids)


def test_fault_2_429_storm_while_the_deferred_trigger_polls(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f2d-a"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    gong.inject_fault("status", status=429, retry_after=1, count=3, path=REQUEST_STATUS, method="GET")
    result = run_dag(
        faults_dags().faults_upload_wait_deferrable, conf_for(emulator, file=str(source)), capsys
    )
    assert result.state == "success", result.output[-4000:]
    assert statuses_seen(gong, REQUEST_STATUS)[:3] == [429, 429, 429]
    assert_exactly_once(gong, ids)


def test_fault_3_connection_dropped_after_the_upload_was_stored(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f3-a", "f3-b"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    gong.inject_fault("drop_after_store", path=ENTITIES, method="POST")
    result = run_dag(faults_dags().faults_upload_wait, conf_for(emulator, file=str(source)), capsys)
    assert result.state == "success", result.output[-4000:]
    calls = posts(gong)
    assert [(call["status"], bool(call["dropped"])) for call in calls] == [(201, True), (409, False)]
    assert calls[0]["clientRequestId"] == calls[1]["clientRequestId"]  # the retry sent the same id
    assert result.xcom("upload")["already_accepted"] is True
    assert_exactly_once(gong, ids)


# ----------------------------------------------------------------------------- 4: the worker is killed


def test_fault_4_worker_killed_mid_upload_then_retried(
    gong: EmulatorClient,
    emulator: EmulatorProcess,
    tmp_path: Path,
    pycache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = ["f4-a", "f4-b", "f4-c"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    # Gong stores the upload, then the answer takes a minute: the worker is killed while waiting.
    gong.inject_fault("delay", seconds=BOUND, path=ENTITIES, method="POST")
    log_path = tmp_path / "worker.log"
    worker, log = start_worker(
        "faults_upload_wait",
        conf_for(emulator, file=str(source)),
        subprocess_env(emulator, pycache),
        log_path,
    )
    try:
        poll(lambda: gong.upload_counts(), what="the upload to reach Gong", timeout=120)
        os.killpg(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_group(worker)
        log.close()
    assert "RUN-RESULT" not in log_path.read_text(errors="replace")  # it really died mid-run
    [client_request_id] = gong.upload_counts()

    dag = faults_dags().faults_upload_wait
    run_id = latest_run_id(dag.dag_id)
    mark_for_retry(dag.dag_id, run_id, ["upload"])
    result = continue_run(dag, run_id, capsys)
    assert result.state == "success", result.output[-4000:]
    assert result.tries_of("upload") == 2
    assert result.xcom("upload")["client_request_id"] == client_request_id
    assert result.xcom("upload")["already_accepted"] is True
    assert [call["status"] for call in posts(gong)] == [201, 409]
    assert_exactly_once(gong, ids)


def latest_run_id(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).one()
        return str(run.run_id)


# ----------------------------------------------------------------------------- 5: Gong restarts


@pytest.fixture
def own_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorProcess]:
    """A private emulator (it gets restarted) with a processing delay longer than a restart."""
    with EmulatorProcess(tmp_path / "emulator", processing_delay=4, rate_limit_per_second=100_000) as process:
        monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", connection_json(process))
        yield process


def test_fault_5_emulator_restarted_between_upload_and_status_check(
    own_emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f5-a", "f5-b"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    restarted: list[float] = []
    errors: list[BaseException] = []

    def restart_once_uploaded() -> None:
        try:
            poll(lambda: own_emulator.client.upload_counts(), what="the upload", interval=0.02)
            own_emulator.restart()
            restarted.append(time.time())
        except BaseException as error:  # reported by the test thread below
            errors.append(error)

    watcher = threading.Thread(target=restart_once_uploaded, daemon=True)
    watcher.start()
    result = run_dag(faults_dags().faults_upload_wait, conf_for(own_emulator, file=str(source)), capsys)
    watcher.join(timeout=BOUND)
    assert not errors, errors
    assert restarted, "the emulator was not restarted"
    assert result.state == "success", result.output[-4000:]
    client = own_emulator.client
    assert_exactly_once(client, ids)
    # The answer that ended the wait came from the restarted process, from the persisted state.
    status_calls = [call for call in client.requests_log() if call["path"] == REQUEST_STATUS]
    assert status_calls[-1]["time"] > restarted[0]
    assert result.xcom("wait")["status"] == "DONE"


# ----------------------------------------------------------------------------- 6: record errors


def test_fault_6_failed_with_record_errors_then_fixed_and_rerun(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad_status, bad_date = "f6-good", "f6-bad-email", "f6-bad-date"
    broken = tmp_path / "broken" / "contacts.ldjson"
    broken.parent.mkdir()
    broken.write_text(
        contact_line(good)
        + "\n"
        + contact_line(bad_status, emailAddress="not-an-email")
        + "\n"
        + contact_line(bad_date, modifiedDate="2026-01-02T03:04:05.123Z")
        + "\n",
        encoding="utf-8",
    )
    dag = faults_dags().faults_upload_wait
    first = run_dag(dag, conf_for(emulator, file=str(broken)), capsys)
    assert first.state == "failed"
    assert first.state_of("upload") == "success"
    assert first.state_of("wait") == "failed"
    for object_id in (bad_status, bad_date):  # the failure names every failing record
        assert object_id in first.output, first.output[-4000:]
    assert "emailAddress" in first.output
    assert set(gong.entities("CONTACT")) == {good}  # Gong keeps a FAILED file's valid lines

    fixed = write_contacts(tmp_path / "fixed.ldjson", [good, bad_status, bad_date])
    second = run_dag(dag, conf_for(emulator, file=str(fixed)), capsys)
    assert second.state == "success", second.output[-4000:]
    assert set(gong.entities("CONTACT")) == {good, bad_status, bad_date}
    # The fixed records were stored only once, by the fixed file; the good one once per file sent.
    assert gong.record_counts("CONTACT") == {good: 2, bad_status: 1, bad_date: 1}
    assert sorted(gong.upload_counts().values()) == [1, 1]


def test_fault_6_general_error_fails_the_task_with_gongs_message(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_contacts(tmp_path / "contacts.ldjson", ["f6g-a"])
    gong.inject_fault("fail_next_request", description="General error: integration is being deleted")
    result = run_dag(faults_dags().faults_upload_wait, conf_for(emulator, file=str(source)), capsys)
    assert result.state == "failed"
    assert result.state_of("wait") == "failed"
    assert "integration is being deleted" in result.output
    assert sum(gong.upload_counts().values()) == 1


# ----------------------------------------------------------------------------- 7: too slow for the sensor


def test_fault_7_processing_slower_than_the_sensor_timeout(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["f7-a", "f7-b"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    dags = faults_dags()
    gong.configure(processing_delay=dags.SHORT_TIMEOUT + 2)
    dag = dags.faults_upload_wait_short_timeout
    first = run_dag(dag, conf_for(emulator, file=str(source)), capsys)
    assert first.state == "failed"
    assert first.state_of("upload") == "success"
    assert first.state_of("wait") == "failed"
    assert "timed out" in first.output.lower() or "timeout" in first.output.lower()
    [client_request_id] = gong.upload_counts()

    # Gong finishes later; the user clears both tasks of the run (a retry of the same run).
    poll(
        lambda: (
            [r["status"] for r in gong.requests() if r["clientRequestId"] == client_request_id] == ["DONE"]
        ),
        what="Gong to finish processing",
    )
    mark_for_retry(dag.dag_id, first.run_id, ["upload", "wait"], clear=True)
    second = continue_run(dag, first.run_id, capsys)
    assert second.state == "success", second.output[-4000:]
    assert second.xcom("upload")["already_accepted"] is True
    assert [call["status"] for call in posts(gong)] == [201, 409]  # no duplicate upload
    assert_exactly_once(gong, ids)


# ----------------------------------------------------------------------------- 8: under the rate limit


def test_fault_8_three_mapped_uploads_under_3_calls_per_second(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gong.configure(rate_limit_per_second=3)
    files, ids = [], []
    for index in range(3):
        names = [f"f8-{index}-{n}" for n in range(3)]
        files.append(str(write_contacts(tmp_path / f"contacts-{index}.ldjson", names)))
        ids += names
    result = run_dag(faults_dags().faults_mapped_uploads, conf_for(emulator, files=files), capsys)
    assert result.state == "success", result.output[-4000:]
    for index in range(3):
        assert result.state_of("upload", index) == "success"
        assert result.state_of("wait", index) == "success"
        assert result.xcom("wait", index)["status"] == "DONE"
    assert_exactly_once(gong, ids, uploads=3)


def test_fault_8_three_workers_in_parallel_under_3_calls_per_second(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, pycache: Path
) -> None:
    """Three worker processes (each with its own 3/s client limit) share Gong's 3 calls per second."""
    gong.configure(rate_limit_per_second=3, processing_delay=2)
    env = subprocess_env(emulator, pycache)
    workers, ids = [], []
    for index in range(3):
        names = [f"f8p-{index}-{n}" for n in range(2)]
        ids += names
        source = write_contacts(tmp_path / f"contacts-{index}.ldjson", names)
        log_path = tmp_path / f"worker-{index}.log"
        workers.append(
            (
                *start_worker("faults_upload_wait", conf_for(emulator, file=str(source)), env, log_path),
                log_path,
            )
        )
    try:
        for process, _, _ in workers:
            process.wait(timeout=180)
    finally:
        for process, log, _ in workers:
            stop_group(process)
            log.close()
    for process, _, log_path in workers:
        assert process.returncode == 0, log_path.read_text(errors="replace")[-4000:]
        assert worker_result(log_path)["state"] == "success", log_path.read_text(errors="replace")[-4000:]
    assert_exactly_once(gong, ids, uploads=3)
    answered = [call["status"] for call in gong.requests_log()]
    assert 429 in answered, "the three workers never hit Gong's limit: the test did not test it"

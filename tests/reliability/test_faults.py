"""The fault-injection matrix: real upload-and-wait runs against the emulator's faults.

Each fault runs ``GongUploadEntitiesOperator`` + ``GongRequestStatusSensor`` (tests/airflow_dags/
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

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import (
    BOUND,
    ENTITIES,
    REQUEST_STATUS,
    assert_exactly_once,
    conf_for,
    connection_json,
    contact_line,
    continue_run,
    faults_dags,
    gong,
    mark_for_retry,
    poll,
    posts,
    run_dag,
    statuses_seen,
    write_contacts,
)

__all__ = ["gong"]  # fixtures used here

pytestmark = [pytest.mark.timeout(240)]


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


# ----------------------------------------------------------------------------- 5: Gong restarts


@pytest.fixture
def own_emulator(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorProcess]:
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
            stopping_at = time.time()
            own_emulator.restart()
            restarted.append(stopping_at)
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
    assert second.tries_of("upload") == 2
    assert second.xcom("upload")["already_accepted"] is True  # try 2 reattached to Gong's request
    assert [call["status"] for call in posts(gong)] == [201]  # and sent the file no second time
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

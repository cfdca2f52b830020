"""GongUploadEntitiesOperator against the emulator: XCom, waiting in both modes, generations, exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongConnectionError
from gong_provider.ids import is_valid_client_request_id
from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.staging import stage
from gong_provider.waiting.events import GongUploadFailed, GongWaitTimeout
from tests.support.faults import poll
from tests.support.gong_tasks import connect, contact, run_task, task_context, write_ldjson

ENTITIES = "/v2/crm/entities"
STATUS_PATH = "/v2/crm/request-status"
MODES = ["sync", "deferrable"]


def operator(
    emulator: EmulatorProcess, file: Any, mode: str = "sync", **kwargs: Any
) -> GongUploadEntitiesOperator:
    return GongUploadEntitiesOperator(
        task_id="upload",
        integration_id=str(emulator.integration_id),
        object_type="CONTACT",
        file=file,
        deferrable=mode == "deferrable",
        poll_interval=0.05,
        max_poll_interval=0.2,
        **kwargs,
    )


def test_upload_returns_the_xcom_shape(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")])
    result = run_task(operator(emulator, str(path)), task_context())
    assert set(result) == {
        "client_request_id", "request_id", "integration_id", "object_type", "file", "records", "bytes",
        "already_accepted", "plan_token",
    }  # fmt: skip
    assert result["plan_token"] is None  # no manifest.json beside the file: no change-capture plan
    assert result["integration_id"] == "2271307570613351879"
    assert result["records"] == 2
    assert result["bytes"] == path.stat().st_size
    assert result["already_accepted"] is False
    assert result["file"] == str(path)
    assert is_valid_client_request_id(result["client_request_id"])
    assert emulator_client.upload_counts() == {result["client_request_id"]: 1}


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_done(emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")])
    result = run_task(operator(emulator, str(path), mode, wait_for_completion=True), task_context())
    assert result["status"] == "DONE"
    assert result["total_success_count"] == 2


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_record_errors_name_object_ids(
    emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str
) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-broken", modifiedDate="nope")])
    with pytest.raises(GongUploadFailed, match=r"line 2 \[objectId c-broken"):
        run_task(operator(emulator, str(path), mode, wait_for_completion=True), task_context())


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_general_error(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    emulator_client.inject_fault("fail_next_request", description="Integration is being deleted")
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    task = operator(emulator, str(path), mode, wait_for_completion=True, fail_on_record_errors=False)
    with pytest.raises(GongUploadFailed, match="general error: Integration is being deleted"):
        run_task(task, task_context())


@pytest.mark.parametrize("mode", MODES)
def test_require_every_record_fails_on_a_done_answer_that_lists_record_errors(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    """Gong documents DONE as every object processed; a DONE that lists a refused line must not pass
    for a task that needs every record (the sync DAG's delete_changed_users), and still passes
    otherwise (the commit keeps the refused lines pending)."""
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    emulator_client.inject_fault("done_with_errors", description="Record refused")
    lenient = run_task(operator(emulator, str(path), mode, wait_for_completion=True), task_context())
    assert (lenient["status"], lenient["total_error_count"]) == ("DONE", 1)
    emulator_client.inject_fault("done_with_errors", description="Record refused")
    strict = operator(emulator, str(path), mode, wait_for_completion=True, require_every_record=True)
    with pytest.raises(GongUploadFailed, match=r"(?s)DONE .*line 1 \[objectId c-1.*Record refused"):
        run_task(strict, task_context(run_id="strict"))


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_timeout(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    emulator_client.configure(processing_delay=30)
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    with pytest.raises(GongWaitTimeout):
        run_task(operator(emulator, str(path), mode, wait_for_completion=True, timeout=0.5), task_context())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [500, 429])
def test_500_and_429_while_polling_do_not_fail(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
    tmp_path: Path,
    mode: str,
    status: int,
) -> None:
    emulator_client.inject_fault("status", status=status, count=2, path=STATUS_PATH, retry_after=1)
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    result = run_task(operator(emulator, str(path), mode, wait_for_completion=True), task_context())
    assert result["status"] == "DONE"
    assert [c["status"] for c in emulator_client.requests_log() if c["path"] == STATUS_PATH][:2] == [
        status
    ] * 2


def test_retry_after_a_lost_connection_uploads_once(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Try 1 loses the connection after Gong stored the file; try 2 reattaches without sending it again."""
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")])
    emulator_client.inject_fault("drop_after_store", path=ENTITIES, method="POST")
    with pytest.raises(GongConnectionError):
        run_task(operator(emulator, str(path), wait_for_completion=True), task_context(try_number=1))
    result = run_task(operator(emulator, str(path), wait_for_completion=True), task_context(try_number=2))
    assert result["already_accepted"] is True
    assert result["status"] == "DONE"
    assert emulator_client.upload_counts() == {result["client_request_id"]: 1}
    assert emulator_client.record_counts("CONTACT") == {"c-1": 1, "c-2": 1}
    posts = [c for c in emulator_client.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"]
    assert len(posts) == 1  # the retry did not even send the file


def test_a_retry_whose_first_try_ran_on_an_earlier_release_uploads_once(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """A rolling upgrade: the stage ran on an upgraded worker (the folder's manifest.json names its
    plan token), try 1 on a worker of the previous release, which ignores the token: it sends the id
    without it and loses the connection after Gong stored the file. Try 2, upgraded, asks Gong about
    that id too and does not send the file again."""
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")])
    emulator_client.inject_fault("drop_after_store", path=ENTITIES, method="POST")
    with pytest.raises(
        GongConnectionError
    ):  # no manifest beside it yet: the id the token-blind release sends
        run_task(operator(emulator, str(path), wait_for_completion=True), task_context(try_number=1))
    [earlier_id] = emulator_client.upload_counts()
    manifest = {"object_type": "CONTACT", "files": [], "plan_token": "0123456789abcdef-aa11bb22"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    result = run_task(operator(emulator, str(path), wait_for_completion=True), task_context(try_number=2))
    assert result["already_accepted"] is True
    assert result["client_request_id"] == earlier_id
    assert result["plan_token"] == "0123456789abcdef-aa11bb22"  # the file's plan, whatever id found it
    assert result["status"] == "DONE"
    assert emulator_client.upload_counts() == {earlier_id: 1}
    assert emulator_client.record_counts("CONTACT") == {"c-1": 1, "c-2": 1}
    posts = [c for c in emulator_client.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"]
    assert len(posts) == 1


def test_hook_retry_after_a_lost_connection_gets_409_and_goes_on(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    connect(emulator, monkeypatch, max_retries=2, retry_wait_base=0.05, retry_wait_max=0.1)
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    emulator_client.inject_fault("drop_after_store", path=ENTITIES, method="POST")
    result = run_task(operator(emulator, str(path), wait_for_completion=True), task_context())
    assert result["already_accepted"] is True
    assert result["status"] == "DONE"
    assert emulator_client.upload_counts() == {result["client_request_id"]: 1}


def test_same_task_same_id_other_map_index_other_id(
    emulator: EmulatorProcess, conn: str, tmp_path: Path
) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    first = run_task(operator(emulator, str(path)), task_context(map_index=0))
    again = run_task(operator(emulator, str(path)), task_context(map_index=0))
    other = run_task(operator(emulator, str(path)), task_context(map_index=1))
    assert first["client_request_id"] == again["client_request_id"] != other["client_request_id"]
    assert again["already_accepted"] is True


def test_the_run_scope_sends_the_same_bytes_again_in_a_later_run_the_content_scope_does_not(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """A record pending from an earlier run goes again in a byte-identical file: only a run-scoped id
    gets it processed (a content-scoped one is answered 409 and Gong never looks at the file)."""
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    runs = [task_context(run_id=f"scheduled__2026-0{n}-01T00:00:00+00:00") for n in (1, 2)]
    by_run = [run_task(operator(emulator, str(path)), context) for context in runs]
    assert by_run[0]["client_request_id"] != by_run[1]["client_request_id"]
    assert [r["already_accepted"] for r in by_run] == [False, False]
    by_content = [
        run_task(operator(emulator, str(path), client_request_id_scope="content"), context)
        for context in runs
    ]
    assert by_content[0]["client_request_id"] == by_content[1]["client_request_id"]
    assert [r["already_accepted"] for r in by_content] == [False, True]
    # Gong processes asynchronously (the operator did not wait): three stores, once processed
    poll(lambda: emulator_client.record_counts("CONTACT") == {"c-1": 3}, what="three stores of c-1")
    with pytest.raises(ValueError, match="client_request_id_scope must be one of run, content"):
        operator(emulator, str(path), client_request_id_scope="file")


@pytest.mark.parametrize("mode", [*MODES, "deferrable-event-only"])
def test_generations_of_a_manifest_go_one_after_another(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    """Also resumed with the event only (``airflow dags test``): the trigger carries the state."""
    source = write_ldjson(
        tmp_path / "contacts.jsonl",
        [
            contact("c-1", title="old"),
            contact("c-2"),
            contact("c-1", title="new", modifiedDate="2026-01-03T00:00:00Z"),
        ],
    )
    manifest = stage(str(source), object_type="CONTACT", out_dir=str(tmp_path / "out"))
    assert len(manifest.generations) == 2
    manifest_path = tmp_path / "out" / "CONTACT" / "manifest.json"
    assert manifest_path.exists()
    task = operator(emulator, str(manifest_path), mode.split("-")[0], wait_for_completion=True)
    results = run_task(task, task_context(), drop_kwargs=mode.endswith("event-only"))
    assert [r["status"] for r in results] == ["DONE", "DONE"]
    assert [r["records"] for r in results] == [2, 1]
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "new"
    calls = [(c["method"], c["path"], c["clientRequestId"]) for c in emulator_client.requests_log()]
    second_post = calls.index(("POST", ENTITIES, results[1]["client_request_id"]))
    assert ("GET", STATUS_PATH, results[0]["client_request_id"]) in calls[:second_post]


def test_a_manifest_dict_from_xcom_and_a_list_give_lists(
    emulator: EmulatorProcess, conn: str, tmp_path: Path
) -> None:
    one = write_ldjson(tmp_path / "a.ldjson", [contact("c-1")])
    two = write_ldjson(tmp_path / "b.ldjson", [contact("c-2")])
    listed = run_task(operator(emulator, [str(one), str(two)]), task_context())
    assert [r["file"] for r in listed] == [str(one), str(two)]
    manifest = stage(str(one), object_type="CONTACT", out_dir=str(tmp_path / "out"))
    from_dict = run_task(operator(emulator, manifest.to_dict()), task_context())
    assert [r["records"] for r in from_dict] == [1]


def test_a_given_client_request_id_is_the_prefix_of_each_files_id(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    with pytest.raises(ValueError, match="not valid"):
        run_task(operator(emulator, str(path), client_request_id="run:1+2"), task_context())
    crid = run_task(operator(emulator, str(path), client_request_id="mine-1"), task_context())[
        "client_request_id"
    ]
    assert crid.startswith("mine-1-")
    assert len(crid) == 50
    assert emulator_client.upload_counts() == {crid: 1}


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_file_list_is_a_no_op_only_when_allowed(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    """What the packaged sync DAG's later_generations task relies on: no later generation, no call."""
    for empty in ([], None):
        allowed = operator(emulator, empty, mode, wait_for_completion=True, allow_empty_file_list=True)
        assert run_task(allowed, task_context()) == []
    with pytest.raises(ValueError, match="names no file to upload"):
        run_task(operator(emulator, [], mode), task_context())
    assert emulator_client.upload_counts() == {}
    assert emulator_client.requests_log() == []
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    allowed = operator(emulator, [str(path)], mode, wait_for_completion=True, allow_empty_file_list=True)
    [result] = run_task(allowed, task_context())
    assert result["status"] == "DONE"


def test_templated_fields() -> None:
    assert set(GongUploadEntitiesOperator.template_fields) == {
        "integration_id", "object_type", "file", "client_request_id", "gong_conn_id"
    }  # fmt: skip


def test_integration_id_never_passes_through_a_float() -> None:
    """The one parser of integration ids (hook, operator, sensor, trigger and the packaged DAGs)."""
    from gong_provider.ids import parse_integration_id

    assert parse_integration_id("2271307570613351879") == 2271307570613351879
    assert parse_integration_id(2271307570613351879) == 2271307570613351879  # a JSON integer in conf
    assert parse_integration_id(" 42 ") == 42
    assert parse_integration_id(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(TypeError, match="2\\^53"):
        parse_integration_id(2.271307570613351879e18)
    for wrong_type in (None, True, [1]):
        with pytest.raises(TypeError, match="integration_id"):
            parse_integration_id(wrong_type)
    for bad in ("", "2.27e18", "-1", -1, "abc", "²", str(2**63), 2**63, "1" * 20):
        with pytest.raises(ValueError, match="integration id"):
            parse_integration_id(bad)


def test_the_wait_deadline_is_the_earlier_of_timeout_and_execution_timeout() -> None:
    import time
    from datetime import timedelta

    from gong_provider.waiting.deadline import wait_deadline

    now = time.time()
    assert now + 9 <= wait_deadline(10, None) <= time.time() + 10
    assert wait_deadline(3600, timedelta(seconds=5)) <= time.time() + 5
    assert wait_deadline(timedelta(seconds=5), timedelta(hours=1)) <= time.time() + 5


def test_deferral_carries_no_secret(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    emulator_client.configure(processing_delay=30)  # not DONE at the check before deferring
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    task = operator(emulator, str(path), "deferrable", wait_for_completion=True, execution_timeout=None)
    with pytest.raises(TaskDeferred) as info:
        task.execute(task_context())
    text = repr(info.value.trigger.serialize()) + repr(info.value.kwargs)
    assert "c.ldjson" in text
    for secret in (emulator.access_key, emulator.access_key_secret, emulator.token):
        assert secret not in text


def test_a_resumed_task_takes_its_files_from_the_progress_the_trigger_carried(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """The progress rides in the trigger's carry, as JSON primitives and nowhere else: a resumed task
    does not read the manifest again (here deleted meanwhile) and uploads each file once."""
    import json

    from airflow.sdk.exceptions import TaskDeferred

    from tests.support.gong_tasks import run_trigger

    source = write_ldjson(
        tmp_path / "contacts.jsonl",
        [contact("c-1", title="old"), contact("c-1", title="new", modifiedDate="2026-01-03T00:00:00Z")],
    )
    stage(str(source), object_type="CONTACT", out_dir=str(tmp_path / "out"))
    manifest_path = tmp_path / "out" / "CONTACT" / "manifest.json"
    task = operator(emulator, str(manifest_path), "deferrable", wait_for_completion=True)
    context = task_context()
    emulator_client.configure(processing_delay=0.3)  # not DONE at the check before deferring
    with pytest.raises(TaskDeferred) as info:
        task.execute(context)
    deferred = info.value
    carry = deferred.trigger.serialize()[1]["carry"]
    assert json.loads(json.dumps(carry)) == carry
    assert not deferred.kwargs
    manifest_path.unlink()
    for _ in range(10):
        [event] = run_trigger(deferred.trigger)
        try:
            results = task.execute_complete(context, event)
            break
        except TaskDeferred as again:
            deferred = again
    assert [r["status"] for r in results] == ["DONE", "DONE"]
    assert sorted(emulator_client.upload_counts().values()) == [1, 1]
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "new"

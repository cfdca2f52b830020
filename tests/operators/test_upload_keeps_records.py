"""Issue 21, through the operator as a user's DAG uses it: a 409 only for the same file, the manifests'
order, what is sent is what was staged, Gong's counts checked, one deferral for every pending file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongContentMismatchError
from gong_provider.hooks._upload import ContentFacts, upload_source
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.staging import stage
from tests.support.faults import poll
from tests.support.gong_tasks import contact, run_task, run_trigger, task_context, write_ldjson

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


def updates(tmp_path: Path, name: str, titles: list[str]) -> Path:
    """One objectId updated in turn to each title; equal titles give byte-identical generations."""
    return write_ldjson(tmp_path / f"{name}.jsonl", [contact("c-1", title=title) for title in titles])


def run_counting_deferrals(task: Any, context: Any) -> tuple[Any, int]:
    """``run_task``, counting the deferrals."""
    from airflow.sdk.exceptions import TaskDeferred

    deferrals = 0
    step: Any = lambda: task.execute(context)  # noqa: E731
    while True:
        try:
            return step(), deferrals
        except TaskDeferred as deferred:
            deferrals += 1
            [event] = run_trigger(deferred.trigger)
            method = getattr(task, deferred.method_name)
            step = lambda: method(context, event)  # noqa: E731, B023


def test_case1_a_given_id_reused_in_a_later_run_with_new_content_uploads_the_new_content(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Was: the same explicit id (and its -1, -2) got 409, the task succeeded, Gong kept the old records."""
    for run, title in enumerate(["old", "new"]):
        path = write_ldjson(tmp_path / f"c{run}.ldjson", [contact("c-1", title=title), contact("c-2")])
        context = task_context(run_id=f"scheduled__2026-0{run + 1}-01T00:00:00+00:00")
        [result] = run_task(
            operator(emulator, [str(path)], client_request_id="nightly", wait_for_completion=True), context
        )
        assert result["already_accepted"] is False
        assert result["total_success_count"] == 2
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "new"


@pytest.mark.parametrize("mode", MODES)
def test_case2_later_generations_with_identical_generations_all_reach_gong(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    """The sync DAG's later_generations task: A -> B -> A -> B stages g1 and g3 byte-identical; g3 was
    answered 409 and skipped, leaving Gong at A while the source ends at B."""
    manifest = stage(
        str(updates(tmp_path, "contacts", ["A", "B", "A", "B"])),
        object_type="CONTACT",
        out_dir=str(tmp_path / "out"),
    )
    assert len(manifest.generations) == 4
    later_files = [asdict(staged) for generation in manifest.generations[1:] for staged in generation]
    assert later_files[0]["sha256"] == later_files[2]["sha256"]  # g1 and g3 byte-identical
    task = GongUploadEntitiesOperator(  # as gong_crm_sync builds it
        task_id="later_generations",
        integration_id=str(emulator.integration_id),
        object_type="CONTACT",
        file=later_files,
        client_request_id_scope="run",
        wait_for_completion=True,
        deferrable=mode == "deferrable",
        poll_interval=0.05,
        max_poll_interval=0.2,
        allow_empty_file_list=True,
    )
    results = run_task(task, task_context(task_id="later_generations"))
    assert [r["already_accepted"] for r in results] == [False, False, False]
    assert len({r["client_request_id"] for r in results}) == 3
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "B"


def test_case2_a_manifest_a_b_a_ends_at_a_in_the_content_scope_too(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    stage(
        str(updates(tmp_path, "contacts", ["A", "B", "A"])),
        object_type="CONTACT",
        out_dir=str(tmp_path / "out"),
    )
    manifest_path = tmp_path / "out" / "CONTACT" / "manifest.json"
    task = operator(emulator, str(manifest_path), client_request_id_scope="content", wait_for_completion=True)
    results = run_task(task, task_context())
    assert [r["already_accepted"] for r in results] == [False, False, False]
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "A"


def test_case3_several_manifests_go_manifest_after_manifest(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Was: sorted by generation across manifests, day1-g0 and day2-g0 went back to back and day1-g1
    (older) won."""
    stage(
        str(updates(tmp_path, "day1", ["d1-a", "d1-b"])),
        object_type="CONTACT",
        out_dir=str(tmp_path / "day1"),
    )
    stage(str(updates(tmp_path, "day2", ["d2"])), object_type="CONTACT", out_dir=str(tmp_path / "day2"))
    manifests = [str(tmp_path / day / "CONTACT" / "manifest.json") for day in ("day1", "day2")]
    results = run_task(operator(emulator, manifests, wait_for_completion=True), task_context())
    assert [Path(r["file"]).parts[-3] for r in results] == ["day1", "day1", "day2"]
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "d2"
    calls = [(c["method"], c["path"], c["clientRequestId"]) for c in emulator_client.requests_log()]
    day2_post = calls.index(("POST", ENTITIES, results[2]["client_request_id"]))
    assert ("GET", STATUS_PATH, results[1]["client_request_id"]) in calls[:day2_post]  # waited for DONE


@pytest.mark.parametrize("damage", ["truncate", "same-size"])
def test_case4_a_staged_file_changed_after_staging_is_never_reported_uploaded(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, damage: str
) -> None:
    """Was: a staged file truncated to 1 of its 3 lines uploaded, and the XCom said 3 records."""
    manifest = stage(
        str(write_ldjson(tmp_path / "c.jsonl", [contact(f"c-{n}") for n in range(3)])),
        object_type="CONTACT",
        out_dir=str(tmp_path / "out"),
    )
    staged = Path(manifest.generations[0][0].path)
    lines = staged.read_bytes().splitlines(keepends=True)
    if damage == "truncate":
        staged.write_bytes(lines[0])
        match = "bytes"
    else:
        staged.write_bytes(b"".join(lines).replace(b"c-2", b"c-9"))
        match = "sha256"
    with pytest.raises(GongContentMismatchError, match=match):
        run_task(operator(emulator, str(tmp_path / "out" / "CONTACT" / "manifest.json")), task_context())
    assert emulator_client.upload_counts() == {}  # Gong never had the whole file to process
    assert emulator_client.entities("CONTACT") == {}


def test_case4_gongs_counts_must_add_up_to_the_files_records(
    emulator: EmulatorProcess, conn: str, tmp_path: Path
) -> None:
    """After DONE, success + error counts are compared with the file's record count, naming both."""
    from airflow.sdk.exceptions import TaskDeferred

    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2"), contact("c-3")])
    task = operator(emulator, str(path), "deferrable", wait_for_completion=True)
    emulator.client.configure(processing_delay=30)
    with pytest.raises(TaskDeferred) as info:
        task.execute(task_context())
    carry = info.value.trigger.serialize()[1]["carry"]
    crid = carry["files"][0]["client_request_id"]
    result = {"requestId": "r", "status": "DONE", "totalSuccessCount": 1, "totalErrorCount": 0, "errors": []}
    from gong_provider.models import RequestStatus

    done = RequestStatus.from_json(result).to_dict()
    event = {
        "status": "DONE",
        "client_request_id": crid,
        "integration_id": "1",
        "message": "",
        "result": done,
        "carry": carry,
    }
    with pytest.raises(
        GongContentMismatchError,
        match=r"1 success\(es\) \+ 0 error\(s\) = 1 record\(s\), but the file uploaded has 3",
    ):
        task.execute_complete(task_context(), event)


def test_case8_several_files_done_before_deferring_never_defer_and_pending_ones_defer_once(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Was: 5 files, all DONE before the first deferral, deferred 5 times."""
    paths = [str(write_ldjson(tmp_path / f"c{n}.ldjson", [contact(f"c-{n}")])) for n in range(5)]
    results, deferrals = run_counting_deferrals(
        operator(emulator, paths, "deferrable", wait_for_completion=True), task_context(run_id="r1")
    )
    assert [r["status"] for r in results] == ["DONE"] * 5
    assert deferrals == 0
    emulator_client.configure(processing_delay=0.3)
    results, deferrals = run_counting_deferrals(
        operator(emulator, paths, "deferrable", wait_for_completion=True), task_context(run_id="r2")
    )
    assert [r["status"] for r in results] == ["DONE"] * 5
    assert deferrals == 1


def test_case9_a_wait_that_starts_past_its_deadline_still_checks_once(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Was: when the upload outlasted ``timeout`` the trigger started past its end time and yielded
    TIMEOUT "after 0 status check(s)" while Gong was DONE."""
    import time

    from gong_provider.exceptions import GongWaitTimeout
    from gong_provider.triggers.gong import GongRequestStatusTrigger

    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    emulator_client.configure(processing_delay=30)
    with pytest.raises(GongWaitTimeout, match=r"after 1 status check\(s\)"):
        run_task(
            operator(emulator, str(path), "deferrable", wait_for_completion=True, timeout=0.0), task_context()
        )
    emulator_client.configure(processing_delay=0)
    uploaded = run_task(operator(emulator, str(path), wait_for_completion=True), task_context(run_id="r2"))
    assert uploaded["status"] == "DONE"
    late = GongRequestStatusTrigger(
        integration_id=str(emulator.integration_id),
        client_request_id=uploaded["client_request_id"],
        end_time=time.time() - 60,
        poll_interval=0.05,
    )
    [event] = run_trigger(late)
    assert event["status"] == "DONE"


@pytest.mark.parametrize(
    ("retry_after", "count", "extras", "timeout"),
    [
        pytest.param(3600, 8, {}, 30, id="case6-a-long-retry-after"),
        pytest.param(6, 3, {"max_retries": 3}, 2, id="case5-hook-retries-past-the-deadline"),
    ],
)
def test_case5_and_6_a_retry_after_beyond_the_deadline_ends_the_wait_as_the_quota(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    retry_after: int,
    count: int,
    extras: dict[str, Any],
    timeout: float,
) -> None:
    """Was (6): the synchronous wait took a 429 with Retry-After 3600 for "cannot tell yet" and polled on
    (8 calls in 12 s); (5): the hook's retries inside one check ran 18 s past a 2 s deadline."""
    from gong_provider.exceptions import GongWaitTimeout
    from tests.support.gong_tasks import connect

    connect(emulator, monkeypatch, **extras)
    emulator_client.inject_fault("status", status=429, retry_after=retry_after, count=count, path=STATUS_PATH)
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    with pytest.raises(GongWaitTimeout, match="quota"):
        run_task(operator(emulator, str(path), wait_for_completion=True, timeout=timeout), task_context())
    assert [c["status"] for c in emulator_client.requests_log() if c["path"] == STATUS_PATH] == [429]


def test_ids_stay_within_50_characters_and_hash_the_position(tmp_path: Path) -> None:
    content = hashlib.sha256(b"x").hexdigest()
    from gong_provider.ids import make_client_request_id

    ids = {
        make_client_request_id(
            dag_id="d", task_id="t", run_id="r", map_index=-1, object_type="BUSINESS_USER",
            content_sha256=content, position=(item, generation, 0),
        )
        for item in range(3)
        for generation in range(3)
    }  # fmt: skip
    assert len(ids) == 9
    assert max(len(i) for i in ids) == 50


def test_the_hook_checks_the_bytes_as_they_stream_and_withholds_the_last_block(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Counted and hashed while streaming: a same-size change is found at the last block, unsent."""

    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")])
    data = path.read_bytes()
    right = ContentFacts(hashlib.sha256(data).hexdigest(), 2, len(data))
    with GongCrmHook() as hook:
        for wrong, match in (
            (ContentFacts(right.sha256, 3, right.bytes), "records 2 where staging recorded 3"),
            (ContentFacts("0" * 64, 2, right.bytes), "sha256"),
            (ContentFacts(right.sha256, 2, right.bytes + 1), "bytes where staging recorded"),
        ):
            with pytest.raises(GongContentMismatchError, match=match):
                hook.upload_entities(emulator.integration_id, "CONTACT", "checked-1", path, expected=wrong)
        assert emulator_client.upload_counts() == {}
        hook.upload_entities(emulator.integration_id, "CONTACT", "checked-1", path, expected=right)
    assert emulator_client.upload_counts() == {"checked-1": 1}


def send_as_the_earlier_release(emulator: EmulatorProcess, path: str | Path, client_request_id: str) -> None:
    """Upload under an id of up to 64 characters, as the earlier release did (the hook's own
    ``upload_entities`` now refuses more than 50)."""
    params = {
        "integrationId": str(emulator.integration_id),
        "objectType": "CONTACT",
        "clientRequestId": client_request_id,
    }
    with GongCrmHook() as hook:
        hook._call("POST", ENTITIES, params=params, upload=upload_source(path, fallback_name="c.ldjson"))


@pytest.mark.parametrize("plan_token", [None, "0123456789abcdef-aa11bb22"], ids=["plain", "planned"])
def test_a_retry_across_the_upgrade_finds_the_id_the_earlier_release_sent(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
    tmp_path: Path,
    plan_token: str | None,
) -> None:
    """Try 1 (an earlier release) uploaded under its 59-character id; try 2 asks Gong for that id and
    does not send the file again. Also when an upgraded worker staged the file (its folder's manifest
    names a plan token, which the earlier release's try ignored): mixed workers in a rolling upgrade."""
    from gong_provider.ids import legacy_client_request_id

    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])
    if plan_token is not None:
        manifest = {"object_type": "CONTACT", "files": [], "plan_token": plan_token}
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    context = task_context(task_id="upload", try_number=2)
    ti = context["ti"]
    old_id = legacy_client_request_id(
        given=None, number=1, count=1, scope="run", dag_id=ti.dag_id, task_id=ti.task_id,
        run_id=ti.run_id, map_index=-1, integration_id=emulator.integration_id, object_type="CONTACT",
        content_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )  # fmt: skip
    assert len(old_id) == 53
    send_as_the_earlier_release(emulator, path, old_id)
    result = run_task(operator(emulator, str(path), wait_for_completion=True), context)
    assert result["client_request_id"] == old_id
    assert result["already_accepted"] is True
    assert result["status"] == "DONE"
    assert emulator_client.upload_counts() == {old_id: 1}


def test_a_task_deferred_by_the_earlier_release_resumes_from_its_carry(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """The earlier release's carry (no item, no from_manifest) and event (one ``result``, no
    ``results``) resume the task: it keeps the old id it carried and finishes the later generation."""
    from gong_provider.models import RequestStatus

    stage(
        str(updates(tmp_path, "contacts", ["A", "B"])), object_type="CONTACT", out_dir=str(tmp_path / "out")
    )
    manifest_path = tmp_path / "out" / "CONTACT" / "manifest.json"
    from gong_provider.staging.manifest import load_manifest

    manifest = load_manifest(str(manifest_path))
    g0, g1 = (generation[0] for generation in manifest.generations)
    old_id = "gong-contact-" + "a" * 40  # 53 characters, as the earlier release derived them
    send_as_the_earlier_release(emulator, g0.path, old_id)
    with GongCrmHook() as hook:  # Gong processes asynchronously: its answer is DONE within the bound

        def finished() -> RequestStatus | None:
            answer = hook.get_request_status(emulator.integration_id, old_id)
            return answer if answer.status.value != "IN_PROGRESS" else None

        done = poll(finished, what=f"{old_id} processed")
    assert done.status.value == "DONE"

    def old_file(staged: Any, crid: str | None) -> dict[str, Any]:
        return {
            "path": staged.path, "generation": staged.generation, "staged": asdict(staged),
            "client_request_id": crid, "request_id": None, "records": staged.records if crid else 0,
            "bytes": staged.bytes if crid else 0, "already_accepted": False, "processed": None,
        }  # fmt: skip

    carry = {"files": [old_file(g0, old_id), old_file(g1, None)], "several": True, "deadline": 4e9}
    event = {
        "status": "DONE", "client_request_id": old_id, "integration_id": str(emulator.integration_id),
        "message": "", "result": RequestStatus.to_dict(done), "carry": carry,
    }  # fmt: skip
    task = operator(emulator, str(manifest_path), wait_for_completion=True)
    results = task.execute_complete(task_context(), event)
    assert [r["client_request_id"] == old_id for r in results] == [True, False]
    assert [r["status"] for r in results] == ["DONE", "DONE"]
    assert emulator_client.entities("CONTACT")["c-1"]["title"] == "B"

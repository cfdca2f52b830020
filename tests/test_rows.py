"""The typed rows between tasks (gong_provider/rows.py): the writers write them, and a row or an event
that lacks a key is refused where it enters, with an error naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes.commit import request_status_of, statuses_by_file
from gong_provider.dags.report import COLUMNS, build_report
from gong_provider.exceptions import GongEventError, GongRowError
from gong_provider.models import RecordError, RequestState, RequestStatus, UploadResult
from gong_provider.operators.upload_files import FileFacts, UploadFile
from gong_provider.operators.upload_progress import FileUpload
from gong_provider.rows import (
    ReportRow,
    StageSummary,
    StatusEvent,
    UploadRow,
    WaitRow,
    stage_summary_row,
    status_event,
    upload_rows,
    wait_rows,
)
from gong_provider.waiting.events import reason_event, status_from_event, status_summary, statuses_from_event
from gong_provider.waiting.events import status_event as build_status_event

ID = "gong-contact-abc"
DATA = Path(__file__).resolve().parents[1] / "dags" / "data"
FAILED = RequestStatus("r2", RequestState.FAILED, [RecordError(2, "bad date")], 1, 4)


def uploaded(processed: RequestStatus | None) -> UploadRow:
    upload = FileUpload(UploadFile(path="/s/CONTACT-0.ldjson", generation=0))
    upload.record_acceptance(UploadResult(ID, "req-1"), FileFacts(records=5, bytes=100, sha256="0" * 64))
    if processed is not None:
        upload.record_processing(processed)
    return upload.xcom(2271307570613351879, "CONTACT")


def test_the_upload_row_has_the_keys_its_type_names() -> None:
    row = uploaded(None)
    assert set(row) == UploadRow.__required_keys__ | {"plan_token"}
    assert row["plan_token"] is None  # a file staged without change capture's token
    assert upload_rows([row]) == [row]
    processed = uploaded(FAILED)
    assert set(processed) == UploadRow.__required_keys__ | UploadRow.__optional_keys__
    assert processed["integration_id"] == "2271307570613351879"  # 64-bit: exact, as text
    assert statuses_by_file([processed]) == {"/s/CONTACT-0.ldjson": FAILED}
    assert statuses_by_file([row]) == {"/s/CONTACT-0.ldjson": None}  # uploaded, not waited for


def test_the_wait_row_and_the_event_have_the_keys_their_types_name() -> None:
    wait: WaitRow = {"client_request_id": ID, "integration_id": "1", **status_summary(FAILED)}
    assert set(wait) == WaitRow.__required_keys__
    assert wait_rows([[wait], None]) == [wait]
    event = build_status_event(ID, 1, FAILED)
    assert set(event) == StatusEvent.__required_keys__
    assert event["result"] == FAILED.to_dict()  # the wire form is RequestStatus.to_dict(), unchanged
    assert status_from_event(event, client_request_id=ID) == FAILED


@pytest.mark.parametrize("missing", sorted(StatusEvent.__required_keys__))
def test_an_event_without_a_key_is_refused_naming_it(missing: str) -> None:
    event: dict[str, Any] = dict(build_status_event(ID, 1, FAILED))
    del event[missing]
    with pytest.raises(GongEventError, match=rf"{ID}: missing key\(s\) '{missing}'"):
        status_from_event(event, client_request_id=ID)
    with pytest.raises(GongEventError, match=rf"missing key\(s\) '{missing}'"):
        statuses_from_event(event, client_request_ids=[ID])


def test_an_event_that_is_not_a_dict_or_has_no_status_word_is_refused() -> None:
    with pytest.raises(GongEventError, match="expected a dict, got None"):
        status_event(None, waiting_for=ID)
    with pytest.raises(GongEventError, match="'status' is not a word"):
        status_event({**reason_event("ERROR", ID, 1, "401"), "status": 3}, waiting_for=ID)


def test_an_upload_row_names_the_plan_that_staged_its_file_and_earlier_releases_rows_still_enter() -> None:
    """The token of the file's plan rides in the row (the commit keeps only its own plan's); a row of
    an earlier release has no such key and is accepted as it is; a token that is not text is refused."""
    upload = FileUpload(UploadFile(path="/s/upload/part-0.ldjson", generation=0, plan_token="t-1"))
    upload.record_acceptance(UploadResult(ID, "req-1"), FileFacts(records=5, bytes=100, sha256="0" * 64))
    assert upload.xcom(1, "CONTACT")["plan_token"] == "t-1"
    earlier: dict[str, Any] = dict(uploaded(FAILED))
    del earlier["plan_token"]
    assert upload_rows([earlier]) == [earlier]
    assert statuses_by_file([earlier]) == {"/s/CONTACT-0.ldjson": FAILED}
    with pytest.raises(GongRowError, match=r"XCom row of contact\.upload: 'plan_token' is neither text"):
        upload_rows([{**earlier, "plan_token": 7}], source="contact.upload")


def test_an_xcom_row_without_a_key_is_refused_naming_it_and_its_task() -> None:
    row: dict[str, Any] = dict(uploaded(None))
    del row["file"]
    with pytest.raises(GongRowError, match=r"XCom row of contact\.upload: missing key\(s\) 'file'"):
        upload_rows([row], source="contact.upload")
    with pytest.raises(GongRowError, match="missing key"):
        statuses_by_file([row])
    wait: dict[str, Any] = {"client_request_id": ID, "integration_id": "1", **status_summary(FAILED)}
    del wait["status"]
    with pytest.raises(GongRowError, match=r"XCom row of the wait task: missing key\(s\) 'status' in"):
        wait_rows(wait)


def test_a_final_status_says_its_form_by_its_request_id_key() -> None:
    assert request_status_of(FAILED.to_dict()) == FAILED
    gong = {"requestId": "r2", "status": "FAILED", "errors": [{"line": 2, "description": "bad date"}]}
    assert request_status_of({**gong, "totalErrorCount": 1, "totalSuccessCount": 4}) == FAILED
    with pytest.raises(GongRowError, match=r"'request_id'.*'requestId'"):
        request_status_of({"status": "DONE"})  # the key-guessing reader read it as to_dict()


def test_the_report_row_type_names_every_column() -> None:
    assert ReportRow.__required_keys__ == {key for key, _ in COLUMNS}
    row = build_report(lambda _task, _key: None, {})["ACCOUNT"]
    assert set(row) == ReportRow.__required_keys__


def test_the_wait_sensor_kwargs_come_from_a_validated_upload_row() -> None:
    from gong_provider.dags.sync_dag import _sensor_kwargs

    row = uploaded(None)
    assert _sensor_kwargs(row) == {"client_request_id": ID, "file": "/s/CONTACT-0.ldjson"}
    with pytest.raises(GongRowError, match=r"XCom row of upload: missing key\(s\) 'client_request_id'"):
        _sensor_kwargs({key: value for key, value in row.items() if key != "client_request_id"})


def test_the_stage_summary_has_the_keys_its_type_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each summary the stage writes (a dry run without state, a planned run, a previewed plan) holds
    the required keys and only keys the type names; together they use every key; a stage that failed
    after staging pushes the required ones alone. The XCom's JSON reads back the same."""
    from gong_provider.dags.stage import stage_entity, summary_after_failure

    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path))
    params = {"source": str(DATA), "entity_types": ["STAGE"]}

    def summary(run_id: str, **conf: Any) -> StageSummary:
        return stage_entity("STAGE", {**params, **conf}, dag_id="d", run_id=run_id, render=None)["summary"]

    summaries = [
        summary("dry", integration_id=None, dry_run=True),
        summary("run", integration_id="42"),
        summary("preview", integration_id="42", dry_run=True),
    ]
    named = StageSummary.__required_keys__ | StageSummary.__optional_keys__
    for written in summaries:
        assert StageSummary.__required_keys__ <= set(written) <= named
    assert set().union(*summaries) == named
    assert stage_summary_row(json.loads(json.dumps(summaries[1]))) == summaries[1]
    failed = summary_after_failure("STAGE", "d", "run", None)
    assert failed is not None
    assert set(failed) == StageSummary.__required_keys__


@pytest.mark.parametrize("missing", sorted(StageSummary.__required_keys__))
def test_a_stage_summary_without_a_key_is_refused_where_it_is_pulled(missing: str) -> None:
    from gong_provider.dags.summary import summarize_entity

    summary: dict[str, Any] = dict.fromkeys(StageSummary.__required_keys__, 0)
    del summary[missing]
    refused = rf"summary XCom of contact\.stage: missing key\(s\) '{missing}'"
    pulled = {("contact.stage", "summary"): summary}
    with pytest.raises(GongRowError, match=refused):
        build_report(lambda task_id, key: pulled.get((task_id, key)), {})
    with pytest.raises(GongRowError, match=refused):
        summarize_entity(
            "CONTACT",
            params={},
            stage_summary=summary,
            uploads=[],
            statuses=[],
            later_generations=None,
            outlet_events=None,
        )

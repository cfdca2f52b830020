"""GongCrmHook: every /v2/crm method against a real HTTP server on 127.0.0.1 (pytest-httpserver)."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from pytest_httpserver import HTTPServer

from gong_provider.exceptions import (
    GongApiError,
    GongAuthError,
    GongBadRequestError,
    GongConflictError,
    GongNotFoundError,
    GongPayloadTooLargeError,
)
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.models import CustomField, Integration, ObjectType, RecordError, RequestState
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    INTEGRATION_ID,
    Recorder,
    _gong_httpserver,
    httpserver,
    json_response,
    make_hook,
)

__all__ = ["_gong_httpserver", "httpserver"]  # the fixture, imported so that pytest uses it

BIG_ID_TEXT = "2271307570613351879"


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> GongCrmHook:
    return make_hook(monkeypatch, httpserver)


def test_register_integration_sends_name_and_owner_and_returns_big_id_exactly(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/v2/crm/integrations", method="PUT", json={"ownerEmail": "ops@acme.test", "name": "ACME CRM"}
    ).respond_with_data(
        '{"requestId": "r-1", "integrationId": ' + BIG_ID_TEXT + "}", content_type="application/json"
    )

    integration_id = hook.register_integration("ACME CRM", "ops@acme.test")

    assert integration_id == INTEGRATION_ID
    assert str(integration_id) == BIG_ID_TEXT
    httpserver.check_assertions()


def test_register_integration_on_409_returns_the_existing_id_with_that_name(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations", method="PUT").respond_with_json(
        {"requestId": "r-409", "errors": ["An active integration already exists"]}, status=409
    )
    httpserver.expect_request("/v2/crm/integrations", method="GET").respond_with_data(
        '{"requestId": "r-2", "integrations": ['
        '{"integrationId": 1, "ownerEmail": "x@acme.test", "name": "Other"},'
        '{"integrationId": ' + BIG_ID_TEXT + ', "ownerEmail": "ops@acme.test", "name": "ACME CRM"}]}',
        content_type="application/json",
    )

    assert hook.register_integration("ACME CRM", "ops@acme.test") == INTEGRATION_ID
    assert [request.method for request, _ in httpserver.log] == ["PUT", "GET"]


def test_register_integration_on_409_without_a_matching_name_raises_a_clear_conflict(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations", method="PUT").respond_with_json(
        {"requestId": "r-409", "errors": ["An active integration already exists"]}, status=409
    )
    httpserver.expect_request("/v2/crm/integrations", method="GET").respond_with_json(
        {"requestId": "r-2", "integrations": [{"integrationId": 7, "ownerEmail": "a@b.c", "name": "Legacy"}]}
    )

    with pytest.raises(GongConflictError) as caught:
        hook.register_integration("ACME CRM", "ops@acme.test")

    text = str(caught.value)
    assert "'Legacy'" in text
    assert "ACME CRM" in text
    assert caught.value.request_id == "r-409"
    assert caught.value.status_code == 409


def test_list_integrations_parses_typed_integrations(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/integrations", method="GET").respond_with_data(
        '{"requestId": "r", "integrations": [{"integrationId": '
        + BIG_ID_TEXT
        + ', "ownerEmail": "ops@acme.test", "name": "ACME", "addedByGongLater": true}]}',
        content_type="application/json",
    )

    assert hook.list_integrations() == [
        Integration(integration_id=INTEGRATION_ID, owner_email="ops@acme.test", name="ACME")
    ]


def test_delete_integration_sends_exact_id_and_client_request_id(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/v2/crm/integrations",
        method="DELETE",
        query_string={"integrationId": BIG_ID_TEXT, "clientRequestId": "delete-1"},
    ).respond_with_json({"requestId": "r-del", "clientRequestId": "delete-1"}, status=201)

    assert hook.delete_integration(INTEGRATION_ID, "delete-1") == "r-del"
    httpserver.check_assertions()


def test_get_entity_schema_returns_custom_fields(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v2/crm/entity-schema",
        method="GET",
        query_string={"integrationId": BIG_ID_TEXT, "objectType": "DEAL"},
    ).respond_with_json(
        {
            "requestId": "r",
            "objectTypeToSelectedFields": {
                "DEAL": [
                    {
                        "uniqueName": "tier",
                        "label": "Tier",
                        "type": "PICKLIST",
                        "orderedValueList": ["A", "B"],
                    },
                    {"uniqueName": "arr", "label": "ARR", "type": "CURRENCY"},
                ]
            },
        }
    )

    fields = hook.get_entity_schema(INTEGRATION_ID, ObjectType.DEAL)

    assert fields == [
        CustomField(unique_name="tier", label="Tier", type="PICKLIST", ordered_value_list=["A", "B"]),
        CustomField(unique_name="arr", label="ARR", type="CURRENCY"),
    ]
    httpserver.check_assertions()


def test_set_entity_schema_posts_every_field_as_json(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    recorder = Recorder([json_response({"requestId": "r-schema"}, status=201)])
    httpserver.expect_request(
        "/v2/crm/entity-schema",
        method="POST",
        query_string={"integrationId": BIG_ID_TEXT, "objectType": "ACCOUNT"},
    ).respond_with_handler(recorder)

    request_id = hook.set_entity_schema(
        INTEGRATION_ID,
        "ACCOUNT",
        [
            CustomField(unique_name="segment", label="Segment", type="STRING"),
            {"uniqueName": "old", "label": "Old", "type": "STRING", "isDeleted": True},
        ],
    )

    assert request_id == "r-schema"
    assert json.loads(recorder.requests[0]["body"]) == [
        {"uniqueName": "segment", "label": "Segment", "type": "STRING"},
        {"uniqueName": "old", "label": "Old", "type": "STRING", "isDeleted": True},
    ]
    assert recorder.requests[0]["headers"]["Content-Type"] == "application/json"


def test_get_request_status_parses_status_errors_and_counts(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/v2/crm/request-status",
        method="GET",
        query_string={"integrationId": BIG_ID_TEXT, "clientRequestId": "up-1"},
    ).respond_with_json(
        {
            "requestId": "r-st",
            "status": "FAILED",
            "errors": [{"line": 3, "description": "modifiedDate is mandatory"}],
            "totalErrorCount": 1,
            "totalSuccessCount": 41,
            "someNewField": "ignored",
        }
    )

    status = hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.FAILED
    assert status.errors == [RecordError(line=3, description="modifiedDate is mandatory")]
    assert (status.total_error_count, status.total_success_count, status.request_id) == (1, 41, "r-st")


def test_get_entities_splits_into_batches_of_100_and_merges(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    seen: list[list[str]] = []

    def answer(request):  # type: ignore[no-untyped-def]
        ids = json.loads(request.get_data())
        seen.append(ids)
        assert request.args["integrationId"] == BIG_ID_TEXT
        assert request.args["objectType"] == "CONTACT"
        found = {object_id: ({"objectId": object_id} if object_id != "c-7" else None) for object_id in ids}
        return json_response({"requestId": "r", "crmObjectsMap": found})

    httpserver.expect_request("/v2/crm/entities", method="GET").respond_with_handler(answer)
    ids = [f"c-{n}" for n in range(250)] + ["c-1"]  # a duplicate is asked for once

    result = hook.get_entities(INTEGRATION_ID, "CONTACT", ids)

    assert [len(batch) for batch in seen] == [100, 100, 50]
    assert sorted(id_ for batch in seen for id_ in batch) == sorted(f"c-{n}" for n in range(250))
    assert len(result) == 250
    assert result["c-249"] == {"objectId": "c-249"}
    assert result["c-7"] is None


def test_get_entities_marks_ids_gong_left_out_as_none(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/entities", method="GET").respond_with_json(
        {"requestId": "r", "crmObjectsMap": {"a": {"objectId": "a"}}}
    )

    assert hook.get_entities(INTEGRATION_ID, "ACCOUNT", ["a", "b"]) == {"a": {"objectId": "a"}, "b": None}


def test_get_entities_with_no_ids_makes_no_call(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    assert hook.get_entities(INTEGRATION_ID, "ACCOUNT", []) == {}
    assert httpserver.log == []


def test_upload_entities_posts_multipart_data_file_and_returns_request_id(
    hook: GongCrmHook, httpserver: HTTPServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    data = b'{"objectId": "a1", "modifiedDate": "2024-01-02T03:04:05Z"}\n'
    path = tmp_path / "accounts-g1-p1.ldjson"
    path.write_bytes(data)
    received: list[tuple[str | None, str | None, bytes, dict[str, str]]] = []

    def answer(request):  # type: ignore[no-untyped-def]
        part = request.files["dataFile"]
        received.append((part.filename, part.mimetype, part.read(), request.args.to_dict()))
        return json_response({"requestId": "r-up", "clientRequestId": "up-1"}, status=201)

    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_handler(answer)

    result = hook.upload_entities(INTEGRATION_ID, ObjectType.ACCOUNT, "up-1", path)

    assert result.request_id == "r-up"
    assert result.client_request_id == "up-1"
    assert result.already_accepted is False
    assert received == [
        (
            "accounts-g1-p1.ldjson",
            "application/x-ndjson",
            data,
            {"integrationId": BIG_ID_TEXT, "objectType": "ACCOUNT", "clientRequestId": "up-1"},
        )
    ]


def test_upload_entities_409_means_already_accepted(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_json(
        {"requestId": "r-dup", "errors": ["Client request id has already been used"]}, status=409
    )

    result = hook.upload_entities(INTEGRATION_ID, "LEAD", "up-1", io.BytesIO(b'{"objectId":"l"}\n'))

    assert result.already_accepted is True
    assert result.request_id == "r-dup"
    assert len(httpserver.log) == 1


def test_upload_from_a_file_object_uses_its_name_or_a_default(
    hook: GongCrmHook, httpserver: HTTPServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    names: list[tuple[str | None, bytes]] = []

    def answer(request):  # type: ignore[no-untyped-def]
        part = request.files["dataFile"]
        names.append((part.filename, part.read()))
        return json_response({"requestId": "r"}, status=201)

    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_handler(answer)
    path = tmp_path / "deals.bin"
    path.write_bytes(b"HEADER" + b'{"objectId":"d"}\n')

    with path.open("rb") as handle:
        handle.read(6)  # the upload starts where the caller's file object stands
        hook.upload_entities(INTEGRATION_ID, "DEAL", "up-2", handle)
        assert not handle.closed  # the caller's object stays the caller's
    hook.upload_entities(INTEGRATION_ID, "DEAL", "up-3", io.BytesIO(b"x\n"))

    assert names == [("deals.bin", b'{"objectId":"d"}\n'), ("deal.ldjson", b"x\n")]


def test_upload_from_object_storage_path(hook: GongCrmHook, httpserver: HTTPServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import ObjectStoragePath

    data = b'{"objectId": "u1", "modifiedDate": "2024-01-02T03:04:05Z", "emailAddress": "u@x.io"}\n'
    (tmp_path / "users.ldjson").write_bytes(data)
    got: list[tuple[str | None, bytes]] = []

    def answer(request):  # type: ignore[no-untyped-def]
        part = request.files["dataFile"]
        got.append((part.filename, part.read()))
        return json_response({"requestId": "r"}, status=201)

    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_handler(answer)

    hook.upload_entities(
        INTEGRATION_ID, "BUSINESS_USER", "up-4", ObjectStoragePath(f"file://{tmp_path}/users.ldjson")
    )

    assert got == [("users.ldjson", data)]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, GongBadRequestError),
        (401, GongAuthError),
        (403, GongAuthError),
        (404, GongNotFoundError),
        (413, GongPayloadTooLargeError),
    ],
)
def test_client_errors_are_typed_carry_gong_details_and_are_not_retried(
    hook: GongCrmHook, httpserver: HTTPServer, status: int, error_class: type[GongApiError]
) -> None:
    httpserver.expect_request("/v2/crm/request-status").respond_with_json(
        {"requestId": f"r-{status}", "errors": ["first problem", "second problem"]}, status=status
    )

    with pytest.raises(error_class) as caught:
        hook.get_request_status(INTEGRATION_ID, "up-1")

    error = caught.value
    assert (error.status_code, error.request_id, error.errors) == (
        status,
        f"r-{status}",
        ["first problem", "second problem"],
    )
    assert (error.method, error.path) == ("GET", "/v2/crm/request-status")
    assert f"requestId=r-{status}" in str(error)
    assert f"HTTP {status}" in str(error)
    assert "second problem" in str(error)
    assert len(httpserver.log) == 1


def test_an_error_body_that_is_not_json_still_gives_a_typed_error(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_data(
        "<html>Bad gateway page</html>", status=400, content_type="text/html"
    )

    with pytest.raises(GongBadRequestError) as caught:
        hook.list_integrations()

    assert caught.value.request_id is None
    assert "<html>" not in str(caught.value)


def test_a_success_that_is_not_json_is_reported_as_such(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_data("<html>login</html>", status=200)

    with pytest.raises(GongApiError, match="not the expected JSON"):
        hook.list_integrations()


def test_basic_auth_header_is_sent(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    expected = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{ACCESS_SECRET}".encode()).decode()
    httpserver.expect_request("/v2/crm/integrations", headers={"Authorization": expected}).respond_with_json(
        {"requestId": "r", "integrations": []}
    )

    assert hook.list_integrations() == []
    httpserver.check_assertions()


def test_bad_arguments_are_refused_before_any_call(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    with pytest.raises(TypeError, match="2\\^53"):
        hook.get_request_status(float(INTEGRATION_ID), "up-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="letters, digits"):
        hook.get_request_status(INTEGRATION_ID, "run:2024+01")
    with pytest.raises(ValueError, match="case-sensitive"):
        hook.get_entity_schema(INTEGRATION_ID, "contact")
    assert httpserver.log == []


def test_integration_id_given_as_digit_string_is_sent_exactly(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/v2/crm/request-status", query_string={"integrationId": BIG_ID_TEXT, "clientRequestId": "c"}
    ).respond_with_json({"requestId": "r", "status": "DONE"})

    assert hook.get_request_status(BIG_ID_TEXT, "c").status is RequestState.DONE  # type: ignore[arg-type]
    httpserver.check_assertions()


def test_one_info_line_per_request_with_method_path_status_request_id(
    hook: GongCrmHook, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/v2/crm/request-status").respond_with_json(
        {"requestId": "req-abc-123", "status": "PENDING"}
    )

    with caplog.at_level(logging.INFO, logger="gong_provider"):
        hook.get_request_status(INTEGRATION_ID, "up-1")

    lines = [r.getMessage() for r in caplog.records if r.name == "gong_provider.hooks"]
    assert len(lines) == 1
    assert "GET /v2/crm/request-status -> 200 requestId=req-abc-123" in lines[0]
    assert lines[0].endswith(" ms)")


def test_test_connection_ok(hook: GongCrmHook, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r", "integrations": [{"integrationId": 1, "name": "n", "ownerEmail": "o@x.io"}]}
    )

    ok, message = hook.test_connection()

    assert ok is True
    assert "1 CRM integration" in message


def test_test_connection_on_401_explains_credentials_and_regional_host(
    hook: GongCrmHook, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r-401", "errors": ["Access denied"]}, status=401
    )

    ok, message = hook.test_connection()

    assert ok is False
    assert "access key and secret" in message
    assert "host" in message
    assert "r-401" in message
    assert "Access denied" in message


def test_test_connection_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from tests.support.hooks import FAST, basic_connection

    basic_connection(monkeypatch, f"http://127.0.0.1:{port}", "gong_nowhere")
    ok, message = GongCrmHook("gong_nowhere", **{**FAST, "max_retries": 1}).test_connection()

    assert ok is False
    assert "No answer from Gong" in message

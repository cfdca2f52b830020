"""The emulator's /v2/crm API: status codes, bodies and storage semantics of every endpoint."""

from __future__ import annotations

import base64
import re
import time

import pytest
import requests

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.limits import MAX_OBJECT_IDS_PER_GET
from tests.fixtures.emulator import GongApi, ldjson

BIG_ID = 2271307570613351879
MODIFIED = "2024-03-01T10:11:12Z"


def _errors(response: requests.Response) -> list[str]:
    body = response.json()
    assert re.fullmatch(r"[a-z0-9]{19}", body["requestId"])
    assert isinstance(body["errors"], list)
    assert body["errors"]
    return list(body["errors"])


# --------------------------------------------------------------------------- authentication


def test_basic_and_bearer_credentials_are_accepted(emulator: EmulatorProcess, gong_api: GongApi) -> None:
    assert gong_api.call("GET", "integrations").status_code == 200
    bearer = gong_api.call(
        "GET", "integrations", auth=None, headers={"Authorization": "Bearer emulator-token"}
    )
    assert bearer.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong-token",
        "Basic " + base64.b64encode(b"emulator-access-key:wrong").decode(),
        "Basic not-base64!",
        "Token emulator-token",
    ],
)
def test_401_without_valid_credentials(
    emulator: EmulatorProcess, gong_api: GongApi, header: str | None
) -> None:
    session = requests.Session()
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "integrations"), ("POST", "entities"), ("GET", "request-status")]:
        response = session.request(method, f"{emulator.url}/v2/crm/{path}", headers=headers, timeout=10)
        assert response.status_code == 401
        assert "Access denied" in _errors(response)[0]


def test_every_response_has_a_fresh_request_id(gong_api: GongApi) -> None:
    ids = {gong_api.call("GET", "integrations").json()["requestId"] for _ in range(5)}
    assert len(ids) == 5


# --------------------------------------------------------------------------- integrations


def test_integration_id_is_exact_in_responses(gong_api: GongApi) -> None:
    response = gong_api.call("GET", "integrations")
    assert f'"integrationId":{BIG_ID}' in response.text
    assert response.json()["integrations"] == [
        {"integrationId": BIG_ID, "ownerEmail": "crm-admin@example.com", "name": "Airflow CRM sync"}
    ]


def test_register_conflicts_while_an_integration_exists(gong_api: GongApi) -> None:
    response = gong_api.call("PUT", "integrations", json={"ownerEmail": "a@example.com", "name": "Mine"})
    assert response.status_code == 409
    assert "already exists" in _errors(response)[0]


def test_delete_then_register_integration(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    assert (
        gong_api.upload_and_wait("ACCOUNT", "acc-1", ldjson({"objectId": "a1", "modifiedDate": MODIFIED}))[
            "status"
        ]
        == "DONE"
    )
    params = {"integrationId": BIG_ID, "clientRequestId": "delete-1"}
    deleted = gong_api.call("DELETE", "integrations", params=params)
    assert deleted.status_code == 201
    assert deleted.json()["clientRequestId"] == "delete-1"
    assert gong_api.wait("delete-1")["status"] == "DONE"
    assert gong_api.call("DELETE", "integrations", params=params).status_code == 409  # a retry
    gone = gong_api.call("DELETE", "integrations", params={**params, "clientRequestId": "delete-2"})
    assert gone.status_code == 400
    assert "not found" in _errors(gone)[0]
    assert gong_api.call("GET", "integrations").json()["integrations"] == []
    assert emulator_client.entities("ACCOUNT") == {}

    registered = gong_api.call("PUT", "integrations", json={"ownerEmail": "a@example.com", "name": "Mine"})
    assert registered.status_code == 200
    new_id = registered.json()["integrationId"]
    assert isinstance(new_id, int)
    assert new_id > 2**53
    listed = gong_api.call("GET", "integrations").json()["integrations"]
    assert listed == [{"integrationId": new_id, "ownerEmail": "a@example.com", "name": "Mine"}]
    emulator_client.reset()  # the start-up integration is back
    assert gong_api.call("GET", "integrations").json()["integrations"][0]["integrationId"] == BIG_ID


def test_delete_integration_reusing_client_request_id_is_409(gong_api: GongApi) -> None:
    assert gong_api.upload("STAGE", "used-id", ldjson({"objectId": "s", "name": "S"})).status_code == 201
    response = gong_api.call(
        "DELETE", "integrations", params={"integrationId": BIG_ID, "clientRequestId": "used-id"}
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body", [{"ownerEmail": "a@example.com"}, {"name": "x"}, {"ownerEmail": "", "name": "x"}, [], "text"]
)
def test_register_integration_400_on_bad_body(gong_api: GongApi, body: object) -> None:
    assert gong_api.call("PUT", "integrations", json=body).status_code == 400


# --------------------------------------------------------------------------- upload


def test_upload_is_accepted_then_processed(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    record = {
        "objectId": "c1",
        "modifiedDate": MODIFIED,
        "emailAddress": "a@example.com",
        "custom_x": [1, {"y": 2}],
    }
    response = gong_api.upload("CONTACT", "up-1", ldjson(record))
    assert response.status_code == 201
    body = response.json()
    assert body["clientRequestId"] == "up-1"
    assert set(body) == {"requestId", "clientRequestId"}
    status = gong_api.wait("up-1")
    assert status["status"] == "DONE"
    assert status["errors"] == []
    assert (status["totalSuccessCount"], status["totalErrorCount"]) == (1, 0)
    assert emulator_client.entities("CONTACT") == {"c1": record}
    assert emulator_client.upload_counts() == {"up-1": 1}
    log = [entry for entry in emulator_client.requests_log() if entry["method"] == "POST"]
    assert log[0]["path"] == "/v2/crm/entities"
    assert log[0]["status"] == 201
    assert log[0]["clientRequestId"] == "up-1"
    assert log[0]["records"] == 1


def test_reused_client_request_id_is_409(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    data = ldjson({"objectId": "s1", "name": "Stage"})
    assert gong_api.upload("STAGE", "same", data).status_code == 201
    again = gong_api.upload("STAGE", "same", data)
    assert again.status_code == 409
    assert _errors(again) == ["Client request id has already been used"]
    assert emulator_client.upload_counts() == {"same": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"clientRequestId": "has:colon"}, "clientRequestId"),
        ({"clientRequestId": "has space"}, "clientRequestId"),
        ({"clientRequestId": "x" * 65}, "clientRequestId"),
        ({"clientRequestId": ""}, "clientRequestId"),
        ({"objectType": "contact"}, "case-sensitive"),
        ({"objectType": "OPPORTUNITY"}, "objectType"),
        ({"objectType": ""}, "objectType"),
        ({"integrationId": "12345"}, "not found"),
        ({"integrationId": "2.2713075706133519e18"}, "64-bit integer"),
        ({"integrationId": "2271307570613351879.0"}, "64-bit integer"),
        ({"integrationId": "abc"}, "64-bit integer"),
        ({"integrationId": ""}, "integrationId"),
    ],
)
def test_upload_400_on_bad_parameters(gong_api: GongApi, params: dict[str, str], message: str) -> None:
    full = {"integrationId": str(BIG_ID), "objectType": "CONTACT", "clientRequestId": "ok-id"} | params
    response = gong_api.call(
        "POST", "entities", params=full, files={"dataFile": ("d.ldjson", ldjson({"objectId": "x"}))}
    )
    assert response.status_code == 400
    assert message in _errors(response)[0]


def test_upload_400_without_data_file_part(gong_api: GongApi) -> None:
    response = gong_api.upload("STAGE", "no-part", ldjson({"objectId": "s", "name": "S"}), part="file")
    assert response.status_code == 400
    assert "dataFile" in _errors(response)[0]


def test_upload_400_when_not_multipart(gong_api: GongApi) -> None:
    params = {"integrationId": BIG_ID, "objectType": "STAGE", "clientRequestId": "raw"}
    response = gong_api.call("POST", "entities", params=params, data=ldjson({"objectId": "s", "name": "S"}))
    assert response.status_code == 400
    assert "multipart/form-data" in _errors(response)[0]


def test_upload_400_on_empty_file(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    response = gong_api.upload("STAGE", "empty", b"")
    assert response.status_code == 400
    assert emulator_client.upload_counts() == {}


def test_upload_over_200_mb_is_refused(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    """Gong's spec answers 400 (its upload responses list no 413); the body is read and discarded."""

    def chunks() -> object:
        boundary = b"--b0undary"
        yield boundary + b'\r\nContent-Disposition: form-data; name="dataFile"; filename="big.ldjson"\r\n\r\n'
        line = b'{"objectId":"x","name":"' + b"n" * 1000 + b'"}\n'
        block = line * 1024  # about 1 MB
        for _ in range(201):
            yield block
        yield b"\r\n" + boundary + b"--\r\n"

    params = {"integrationId": BIG_ID, "objectType": "STAGE", "clientRequestId": "too-big"}
    response = gong_api.call(
        "POST",
        "entities",
        params=params,
        data=chunks(),  # chunked: no Content-Length, so the limit is checked while streaming
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert response.status_code == 400
    assert "200 MB" in _errors(response)[0]
    assert emulator_client.upload_counts() == {}


def test_upload_refused_early_on_content_length(gong_api: GongApi) -> None:
    params = {"integrationId": BIG_ID, "objectType": "STAGE", "clientRequestId": "too-big-cl"}
    body = b"x" * 1024
    response = gong_api.call(
        "POST",
        "entities",
        params=params,
        data=body,
        headers={
            "Content-Type": "multipart/form-data; boundary=zz",
            "Content-Length": str(202 * 1024 * 1024),
        },
        timeout=5,
    )
    assert response.status_code == 400


# --------------------------------------------------------------------------- request-status


def test_request_status_400_for_unknown_request(gong_api: GongApi) -> None:
    response = gong_api.status("never-sent")
    assert response.status_code == 400
    assert "never-sent" in _errors(response)[0]


def test_request_status_400_for_other_integration(gong_api: GongApi) -> None:
    assert gong_api.upload("STAGE", "mine", ldjson({"objectId": "s", "name": "S"})).status_code == 201
    assert gong_api.status("mine", integration_id=42).status_code == 400


def test_pending_then_in_progress_then_done(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.configure(processing_delay=1.0)
    assert gong_api.upload("STAGE", "slow", ldjson({"objectId": "s", "name": "S"})).status_code == 201
    seen: list[str] = []
    body = {"status": "PENDING"}
    deadline = time.monotonic() + 30
    while body["status"] not in ("DONE", "FAILED") and time.monotonic() < deadline:
        body = gong_api.status("slow").json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        time.sleep(0.01)
    assert seen == ["PENDING", "IN_PROGRESS", "DONE"]
    assert body["totalSuccessCount"] == 1


# --------------------------------------------------------------------------- GET entities


def test_get_entities_returns_stored_and_null(gong_api: GongApi) -> None:
    deal = {"objectId": "d1", "modifiedDate": MODIFIED, "amount": 7000, "status": "WON", "custom": None}
    assert gong_api.upload_and_wait("DEAL", "deals", ldjson(deal))["status"] == "DONE"
    response = gong_api.get_entities("DEAL", ["d1", "unknown"])
    assert response.status_code == 200
    assert response.json()["crmObjectsMap"] == {"d1": deal, "unknown": None}


def test_get_entities_415_without_body(gong_api: GongApi) -> None:
    params = {"integrationId": BIG_ID, "objectType": "DEAL"}
    response = gong_api.call("GET", "entities", params=params)
    assert response.status_code == 415
    assert _errors(response)


@pytest.mark.parametrize("body", [{"ids": ["a"]}, [1, 2], "a"])
def test_get_entities_400_on_bad_body(gong_api: GongApi, body: object) -> None:
    assert gong_api.get_entities("DEAL", body).status_code == 400  # type: ignore[arg-type]


def test_get_entities_only_first_100(gong_api: GongApi) -> None:
    ids = [f"id-{index}" for index in range(MAX_OBJECT_IDS_PER_GET + 50)]
    found = gong_api.get_entities("ACCOUNT", ids).json()["crmObjectsMap"]
    assert list(found) == ids[:MAX_OBJECT_IDS_PER_GET]


@pytest.mark.parametrize("object_type", ["STAGE", "BUSINESS_USER", "deal"])
def test_get_entities_400_for_types_outside_the_spec(gong_api: GongApi, object_type: str) -> None:
    assert gong_api.get_entities(object_type, ["a"]).status_code == 400


# --------------------------------------------------------------------------- storage semantics


def test_upsert_replaces_and_is_deleted_removes(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    first = {"objectId": "a1", "modifiedDate": MODIFIED, "name": "Old", "domains": ["old.com"]}
    second = {"objectId": "a1", "modifiedDate": "2024-03-02T10:11:12+02:00", "name": "New"}
    assert (
        gong_api.upload_and_wait("ACCOUNT", "g1", ldjson(first, {**first, "objectId": "a2"}))["status"]
        == "DONE"
    )
    assert gong_api.upload_and_wait("ACCOUNT", "g2", ldjson(second))["status"] == "DONE"
    assert emulator_client.entities("ACCOUNT")["a1"] == second
    deletion = {"objectId": "a2", "modifiedDate": MODIFIED, "isDeleted": True}
    assert gong_api.upload_and_wait("ACCOUNT", "g3", ldjson(deletion))["status"] == "DONE"
    assert set(emulator_client.entities("ACCOUNT")) == {"a1"}
    assert gong_api.get_entities("ACCOUNT", ["a2"]).json()["crmObjectsMap"] == {"a2": None}
    assert emulator_client.record_counts("ACCOUNT") == {"a1": 2, "a2": 2}


def test_business_user_delete_needs_no_email(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    user = {"objectId": "u1", "modifiedDate": MODIFIED, "emailAddress": "john.doe@acme.com"}
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-1", ldjson(user))["status"] == "DONE"
    removal = {"objectId": "u1", "modifiedDate": MODIFIED, "isDeleted": True}
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-2", ldjson(removal))["status"] == "DONE"
    assert emulator_client.entities("BUSINESS_USER") == {}


def test_failed_file_still_stores_its_valid_records(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    good = {"objectId": "ok", "modifiedDate": MODIFIED}
    status = gong_api.upload_and_wait("LEAD", "mixed", ldjson(good, {"objectId": "bad"}))
    assert status["status"] == "FAILED"
    assert (status["totalSuccessCount"], status["totalErrorCount"]) == (1, 1)
    assert emulator_client.entities("LEAD") == {"ok": good}


# --------------------------------------------------------------------------- entity schema


def _schema(gong_api: GongApi, object_type: str = "ACCOUNT") -> requests.Response:
    return gong_api.call("GET", "entity-schema", params={"integrationId": BIG_ID, "objectType": object_type})


def _set_schema(gong_api: GongApi, fields: object, object_type: str = "ACCOUNT") -> requests.Response:
    params = {"integrationId": BIG_ID, "objectType": object_type}
    return gong_api.call("POST", "entity-schema", params=params, json=fields)


FIELD_A = {
    "uniqueName": "fieldA",
    "label": "Field A",
    "type": "STRING",
    "lastModified": "2020-11-11T08:11:34+01:00",
}
FIELD_B = {"uniqueName": "fieldB", "label": "Field B", "type": "PICKLIST", "orderedValueList": ["x", "y"]}
FIELD_C = {"uniqueName": "fieldC", "label": "Field C", "type": "REFERENCE", "referenceTo": "USER"}


def test_entity_schema_follows_gongs_replacement_rules(gong_api: GongApi) -> None:
    empty = _schema(gong_api)
    assert empty.status_code == 200
    assert empty.json()["objectTypeToSelectedFields"] == {"ACCOUNT": []}

    created = _set_schema(gong_api, [FIELD_A])
    assert created.status_code == 201
    assert set(created.json()) == {"requestId"}
    assert _set_schema(gong_api, [FIELD_A, FIELD_B]).status_code == 201
    fields = _schema(gong_api).json()["objectTypeToSelectedFields"]["ACCOUNT"]
    assert fields[0] == {
        "name": "fieldA",
        "label": "Field A",
        "type": "STRING",
        "lastModified": "2020-11-11T08:11:34+01:00",
        "isDeleted": False,
        "referenceTo": None,
        "orderedValueList": None,
    }
    assert [field["name"] for field in fields] == ["fieldA", "fieldB"]

    missing = _set_schema(gong_api, [FIELD_C])  # without fieldA and fieldB
    assert missing.status_code == 400
    assert "fieldA, fieldB" in _errors(missing)[0]

    removed = _set_schema(gong_api, [FIELD_B, FIELD_C, {**FIELD_A, "isDeleted": True}])
    assert removed.status_code == 201
    names = [field["name"] for field in _schema(gong_api).json()["objectTypeToSelectedFields"]["ACCOUNT"]]
    assert names == ["fieldB", "fieldC"]


def test_deleting_a_field_removes_its_values(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    assert _set_schema(gong_api, [FIELD_A]).status_code == 201
    record = {"objectId": "a1", "modifiedDate": MODIFIED, "fieldA": "value", "other": 1}
    assert gong_api.upload_and_wait("ACCOUNT", "with-a", ldjson(record))["status"] == "DONE"
    assert _set_schema(gong_api, [{**FIELD_A, "isDeleted": True}]).status_code == 201
    assert emulator_client.entities("ACCOUNT")["a1"] == {
        "objectId": "a1",
        "modifiedDate": MODIFIED,
        "other": 1,
    }


def test_custom_fields_are_checked_against_the_schema(gong_api: GongApi) -> None:
    fields = [
        {"uniqueName": "when", "label": "When", "type": "DATETIME"},
        {"uniqueName": "kind", "label": "Kind", "type": "PICKLIST", "orderedValueList": ["A", "B"]},
        {"uniqueName": "share", "label": "Share", "type": "PERCENT"},
    ]
    assert _set_schema(gong_api, fields, "DEAL").status_code == 201
    base = {"modifiedDate": MODIFIED}
    status = gong_api.upload_and_wait(
        "DEAL",
        "custom",
        ldjson(
            {**base, "objectId": "ok", "when": "2022-02-04T17:57:23Z", "kind": "A", "share": 50, "free": "x"},
            {**base, "objectId": "ms", "when": "2022-02-04T17:57:23.000Z"},
            {**base, "objectId": "pick", "kind": "C"},
            {**base, "objectId": "pct", "share": 101},
        ),
    )
    assert status["status"] == "FAILED"
    assert [error["line"] for error in status["errors"]] == [2, 3, 4]
    assert "[when]" in status["errors"][0]["description"]


@pytest.mark.parametrize(
    "fields",
    [
        {"uniqueName": "x"},
        [{"label": "No name", "type": "STRING"}],
        [{"uniqueName": "x", "label": "X", "type": "string"}],
        [{"uniqueName": "x", "label": "X", "type": "PICKLIST"}],
        [{"uniqueName": "x", "label": "X", "type": "REFERENCE", "referenceTo": "STAGE"}],
        [{"uniqueName": "x", "label": "X", "type": "DATE", "lastModified": "2020-11-11T08:11:34.123Z"}],
        [FIELD_A, FIELD_A],
        [{"uniqueName": "name", "label": "Name", "type": "STRING"}],
    ],
)
def test_entity_schema_400_on_bad_fields(gong_api: GongApi, fields: object) -> None:
    assert _set_schema(gong_api, fields).status_code == 400


@pytest.mark.parametrize("object_type", ["STAGE", "BUSINESS_USER", "account"])
def test_entity_schema_400_on_object_type(gong_api: GongApi, object_type: str) -> None:
    assert _schema(gong_api, object_type).status_code == 400
    assert _set_schema(gong_api, [FIELD_A], object_type).status_code == 400


def test_unknown_crm_path_answers_gong_error_body(gong_api: GongApi) -> None:
    response = gong_api.call("GET", "no-such-thing")
    assert response.status_code == 404
    assert _errors(response)

"""Gong's record rules as the emulator applies them, line by line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.rules import (
    OBJECT_TYPES,
    STANDARD_FIELDS,
    LineChecker,
    RecordValidator,
    is_valid_client_request_id,
    is_valid_object_id,
)
from tests.fixtures.emulator import GongApi, ldjson

MODIFIED = "2019-01-03T23:45:57+01:00"
VALID = {
    "BUSINESS_USER": {"objectId": "user1_Id", "emailAddress": "john.doe@acme.com", "modifiedDate": MODIFIED},
    "STAGE": {"objectId": "discovery", "name": "Discovery", "isActive": True, "sortOrder": 1},
    "ACCOUNT": {
        "objectId": "5ybyh6n6n65",
        "modifiedDate": MODIFIED,
        "url": "https://crm.com/accounts/5ybyh6n6n65",
        "name": "PBR",
        "domains": ["pbr.com", "pbr.gov"],
        "type": "Investor",
    },
    "CONTACT": {
        "objectId": "5zbwd7n5n65",
        "modifiedDate": MODIFIED,
        "accountId": "5ybyh6n6n65",
        "emailAddress": "john.smith@acme.com",
        "firstName": "john",
        "phoneNumber": "(912) 507-4395",
    },
    "DEAL": {
        "objectId": "8608553",
        "modifiedDate": "2022-02-04T18:24:59Z",
        "url": "http://crm.com/deals/8608553",
        "accountId": "5ybyh6n6n65",
        "ownerId": "5486951",
        "name": "Deal name",
        "createdDate": "2022-02-04T17:57:23Z",
        "closeDate": "2022-09-04",
        "status": "OPEN",
        "stage": "discovery",
        "amount": 7000,
        "custom_field_2": None,
    },
    "LEAD": {
        "objectId": "63473hjg53h",
        "modifiedDate": MODIFIED,
        "emailAddress": "bob.smith@acme.com",
        "convertedToDealId": "dkfj8dfgf87",
    },
}


def problems(object_type: str, record: Any) -> list[str]:
    line = record if isinstance(record, bytes) else json.dumps(record).encode()
    return LineChecker(object_type).check(line)[2]


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_documented_examples_are_valid(object_type: str) -> None:
    assert problems(object_type, VALID[object_type]) == []


@pytest.mark.parametrize(
    ("object_type", "change", "expected"),
    [
        ("ACCOUNT", {"objectId": None}, "Mandatory field [objectId] is missing or empty"),
        ("ACCOUNT", {"objectId": ""}, "Mandatory field [objectId] is missing or empty"),
        ("ACCOUNT", {"objectId": 123}, "[objectId] must be a string"),
        ("ACCOUNT", {"objectId": "x" * 65}, "[objectId] must have at most 64"),
        ("ACCOUNT", {"objectId": "a/b"}, "[objectId]"),
        ("ACCOUNT", {"objectId": "a#b"}, "[objectId]"),
        ("ACCOUNT", {"objectId": "a b"}, "[objectId]"),
        ("ACCOUNT", {"modifiedDate": None}, "Mandatory field [modifiedDate]"),
        ("ACCOUNT", {"modifiedDate": "2019-01-03T23:45:57.123Z"}, "[modifiedDate] must be an ISO-8601"),
        ("ACCOUNT", {"modifiedDate": "2019-01-03T23:45:57"}, "[modifiedDate]"),
        ("ACCOUNT", {"modifiedDate": "2019-01-03"}, "[modifiedDate]"),
        ("ACCOUNT", {"modifiedDate": "2019-02-30T23:45:57Z"}, "[modifiedDate]"),
        ("ACCOUNT", {"modifiedDate": "yesterday"}, "[modifiedDate]"),
        ("ACCOUNT", {"modifiedDate": 1546555557}, "[modifiedDate]"),
        ("ACCOUNT", {"isDeleted": "yes"}, "[isDeleted] must be a boolean"),
        ("ACCOUNT", {"url": "crm.com/accounts/1"}, "[url] must be a full URL"),
        ("ACCOUNT", {"domains": "pbr.com"}, "[domains] must be an array of strings"),
        ("ACCOUNT", {"name": 5}, "[name] must be a string"),
        ("BUSINESS_USER", {"emailAddress": None}, "Mandatory field [emailAddress]"),
        ("BUSINESS_USER", {"emailAddress": "not-an-email"}, "[emailAddress] must be a valid email"),
        ("STAGE", {"name": ""}, "Mandatory field [name]"),
        ("STAGE", {"sortOrder": 1.5}, "[sortOrder] must be an integer"),
        ("STAGE", {"isActive": 1}, "[isActive] must be a boolean"),
        ("DEAL", {"status": "CLOSED_WON"}, "[status] must be one of OPEN, WON, LOST"),
        ("DEAL", {"status": "open"}, "[status]"),
        ("DEAL", {"amount": "7k"}, "[amount] must be a number"),
        ("DEAL", {"amount": True}, "[amount] must be a number"),
        ("DEAL", {"closeDate": "2022-09-04T00:00:00Z"}, "[closeDate] must be a date"),
        ("DEAL", {"closeDate": "2022-13-04"}, "[closeDate]"),
        ("DEAL", {"createdDate": "2022-02-04T17:57:23.000Z"}, "[createdDate]"),
        ("CONTACT", {"emailAddress": "a@b"}, "[emailAddress]"),
        ("LEAD", {"convertedToDealId": 5}, "[convertedToDealId] must be a string"),
    ],
)
def test_each_rule(object_type: str, change: dict[str, Any], expected: str) -> None:
    record = {**VALID[object_type]}
    for key, value in change.items():
        if value is None and key != "objectId":
            record.pop(key, None)
        else:
            record[key] = value
    found = problems(object_type, record)
    assert len(found) == 1, found
    assert expected in found[0]


@pytest.mark.parametrize(
    "value", ["2019-01-03T23:45:57Z", "2019-01-03T23:45:57+01:00", "2019-01-03T23:45:57-05:30"]
)
def test_accepted_datetimes(value: str) -> None:
    assert problems("CONTACT", {"objectId": "c", "modifiedDate": value}) == []


def test_object_ids() -> None:
    assert is_valid_object_id("abc-DEF_123")
    assert is_valid_object_id("john.doe+crm@acme.co.uk")
    assert is_valid_object_id("x" * 64)
    assert not is_valid_object_id("x" * 65)
    assert not is_valid_object_id("a.b")
    assert not is_valid_object_id("")


def test_client_request_ids() -> None:
    assert is_valid_client_request_id("run_2024-01-01T00-00-00_abc")
    assert not is_valid_client_request_id("manual__2024-01-01T00:00:00+00:00")
    assert not is_valid_client_request_id("a.b")
    assert not is_valid_client_request_id("x" * 65)


def test_business_user_deletion_needs_no_email() -> None:
    assert problems("BUSINESS_USER", {"objectId": "u", "modifiedDate": MODIFIED, "isDeleted": True}) == []


def test_stage_needs_no_modified_date_but_checks_one_if_sent() -> None:
    assert problems("STAGE", {"objectId": "s", "name": "S"}) == []
    assert problems("STAGE", {"objectId": "s", "name": "S", "modifiedDate": "bad"}) != []


def test_every_problem_of_a_line_is_reported() -> None:
    found = problems("DEAL", {"objectId": "d", "status": "CLOSED_WON", "amount": "7k"})
    assert len(found) == 3


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"objectId": "8608553", "status": OPEN}', "Invalid JSON"),
        (b"\xef\xbb\xbf" + json.dumps(VALID["STAGE"]).encode(), "byte order mark"),
        (b'{"objectId": "caf\xe9", "name": "x"}', "not valid UTF-8"),
        (b'["objectId", "x"]', "must be a JSON object"),
        (b'"just a string"', "must be a JSON object"),
        (b'{"objectId": "s", "name": "x"} trailing', "Invalid JSON"),
    ],
)
def test_malformed_lines(line: bytes, expected: str) -> None:
    found = LineChecker("STAGE").check(line)[2]
    assert len(found) == 1
    assert expected in found[0]


# ----------------------------------------------------------------- fast path agrees with the generic path

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "x",
            "abc-1_2",
            "a b",
            "john@acme.com",
            "bad@",
            "https://crm.com/x",
            "crm.com",
            "2019-01-03T23:45:57Z",
            "2019-01-03T23:45:57.000Z",
            "2022-09-04",
            "OPEN",
            "WON",
            "CLOSED",
            "x" * 65,
        ]
    ),
    st.lists(st.sampled_from(["a.com", "b"]), max_size=2),
    st.lists(st.integers(), min_size=1, max_size=2),
)


@st.composite
def _records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    object_type = draw(st.sampled_from(OBJECT_TYPES))
    names = [*STANDARD_FIELDS[object_type], "objectId", "custom"]
    record = draw(st.dictionaries(st.sampled_from(names), _VALUES, max_size=len(names)))
    return object_type, record


@settings(max_examples=400, deadline=None)
@given(_records())
def test_fast_path_agrees_with_generic_rules(case: tuple[str, dict[str, Any]]) -> None:
    object_type, record = case
    fast = LineChecker(object_type).check(json.dumps(record).encode())
    generic = RecordValidator(object_type).check(record)
    assert (fast[2] == []) == (generic[2] == [])
    if not generic[2]:
        assert fast[:2] == generic[:2]


# ----------------------------------------------------------------- whole files through the emulator


def test_errors_are_capped_at_20_with_1_based_lines(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    lines = [{"objectId": f"c{index}", "modifiedDate": MODIFIED} for index in range(30)]
    for index in range(5, 30):
        lines[index] = {"objectId": f"c{index}"}  # no modifiedDate: lines 6..30 are bad
    status = gong_api.upload_and_wait("CONTACT", "many-errors", ldjson(*lines))
    assert status["status"] == "FAILED"
    assert status["totalErrorCount"] == 25
    assert status["totalSuccessCount"] == 5
    assert [error["line"] for error in status["errors"]] == list(range(6, 26))
    assert set(emulator_client.entities("CONTACT")) == {f"c{index}" for index in range(5)}


def test_same_object_id_twice_fails_the_later_lines(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    first = {"objectId": "s1", "name": "First"}
    status = gong_api.upload_and_wait(
        "STAGE",
        "dups",
        ldjson(first, {"objectId": "s2", "name": "Two"}, {"objectId": "s1", "name": "Second"}, {**first}),
    )
    assert status["status"] == "FAILED"
    assert [error["line"] for error in status["errors"]] == [3, 4]
    assert "line 1" in status["errors"][0]["description"]
    assert "separate files" in status["errors"][0]["description"]
    assert emulator_client.entities("STAGE")["s1"] == first
    assert emulator_client.record_counts("STAGE") == {"s1": 1, "s2": 1}


def test_repeat_after_an_invalid_line_is_also_an_error(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    status = gong_api.upload_and_wait(
        "STAGE", "dup-after-bad", ldjson({"objectId": "s1", "name": ""}, {"objectId": "s1", "name": "Fixed"})
    )
    assert [error["line"] for error in status["errors"]] == [1, 2]
    assert "already appears on line 1" in status["errors"][1]["description"]
    assert emulator_client.entities("STAGE") == {}


def test_duplicates_are_found_across_batches(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    lines = [{"objectId": f"s{index}", "name": "S"} for index in range(6000)]
    lines.append({"objectId": "s3", "name": "Again"})
    status = gong_api.upload_and_wait("STAGE", "big-dup", ldjson(*lines))
    assert status["errors"] == [
        {
            "line": 6001,
            "description": "Object [s3] already appears on line 4 of this file: records that have multiple"
            " updates should be sent in separate files",
        }
    ]
    assert status["totalSuccessCount"] == 6000
    assert emulator_client.record_counts("STAGE")["s3"] == 1


def test_same_object_id_in_separate_files_is_fine(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    assert (
        gong_api.upload_and_wait("STAGE", "gen-1", ldjson({"objectId": "s1", "name": "A"}))["status"]
        == "DONE"
    )
    assert (
        gong_api.upload_and_wait("STAGE", "gen-2", ldjson({"objectId": "s1", "name": "B"}))["status"]
        == "DONE"
    )
    assert emulator_client.entities("STAGE")["s1"]["name"] == "B"
    assert emulator_client.record_counts("STAGE") == {"s1": 2}


def test_line_endings_blank_lines_and_no_final_newline(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    body = b'{"objectId":"a","name":"A"}\r\n\r\n{"objectId":"b","name":"B"}'
    status = gong_api.upload_and_wait("STAGE", "crlf", body)
    assert status["errors"] == [{"line": 2, "description": "Empty line: each line must hold one JSON object"}]
    assert set(emulator_client.entities("STAGE")) == {"a", "b"}
    log = [entry for entry in emulator_client.requests_log() if entry["clientRequestId"] == "crlf"]
    assert log[0]["records"] == 3


def test_documentation_deal_example_fails_clearly(gong_api: GongApi) -> None:
    body = (
        b'{"objectId": "8608553", "modifiedDate": "2022-02-04T18:24:59Z", "status": OPEN, "amount": 7000}\n'
    )
    status = gong_api.upload_and_wait("DEAL", "docs-example", body)
    assert status["status"] == "FAILED"
    assert status["errors"][0]["line"] == 1
    assert status["errors"][0]["description"].startswith("Invalid JSON")


def test_forced_general_error(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.inject_fault("fail_next_request", description="Internal error while parsing the file")
    status = gong_api.upload_and_wait("STAGE", "forced", ldjson({"objectId": "s", "name": "S"}))
    assert status["status"] == "FAILED"
    assert status["errors"] == [{"line": 0, "description": "Internal error while parsing the file"}]
    assert emulator_client.entities("STAGE") == {}
    assert (
        gong_api.upload_and_wait("STAGE", "after", ldjson({"objectId": "s", "name": "S"}))["status"] == "DONE"
    )


def test_done_with_errors_refuses_every_record_yet_answers_done(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    """Gong's contradictory answer (DONE, listing refused lines), for clients that must not trust it."""
    emulator_client.inject_fault("done_with_errors", description="User cannot be deleted")
    body = ldjson({"objectId": "s", "name": "S"}, {"objectId": "t", "name": "T"})
    status = gong_api.upload_and_wait("STAGE", "refused", body)
    assert (status["status"], status["totalErrorCount"], status["totalSuccessCount"]) == ("DONE", 2, 0)
    assert [e["line"] for e in status["errors"]] == [1, 2]
    assert emulator_client.entities("STAGE") == {}
    assert gong_api.upload_and_wait("STAGE", "after", body)["status"] == "DONE"
    assert set(emulator_client.entities("STAGE")) == {"s", "t"}


def _user(email: str, **extra: Any) -> dict[str, Any]:
    return {"objectId": "rep1", "emailAddress": email, "modifiedDate": MODIFIED, **extra}


def test_plain_upsert_of_a_business_user_keeps_the_old_email(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    """Gong ties the email to the user when it is created: a plain upsert does not re-associate."""
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-1", ldjson(_user("old@acme.com")))["status"] == "DONE"
    assert emulator_client.user_emails() == {"rep1": "old@acme.com"}
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-2", ldjson(_user("new@acme.com")))["status"] == "DONE"
    assert emulator_client.entities("BUSINESS_USER")["rep1"]["emailAddress"] == "new@acme.com"
    assert emulator_client.user_emails() == {"rep1": "old@acme.com"}


def test_delete_then_separate_upsert_re_associates_the_email(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    gong_api.upload_and_wait("BUSINESS_USER", "u-1", ldjson(_user("old@acme.com")))
    deleted = {"objectId": "rep1", "modifiedDate": MODIFIED, "isDeleted": True}
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-2", ldjson(deleted))["status"] == "DONE"
    assert emulator_client.user_emails() == {}
    assert gong_api.upload_and_wait("BUSINESS_USER", "u-3", ldjson(_user("new@acme.com")))["status"] == "DONE"
    assert emulator_client.user_emails() == {"rep1": "new@acme.com"}
    emulator_client.reset()
    assert emulator_client.user_emails() == {}

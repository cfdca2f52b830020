"""Normalization and validation rules of the staging library, value by value and record by record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.normalize import (
    FieldError,
    normalize_boolean,
    normalize_date,
    normalize_datetime,
    normalize_deal_status,
    normalize_email,
    normalize_integer,
    normalize_number,
    normalize_object_id,
    normalize_string_list,
    normalize_url,
    zone,
)
from gong_provider.staging.specs import SPECS, Kind
from gong_provider.staging.validator import RecordValidator

UTC = dt.timezone.utc
PARIS = zone("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2019-01-03T23:45:57Z", UTC, "2019-01-03T23:45:57Z"),
        ("2019-01-03T23:45:57+01:00", UTC, "2019-01-03T23:45:57+01:00"),
        ("2019-01-03T23:45:57-05:30", UTC, "2019-01-03T23:45:57-05:30"),
        ("2022-02-04T17:57:23.000Z", UTC, "2022-02-04T17:57:23Z"),
        ("2022-02-04T17:57:23.987654+02:00", UTC, "2022-02-04T17:57:23+02:00"),
        ("2022-02-04T17:57:23+0200", UTC, "2022-02-04T17:57:23+02:00"),
        ("2026-01-18 05:52:00", UTC, "2026-01-18T05:52:00Z"),
        ("2026-01-18 05:52", UTC, "2026-01-18T05:52:00Z"),
        ("2026-01-18T05:52:00", PARIS, "2026-01-18T05:52:00+01:00"),
        ("2026-07-18T05:52:00", PARIS, "2026-07-18T05:52:00+02:00"),
        ("2026-01-18", UTC, "2026-01-18T00:00:00Z"),
        ("  2026-01-18T05:52:00Z ", UTC, "2026-01-18T05:52:00Z"),
        (1700000000, UTC, "2023-11-14T22:13:20Z"),
        (1700000000.9, UTC, "2023-11-14T22:13:20Z"),
        ("1700000000", UTC, "2023-11-14T22:13:20Z"),
        (Decimal("1700000000"), UTC, "2023-11-14T22:13:20Z"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), UTC, "2026-01-02T03:04:05Z"),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
            UTC,
            "2026-01-02T03:04:05-03:00",
        ),
        (dt.datetime(2026, 1, 2, 3, 4, 5), PARIS, "2026-01-02T03:04:05+01:00"),
        (dt.date(2026, 1, 2), UTC, "2026-01-02T00:00:00Z"),
    ],
)
def test_datetimes_become_iso_8601_without_milliseconds(value: Any, tz: dt.tzinfo, expected: str) -> None:
    assert normalize_datetime(value, tz) == expected


@pytest.mark.parametrize(
    "value",
    [
        "not a date",
        "01/02/2026",
        "2026-02-30T10:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-01-01T25:00:00Z",
        "2026",
        "",
        True,
        1700000000000,  # epoch milliseconds: rejected, never read as the year 55826
        -5,
        float("nan"),
        ["2026-01-01"],
        {"date": "2026-01-01"},
    ],
)
def test_values_that_are_not_datetimes_are_rejected(value: Any) -> None:
    with pytest.raises(FieldError):
        normalize_datetime(value, UTC)


def test_epoch_milliseconds_get_a_hint() -> None:
    with pytest.raises(FieldError, match="milliseconds"):
        normalize_datetime(1700000000000, UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-09-04", "2022-09-04"),
        ("2022-09-04T00:00:00Z", "2022-09-04"),
        ("2022-09-04 23:30:00", "2022-09-04"),
        (dt.date(2022, 9, 4), "2022-09-04"),
        (dt.datetime(2022, 9, 4, 12, 0), "2022-09-04"),
    ],
)
def test_close_dates_become_plain_dates(value: Any, expected: str) -> None:
    assert normalize_date(value, UTC) == expected


@pytest.mark.parametrize("value", ["2022-02-30", "04/09/2022", 20220904, "soon"])
def test_close_dates_that_are_not_dates_are_rejected(value: Any) -> None:
    with pytest.raises(FieldError):
        normalize_date(value, UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        (" True ", True),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
    ],
)
def test_booleans_from_text_and_numbers(value: Any, expected: bool) -> None:
    assert normalize_boolean(value) is expected


@pytest.mark.parametrize("value", ["yes", "no", "Y", "", 2, 1.0, None, "maybe"])
def test_ambiguous_booleans_are_rejected(value: Any) -> None:
    with pytest.raises(FieldError, match="boolean"):
        normalize_boolean(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7000", 7000),
        ("12500.50", 12500.5),
        (" -3 ", -3),
        ("1e3", 1000.0),
        (7000, 7000),
        (1.5, 1.5),
        (Decimal("42"), 42),
        (Decimal("4.25"), 4.25),
    ],
)
def test_numbers_from_text(value: Any, expected: float) -> None:
    got = normalize_number(value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize("value", ["7k", "1,000", "$5", "", "NaN", "inf", True, float("inf"), [1]])
def test_text_that_is_not_plainly_a_number_is_rejected(value: Any) -> None:
    with pytest.raises(FieldError):
        normalize_number(value)


def test_integers_refuse_fractions() -> None:
    assert normalize_integer("3") == 3
    assert normalize_integer(3.0) == 3
    with pytest.raises(FieldError, match="whole"):
        normalize_integer("1.5")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.com, b.com", ["a.com", "b.com"]),
        ("a.com", ["a.com"]),
        (["a.com", " b.com "], ["a.com", "b.com"]),
        (",,", []),
    ],
)
def test_domains_from_comma_separated_text(value: Any, expected: list[str]) -> None:
    assert normalize_string_list(value) == expected


def test_domains_must_be_strings() -> None:
    with pytest.raises(FieldError):
        normalize_string_list(["a.com", 5])
    with pytest.raises(FieldError):
        normalize_string_list(5)


@pytest.mark.parametrize("value", ["a" * 64, "003A1_x-9", "john.doe@acme.com", "user1_Id_In_The_CRM", 42])
def test_valid_object_ids(value: Any) -> None:
    assert normalize_object_id(value) == str(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 65, "longer than 64"),
        ("acc/2", "letters, digits"),
        ("acc#2", "letters"),
        ("acc 2", "letters"),
        ("", "letters"),
        (1.5, "string"),
        (True, "string"),
    ],
)
def test_invalid_object_ids(value: Any, reason: str) -> None:
    with pytest.raises(FieldError, match=reason):
        normalize_object_id(value)


def test_email_and_url_shapes() -> None:
    assert normalize_email("john.smith@acme.com") == "john.smith@acme.com"
    assert normalize_url("https://crm.com/contacts/5zbwd7n5n65") == "https://crm.com/contacts/5zbwd7n5n65"
    assert normalize_url("http://crm.com") == "http://crm.com"
    for bad in ("john", "john@", "@acme.com", "john@acme", "a b@c.com", "a@b@c.com"):
        with pytest.raises(FieldError, match="email"):
            normalize_email(bad)
    for bad in ("crm.com/x", "ftp://crm.com", "https://", "https://a b.com", "javascript:alert(1)"):
        with pytest.raises(FieldError, match="URL"):
            normalize_url(bad)


def test_deal_status() -> None:
    assert normalize_deal_status("OPEN") == "OPEN"
    assert normalize_deal_status(" won ") == "WON"
    with pytest.raises(FieldError, match="OPEN, WON or LOST"):
        normalize_deal_status("CLOSED_WON")


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="time zone"):
        zone("Mars/Olympus")


# ----------------------------------------------------------------------------- records

BASE = {"objectId": "x-1", "modifiedDate": "2026-01-01T00:00:00Z"}


def check(
    object_type: str, record: dict[str, Any], **options: Any
) -> tuple[dict[str, Any] | None, list[str]]:
    checked = RecordValidator(object_type, **options).check(record)
    return checked.record, [str(reason) for reason in checked.reasons]


def test_the_spec_table_covers_the_six_types_with_their_mandatory_fields() -> None:
    assert set(SPECS) == set(ObjectType)
    for object_type, spec in SPECS.items():
        assert spec.fields["objectId"].mandatory
        if object_type is ObjectType.STAGE:
            assert spec.mandatory == ("objectId", "name")
        else:
            assert spec.mandatory == ("objectId", "modifiedDate")
    assert SPECS[ObjectType.DEAL].fields["status"].default == "OPEN"
    assert SPECS[ObjectType.DEAL].fields["closeDate"].kind is Kind.DATE
    assert SPECS[ObjectType.STAGE].fields["isActive"].default is True
    assert SPECS[ObjectType.BUSINESS_USER].fields["emailAddress"].mandatory_unless_deleted


@pytest.mark.parametrize("object_type", [t.value for t in ObjectType if t is not ObjectType.STAGE])
def test_object_id_and_modified_date_are_mandatory(object_type: str) -> None:
    record, reasons = check(object_type, {"url": "https://crm.example/x"})
    assert record is None
    assert "objectId: missing (mandatory)" in reasons
    assert "modifiedDate: missing (mandatory)" in reasons


def test_stage_needs_a_name_but_no_modified_date() -> None:
    assert check("STAGE", {"objectId": "won", "name": "Won", "isActive": "true", "sortOrder": "5"})[0] == {
        "objectId": "won",
        "name": "Won",
        "isActive": True,
        "sortOrder": 5,
    }
    assert check("STAGE", {"objectId": "won"})[1] == ["name: missing (mandatory)"]


def test_business_user_email_is_mandatory_unless_deleted() -> None:
    assert check("BUSINESS_USER", BASE)[1] == ["emailAddress: missing (mandatory unless isDeleted is true)"]
    assert check("BUSINESS_USER", {**BASE, "isDeleted": True})[0] == {**BASE, "isDeleted": True}
    assert check("BUSINESS_USER", {**BASE, "isDeleted": "false"})[0] is None


def test_every_reason_is_listed_with_its_field() -> None:
    record, reasons = check(
        "DEAL", {"objectId": "d/1", "modifiedDate": "yesterday", "status": "CLOSED_WON", "amount": "7k"}
    )
    assert record is None
    assert [reason.split(":")[0] for reason in reasons] == ["objectId", "modifiedDate", "status", "amount"]


def test_empty_strings_and_nulls_are_left_out() -> None:
    record, _ = check(
        "DEAL",
        {**BASE, "name": "", "amount": "  ", "closeDate": " ", "stage": None, "custom": "", "title": " "},
    )
    assert record == {**BASE, "title": " "}  # blank plain text is sent as is: it does not change meaning


def test_custom_fields_pass_through_without_a_schema() -> None:
    record, _ = check(
        "ACCOUNT", {**BASE, "type": "Investor", "score": 3, "tags": ["a"], "when": dt.date(2026, 1, 2)}
    )
    assert record == {**BASE, "type": "Investor", "score": 3, "tags": ["a"], "when": "2026-01-02"}


def test_custom_fields_are_checked_against_the_entity_schema() -> None:
    schema = [
        CustomField("custom_field_1", "C1", "DATETIME"),
        CustomField("tier", "Tier", "PICKLIST", ordered_value_list=["Gold", "Silver"]),
        CustomField("score", "Score", "NUMBER"),
        CustomField("old", "Old", "STRING", is_deleted=True),
    ]
    record, reasons = check(
        "DEAL",
        {**BASE, "custom_field_1": "2022-02-04T17:57:23.000Z", "tier": "Gold", "score": "12"},
        custom_fields=schema,
    )
    assert reasons == []
    assert record == {**BASE, "custom_field_1": "2022-02-04T17:57:23Z", "tier": "Gold", "score": 12}
    record, reasons = check(
        "DEAL", {**BASE, "tier": "Bronze", "score": "many", "old": "x", "other": 1}, custom_fields=schema
    )
    assert record is None
    fields = [reason.split(":")[0] for reason in reasons]
    assert fields == ["tier", "score", "old", "other"]
    assert "entity schema" in reasons[-1]


def test_a_record_of_another_type_is_rejected_and_the_type_key_is_not_sent() -> None:
    assert check("CONTACT", {**BASE, "objectType": "CONTACT"})[0] == BASE
    record, reasons = check("CONTACT", {**BASE, "objectType": "ACCOUNT"})
    assert record is None
    assert reasons[0].startswith("objectType: the record is of type ACCOUNT")


def test_mapping_renames_columns() -> None:
    record, _ = check(
        "CONTACT",
        {"Id": "c-1", "LastModified": "2026-01-01 10:00", "Email": "a@b.co"},
        mapping={"Id": "objectId", "LastModified": "modifiedDate", "Email": "emailAddress"},
    )
    assert record == {"objectId": "c-1", "modifiedDate": "2026-01-01T10:00:00Z", "emailAddress": "a@b.co"}
    _, reasons = check("CONTACT", {**BASE, "Id": "c-2"}, mapping={"Id": "objectId"})
    assert reasons == ["objectId: given twice (check the column mapping)"]


def test_naive_values_are_read_in_the_configured_time_zone() -> None:
    record, _ = check(
        "CONTACT", {"objectId": "c", "modifiedDate": "2026-07-01 12:00:00"}, timezone="America/New_York"
    )
    assert record == {"objectId": "c", "modifiedDate": "2026-07-01T12:00:00-04:00"}

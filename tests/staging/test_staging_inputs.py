"""Sources and malformed input: every bad line is rejected with its file and line, never a traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.exceptions import GongStagingError
from gong_provider.staging import GongSourceError, validate
from gong_provider.staging.readers import read_file

DATA = Path(__file__).parents[1] / "data" / "staging"
GOOD = b'{"objectId": "c-%d", "modifiedDate": "2026-01-01T00:00:00Z"}'


def good(n: int) -> bytes:
    return GOOD % n


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def rejects_of(
    source: Any, object_type: str = "CONTACT", **options: Any
) -> tuple[int, int, list[tuple[Any, str]]]:
    report = validate(source, object_type=object_type, **options)
    found = [(r.line if r.line is not None else r.record, str(r)) for r in report.first_rejects]
    return report.records_read, report.records_valid, found


def test_bom_is_skipped_crlf_accepted_blank_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", b"\xef\xbb\xbf" + good(1) + b"\r\n\r\n   \r\n" + good(2) + b"\r\n\n")
    assert rejects_of(path) == (2, 2, [])
    records = list(read_file(path))
    assert [r.line for r in records] == [1, 4]  # blank lines still count as lines


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            b'{"objectId": "d-1", "modifiedDate": "2022-02-04T18:24:59Z", "status": OPEN}',
            'the value OPEN needs quotes: "OPEN"',
        ),
        (  # the position is counted in characters, after a two-byte "ü"
            b'{"objectId": "d-1", "name": "M\xc3\xbcller", "status": OPEN}',
            'the value OPEN needs quotes: "OPEN"',
        ),
        (b'{"objectId": "c-2", "modifiedDate": "2026-01-01T00:00:00Z"', "invalid JSON"),
        (b'["c-2"]', "expected a JSON object, got an array"),
        (b"42", "expected a JSON object, got a number"),
        (b'"text"', "expected a JSON object, got a string"),
        (b"null", "expected a JSON object, got null"),
        (b'{"objectId": "c\x002"}', "NUL byte"),
        (b'{"objectId": "M\xfcller", "modifiedDate": "2026-01-01T00:00:00Z"}', "not valid UTF-8"),
    ],
)
def test_a_malformed_json_line_is_rejected_and_the_rest_staged(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    path = write(tmp_path, "c.jsonl", good(1) + b"\n" + line + b"\n" + good(3) + b"\n")
    read, valid, rejects = rejects_of(path)
    assert (read, valid) == (3, 2)
    assert len(rejects) == 1
    assert rejects[0][0] == 2
    assert reason in rejects[0][1]
    assert "c.jsonl, line 2" in rejects[0][1]


def test_a_huge_line_is_rejected_without_holding_it(tmp_path: Path) -> None:
    huge = b'{"objectId": "c-2", "notes": "' + b"x" * 300_000 + b'"}'
    path = write(tmp_path, "c.jsonl", good(1) + b"\n" + huge + b"\n" + good(3) + b"\n" + huge)
    read, valid, rejects = rejects_of(path, max_line_bytes=100_000)
    assert (read, valid) == (4, 2)
    assert [line for line, _ in rejects] == [2, 4]
    assert "longer than 100000 bytes" in rejects[0][1]
    assert "objectId c-2" in rejects[0][1]


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(good(1) + b"\n" + good(2) + b"\n")
    assert rejects_of(str(path)) == (2, 2, [])
    assert rejects_of(str(DATA / "deals.jsonl.gz"), "DEAL")[:2] == (3, 2)


def test_an_empty_file_has_nothing_to_stage(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv", "e.json"):
        assert rejects_of(write(tmp_path, name, b"")) == (0, 0, [])


def test_csv_values_are_typed_and_mapped() -> None:
    report = validate(
        str(DATA / "contacts_crm_export.csv"),
        object_type="CONTACT",
        mapping={
            "Id": "objectId",
            "Email": "emailAddress",
            "First Name": "firstName",
            "Last Name": "lastName",
            "Account": "accountId",
            "LastModified": "modifiedDate",
            "Deleted": "isDeleted",
            "Phone": "phoneNumber",
        },
    )
    assert (report.records_read, report.records_valid, report.records_rejected) == (4, 4, 0)
    assert report.generations == 2  # 003A1 twice


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b"c-2,2026-01-01\r\n", "ragged CSV row: 2 values, the header has 3 columns"),
        (b"c-2,2026-01-01,Ada,extra\r\n", "ragged CSV row: 4 values"),
        (b"c-2,2026-01-01,A\x00da\r\n", "NUL byte"),
        (b"c-2,2026-01-01,M\xfcller\r\n", "not valid UTF-8"),
        (b"c/2,2026-01-01,Ada\r\n", "objectId: 'c/2' may hold only"),
    ],
)
def test_a_bad_csv_row_is_rejected_with_its_line(tmp_path: Path, row: bytes, reason: str) -> None:
    data = b"objectId,modifiedDate,firstName\r\nc-1,2026-01-01,Ada\r\n" + row + b"c-3,2026-01-01,Alan\r\n"
    read, valid, rejects = rejects_of(write(tmp_path, "c.csv", data))
    assert (read, valid) == (3, 2)
    assert rejects[0][0] == 3
    assert reason in rejects[0][1]
    assert "c.csv, line 3" in rejects[0][1]


def test_csv_rows_spanning_lines_keep_their_first_line(tmp_path: Path) -> None:
    data = b'objectId,modifiedDate,title\n\nc-1,2026-01-01,"two\nlines"\n\nc/2,2026-01-01,x\n'
    read, valid, rejects = rejects_of(write(tmp_path, "c.csv", data))
    assert (read, valid) == (2, 1)
    assert rejects[0][0] == 6


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'objectId,modifiedDate\nc-1,"2026-01-01\nc-2,2026-01-01\n',
            r"line 2: malformed CSV: .* \(a quote opened on this line is never closed\)",
        ),
        (b"objectId,name,name\nc-1,a,b\n", "names column 'name' twice"),
        (b"objectId,,x\nc-1,a,b\n", "empty column name"),
        (b"Id,modifiedDate\nc-1,2026-01-01\n", "no objectId column"),
    ],
)
def test_an_unusable_csv_is_a_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(GongSourceError, match=message) as raised:
        validate(write(tmp_path, "c.csv", data), object_type="CONTACT")
    assert "c.csv" in str(raised.value)


def test_a_stray_quote_is_not_called_an_unclosed_one(tmp_path: Path) -> None:
    data = b'objectId,modifiedDate\nc-1,"2026-01-01"x\nc-2,2026-01-01\n'
    with pytest.raises(GongSourceError, match="line 2: malformed CSV") as raised:
        validate(write(tmp_path, "c.csv", data), object_type="CONTACT")
    assert "never closed" not in str(raised.value)


def test_json_arrays_pretty_or_minified(tmp_path: Path) -> None:
    report = validate(str(DATA / "accounts.json"), object_type="ACCOUNT")
    assert (report.records_read, report.records_valid) == (2, 2)
    minified = b"[" + b",".join(good(n) for n in range(5)) + b"]"
    assert rejects_of(write(tmp_path, "m.json", minified)) == (5, 5, [])
    tricky = b'[{"objectId": "c-1", "modifiedDate": "2026-01-01T00:00:00Z", "title": "a, [b] {c} \\" d"}]'
    assert rejects_of(write(tmp_path, "t.json", tricky)) == (1, 1, [])


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"[\n" + GOOD % 1 + b",\n 5,\n" + GOOD % 3 + b"\n]", 3, "expected a JSON object, got a number"),
        (b"[\n" + GOOD % 1 + b",\n" + GOOD % 2 + b",\n]", 4, "empty array item"),
        (
            b"[\n" + GOOD % 1 + b',\n{"objectId": "c-2", "status": OPEN},\n' + GOOD % 3 + b"\n]",
            3,
            "needs quotes",
        ),
        (b"[\n" + GOOD % 1 + b",\n" + GOOD % 2, 3, "not closed"),
        (b"[\n" + GOOD % 1 + b"]\n]", 2, "after the JSON array"),
    ],
)
def test_bad_json_array_items_are_rejected_one_by_one(
    tmp_path: Path, data: bytes, line: int, reason: str
) -> None:
    _, valid, rejects = rejects_of(write(tmp_path, "a.json", data))
    assert valid >= 1
    assert rejects[0][0] == line, rejects
    assert reason in rejects[0][1]


def test_a_json_file_with_one_big_object_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", b'{\n  "records": []\n}\n')
    with pytest.raises(GongStagingError, match="JSON array"):
        validate(path, object_type="ACCOUNT")


@pytest.mark.parametrize("name", ["c.jsonl.gz", "c.csv.gz"])
def test_a_corrupt_gzip_is_a_clear_error_on_every_path(tmp_path: Path, name: str) -> None:
    """The format sniffing reads the head first: its zlib error must be a GongSourceError too."""
    path = tmp_path / name
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    with pytest.raises(GongSourceError, match=f"cannot read .*{name}"):
        validate(str(path), object_type="CONTACT")
    with pytest.raises(GongSourceError, match=f"cannot read .*{name}"):
        validate(str(path), object_type="CONTACT", mapping={"id": "objectId"})  # the per-record path


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GongSourceError, match="not found"):
        validate(str(tmp_path / "nope.jsonl"), object_type="CONTACT")


def test_iterables_of_records(tmp_path: Path) -> None:
    records: list[Any] = [
        json.loads(good(1)),
        "not a record",
        {"objectId": "c-2", "modifiedDate": 1700000000},
    ]
    read, valid, rejects = rejects_of(iter(records))
    assert (read, valid) == (3, 2)
    assert rejects == [(2, "records, record 2: expected a mapping, got str")]


def test_object_storage_paths_are_read(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(f"file://{tmp_path}/c.jsonl")
    path.write_bytes(good(1) + b"\n")
    assert rejects_of(path) == (1, 1, [])

"""The bad-input corpus: every malformed input gets a clear error or a documented normalization.

The cases live in ``tests/data/bad_inputs/cases.json`` (one row per input: file, object type, layer,
expected outcome, the rejected lines with their objectId and field, the objectIds that must reach
Gong, the normalized values). ``tests/data/bad_inputs/README.md`` is that table rendered for users;
a test keeps the two in step (``GONG_UPDATE_BAD_INPUTS_TABLE=1`` rewrites the README).

For each staging case the test checks, against the real staging library and the emulator:
- what the user sees (the exception text and the ``gong-provider validate`` output) is a few lines,
  names the file and the line, and is not a traceback;
- the rejects file says line, objectId and field of every bad record;
- staging with rejects tolerated writes exactly the valid records, normalized as documented, and the
  emulator (strict as Gong) processes the staged files as DONE, storing those records and no other.
Generated cases (a 10 MB line, a 250 MB file) are written at test time into ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongApiError, GongError, GongPayloadTooLargeError, GongStagingError
from gong_provider.limits import MAX_UPLOAD_FILE_BYTES
from gong_provider.models import CustomField, RequestState
from tests.support.gong_tasks import as_utc

CORPUS = Path(__file__).parents[1] / "data" / "bad_inputs"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
BY_ID = {case["id"]: case for case in CASES}
STAGING_CASES = [case for case in CASES if case["layer"] == "staging" and "file" in case]
UPLOADABLE_CASES = [case for case in STAGING_CASES if case.get("staged")]
HOOK_CASES = [case for case in CASES if case["layer"] == "hook"]

MAX_MESSAGE_LINES = 12
""""One or a few lines": a summary and the first rejects, never a dump."""
POLL_TIMEOUT = 30.0


def case_params(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in cases]


# ----------------------------------------------------------------------------- helpers


def mentions_line(text: str, line: int) -> bool:
    """``line 3``, ``lines 3``, ``line=3``, ``:3`` after a file name, or ``row 3`` all count."""
    pattern = (
        rf"(?:\blines?\b[ =:#]*(?:\d+\s*(?:,|and|-)\s*)*{line}\b|\.\w+:{line}\b|\brows?\b[ =:#]*{line}\b)"
    )
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def assert_user_message(text: str, *, file_name: str | None = None, line: int | None = None) -> None:
    """A message a user can act on: short, not a traceback, naming the file and the line."""
    assert text.strip(), "empty message"
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) <= MAX_MESSAGE_LINES, f"{len(lines)} lines:\n{text}"
    if file_name is not None:
        assert file_name in text, f"{file_name!r} not named in:\n{text}"
    if line is not None:
        assert mentions_line(text, line), f"line {line} not named in:\n{text}"


def custom_fields(case: dict[str, Any]) -> list[CustomField] | None:
    fields = case.get("custom_fields")
    return [CustomField(**field) for field in fields] if fields else None


def stage_case(
    case: dict[str, Any], source: Path, out_dir: Path, *, max_reject_ratio: float = 0.0, **options: Any
) -> Any:
    from gong_provider.staging import stage

    return stage(
        str(source),
        object_type=case["object_type"],
        out_dir=str(out_dir),
        max_reject_ratio=max_reject_ratio,
        custom_fields=custom_fields(case),
        **options,
    )


def read_ldjson(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def staged_records(manifest: Any) -> list[list[dict[str, Any]]]:
    """Records of each generation, in upload order."""
    return [
        [record for staged in generation for record in read_ldjson(staged.path)]
        for generation in manifest.generations
    ]


def rejects_of(manifest_dir: Path) -> list[dict[str, Any]]:
    """Every rejects.ldjson written under ``manifest_dir``."""
    return [entry for path in sorted(manifest_dir.rglob("rejects.ldjson")) for entry in read_ldjson(path)]


def reject_text(entry: dict[str, Any]) -> str:
    """Everything a reject says about why (its reasons, whatever their shape)."""
    return json.dumps({k: v for k, v in entry.items() if k not in ("source", "line", "objectId")})


def data_files(out_dir: Path) -> list[Path]:
    """Staged LDJSON data files (not sidecars, not rejects)."""
    return [
        path
        for path in out_dir.rglob("*.ldjson")
        if not path.name.endswith(".sources.ldjson") and path.name != "rejects.ldjson"
    ]


def assert_gong_datetime(value: Any) -> None:
    """Gong's form: seconds precision, ``Z`` or ``+HH:MM``."""
    assert isinstance(value, str)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})", value), value


def assert_normalized(
    case: dict[str, Any], records: dict[str, dict[str, Any]], *, only: set[str] | None = None
) -> None:
    """The documented normalized values (``only``: check just these objectIds, e.g. those not deleted)."""
    for object_id, fields in (case.get("normalized") or {}).items():
        if only is not None and object_id not in only:
            continue
        assert object_id in records, f"{object_id} not staged"
        for name, expected in fields.items():
            got = records[object_id].get(name)
            if name in ("modifiedDate", "createdDate") or (
                isinstance(expected, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", expected)
            ):
                assert_gong_datetime(got)
                assert as_utc(got) == as_utc(expected), f"{object_id}.{name}: {got!r} != {expected!r}"
                if not expected.endswith("Z"):  # an explicit offset is kept, not converted
                    assert got == expected, f"{object_id}.{name}: {got!r} != {expected!r}"
            else:
                assert got == expected, f"{object_id}.{name}: {got!r} != {expected!r}"
                assert type(got) is type(expected), f"{object_id}.{name}: {got!r}"


# ----------------------------------------------------------------------------- the table itself


ISSUE_CASES = {
    "invalid JSON (the docs' status: OPEN)": ["jsonl-docs-status-unquoted", "json-docs-status-unquoted"],
    "truncated last line": ["jsonl-truncated-last-line"],
    "BOM": ["jsonl-bom", "csv-bom", "json-bom"],
    "CRLF": ["jsonl-crlf", "csv-crlf"],
    "NUL bytes": ["jsonl-nul-byte", "csv-nul-byte"],
    "non-UTF-8": ["jsonl-non-utf8", "csv-cp1252", "json-non-utf8"],
    "a 10 MB line": ["jsonl-huge-line"],
    "an array in place of an object": ["jsonl-array-line"],
    "missing objectId": ["jsonl-missing-object-id"],
    "objectId of 65 characters": ["jsonl-object-id-65"],
    "objectId with /, # or spaces": [
        "jsonl-object-id-slash",
        "jsonl-object-id-hash",
        "jsonl-object-id-space",
    ],
    "modifiedDate with milliseconds, naive, not a date": [
        "jsonl-modified-ms",
        "jsonl-modified-naive",
        "jsonl-modified-not-a-date",
    ],
    "deal status CLOSED_WON": ["jsonl-deal-status-closed-won"],
    'amount "7k"': ["jsonl-amount-7k", "csv-amount-text"],
    'isDeleted: "yes"': ["jsonl-is-deleted-yes"],
    "mixed object types in one file": ["jsonl-mixed-object-types"],
    "duplicate objectIds": ["jsonl-duplicate-object-ids"],
    "integrationId given as a float": ["hook-integration-id-float", "operator-integration-id-float"],
    "a clientRequestId with ':'": ["hook-client-request-id-colon", "operator-client-request-id-colon"],
    "an empty file": ["jsonl-empty", "csv-empty", "json-empty"],
    "a 250 MB file": ["jsonl-250mb-file"],
    "a CSV with a ragged row": ["csv-ragged-long-row", "csv-ragged-short-row"],
    "blank lines": ["jsonl-blank-lines", "csv-blank-lines"],
}


def test_the_corpus_covers_every_case_of_the_issue_in_all_three_formats() -> None:
    assert len({case["id"] for case in CASES}) == len(CASES), "duplicate case ids"
    assert len(CASES) >= 30
    for what, ids in ISSUE_CASES.items():
        for case_id in ids:
            assert case_id in BY_ID, f"{what}: no case {case_id}"
    formats = {case["format"] for case in STAGING_CASES}
    assert formats == {"csv", "jsonl", "json"}


def test_every_corpus_file_belongs_to_exactly_one_case() -> None:
    on_disk = {
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.is_file() and path.suffix in (".csv", ".jsonl", ".json") and path.name != "cases.json"
    }
    referenced = [case["file"] for case in CASES if "file" in case]
    assert sorted(referenced) == sorted(on_disk)


def render_table(cases: list[dict[str, Any]]) -> str:
    """The README table: every case and what the user sees."""
    rows = [
        "# Bad-input corpus",
        "",
        "Generated from `cases.json` by `tests/reliability/test_bad_inputs.py` "
        "(`GONG_UPDATE_BAD_INPUTS_TABLE=1 pytest tests/reliability/test_bad_inputs.py -k table` "
        "rewrites it).",
        "Every rejected record is also written to `rejects.ldjson` with its source, line, objectId "
        "and reasons; a type with rejects fails unless `max_reject_ratio` allows them, and then only "
        "the valid records are uploaded.",
        "",
        "| # | input | format | where | outcome | what the user sees |",
        "|---|---|---|---|---|---|",
    ]
    for number, case in enumerate(cases, start=1):
        where = case.get("file") or ("generated at test time" if case["layer"] == "staging" else "")
        where = f"`{where}`" if case.get("file") else where
        layer = {"staging": "staging", "hook": "hook", "operator": "operator"}[case["layer"]]
        fmt = case.get("format", "-") if case["layer"] == "staging" else "-"
        rows.append(
            f"| {number} | {case['input']} | {fmt} | {layer}: {where or case['object_type']} "
            f"| {case['outcome']} | {case['user_sees']} |"
        )
    return "\n".join(rows) + "\n"


def test_readme_table_lists_every_case() -> None:
    readme = CORPUS / "README.md"
    table = render_table(CASES)
    if os.environ.get("GONG_UPDATE_BAD_INPUTS_TABLE"):
        readme.write_text(table, encoding="utf-8")
    assert readme.read_text(encoding="utf-8") == table


# ----------------------------------------------------------------------------- generated inputs

HUGE_LINE_BYTES = 10 * 1024 * 1024
BIG_FILE_BYTES = 250 * 1024 * 1024


def account_line(index: int, **fields: Any) -> bytes:
    record = {"objectId": f"acc-{index}", "modifiedDate": "2024-05-01T10:00:00Z", "name": f"Account {index}"}
    record.update(fields)
    return json.dumps(record).encode() + b"\n"


def write_huge_line_file(path: Path) -> Path:
    """Three records, the second one 10 MB long (one field of 10 MB)."""
    with path.open("wb") as handle:
        handle.write(account_line(1))
        handle.write(account_line(2, notes="x" * HUGE_LINE_BYTES))
        handle.write(account_line(3))
    return path


def write_big_file(path: Path, size: int = BIG_FILE_BYTES) -> int:
    """Valid JSON Lines of at least ``size`` bytes, written in large blocks; returns the record count."""
    padding = "p" * 4000
    records = 0
    written = 0
    block: list[bytes] = []
    with path.open("wb") as handle:
        while written < size:
            line = account_line(records + 1, notes=padding)
            block.append(line)
            written += len(line)
            records += 1
            if len(block) == 2048:
                handle.write(b"".join(block))
                block.clear()
        handle.write(b"".join(block))
    return records


def source_of(case: dict[str, Any], tmp_path: Path) -> Path:
    if "file" in case:
        return CORPUS / case["file"]
    if case.get("generate") == "huge_line":
        return write_huge_line_file(tmp_path / "accounts_huge_line.jsonl")
    raise AssertionError(f"no source for {case['id']}")


# ----------------------------------------------------------------------------- staging cases


@pytest.mark.parametrize("case", case_params([*STAGING_CASES, BY_ID["jsonl-huge-line"]]))
def test_staging_gives_a_clear_error_or_the_documented_normalization(
    case: dict[str, Any], tmp_path: Path
) -> None:
    source = source_of(case, tmp_path)
    strict_dir, tolerant_dir = tmp_path / "strict", tmp_path / "tolerant"
    outcome = case["outcome"]
    rejects = case.get("rejects") or []

    if outcome in ("rejected", "error"):
        with pytest.raises(GongStagingError) as raised:
            stage_case(case, source, strict_dir)
        first_line = rejects[0]["line"] if rejects else None
        assert_user_message(str(raised.value), file_name=source.name, line=first_line)
        for mention in case.get("mentions") or []:
            assert mention.lower() in str(raised.value).lower(), (mention, str(raised.value))
    if outcome == "error":
        assert data_files(strict_dir) == [] if strict_dir.exists() else True
        return

    manifest = stage_case(case, source, tolerant_dir, max_reject_ratio=1.0)
    found = rejects_of(tolerant_dir)
    assert manifest.records_rejected == len(rejects), found
    assert len(found) == len(rejects), found
    for expected, entry in zip(rejects, sorted(found, key=lambda e: e.get("line") or 0), strict=True):
        assert entry.get("line") == expected["line"], entry
        assert source.name in str(entry.get("source")), entry
        if expected["objectId"] is not None:
            assert entry.get("objectId") == expected["objectId"], entry
        if expected["field"] is not None:
            assert expected["field"] in reject_text(entry), entry

    generations = staged_records(manifest)
    flat = [record for generation in generations for record in generation]
    latest = {record["objectId"]: record for record in flat}
    assert set(latest) == set(case.get("staged") or []), sorted(latest)
    if case.get("generations") is not None:
        assert len(generations) == case["generations"]
    for generation in generations:  # Gong: never the same objectId twice in one file
        ids = [record["objectId"] for record in generation]
        assert len(ids) == len(set(ids))
    assert manifest.records_staged == len(flat)
    assert_normalized(case, latest)
    if outcome == "empty":
        assert manifest.files == []
        assert data_files(tolerant_dir) == []


@pytest.mark.parametrize("case", case_params(STAGING_CASES))
def test_validate_command_shows_a_short_clear_summary(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user running ``gong-provider validate FILE --type T`` reads: no traceback, file and line."""
    from gong_provider.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal, so rich does not fold names
    source = CORPUS / case["file"]
    try:
        code = main(["validate", str(source), "--type", case["object_type"]])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output, output
    if case["outcome"] in ("rejected", "error"):
        assert code != 0, output
        rejects = case.get("rejects") or []
        text = " ".join(output.split())  # table cells may wrap
        assert source.name in text or source.name in output, output
        if rejects:
            assert mentions_line(text, rejects[0]["line"]) or re.search(
                rf"(^|\D){rejects[0]['line']}(\D|$)", text
            ), output
    else:
        assert code == 0, output


# ----------------------------------------------------------------------------- staged output meets Gong


def wait_terminal(hook: Any, integration_id: int, client_request_id: str) -> Any:
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        status = hook.get_request_status(integration_id, client_request_id)
        if status.status.is_terminal:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{client_request_id} still {status.status} after {POLL_TIMEOUT} s")
        time.sleep(0.05)


@pytest.fixture
def hook(gong_connection_env: str) -> Iterator[Any]:
    from gong_provider.hooks.gong import GongCrmHook

    with GongCrmHook(gong_connection_env, calls_per_second=0, max_retries=0) as gong_hook:
        yield gong_hook


@pytest.mark.parametrize("case", case_params(UPLOADABLE_CASES))
def test_gong_accepts_exactly_the_staged_records(
    case: dict[str, Any],
    tmp_path: Path,
    hook: Any,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
) -> None:
    """Uploading what staging kept: Gong (the strict emulator) says DONE and stores those records only."""
    object_type = case["object_type"]
    if case.get("custom_fields"):
        hook.set_entity_schema(emulator.integration_id, object_type, custom_fields(case) or [])
    manifest = stage_case(case, CORPUS / case["file"], tmp_path / "out", max_reject_ratio=1.0)
    uploads = 0
    for number, generation in enumerate(manifest.generations):
        for staged in generation:
            client_request_id = f"bad-inputs-{number}-{staged.part}"
            result = hook.upload_entities(
                emulator.integration_id, object_type, client_request_id, staged.path
            )
            assert not result.already_accepted
            uploads += 1
            status = wait_terminal(hook, emulator.integration_id, client_request_id)
            assert status.status is RequestState.DONE, status
            assert status.total_error_count == 0
            assert status.total_success_count == staged.records
    latest = {record["objectId"]: record for generation in staged_records(manifest) for record in generation}
    assert set(latest) == set(case["staged"])
    stored = emulator_client.entities(object_type)
    assert set(stored) == {
        object_id for object_id, record in latest.items() if record.get("isDeleted") is not True
    }
    assert sum(emulator_client.record_counts(object_type).values()) == manifest.records_staged
    assert sum(emulator_client.upload_counts().values()) == uploads
    for reject in case.get("rejects") or []:
        if reject["objectId"]:
            assert reject["objectId"] not in stored
    assert_normalized(case, stored, only=set(stored))


# ----------------------------------------------------------------------------- the 250 MB file


@pytest.mark.slow
def test_a_250_mb_file_is_split_by_staging_and_refused_whole_by_the_hook(
    tmp_path: Path, hook: Any, emulator: EmulatorProcess, emulator_client: EmulatorClient
) -> None:
    from gong_provider.staging import DEFAULT_MAX_FILE_BYTES

    big = tmp_path / "accounts.jsonl"
    records = write_big_file(big)
    assert big.stat().st_size > MAX_UPLOAD_FILE_BYTES

    with pytest.raises(GongPayloadTooLargeError) as raised:
        hook.upload_entities(emulator.integration_id, "ACCOUNT", "too-big-1", big)
    assert_user_message(str(raised.value), file_name=big.name)
    assert emulator_client.requests_log() == []  # refused before a single byte was sent
    assert emulator_client.upload_counts() == {}

    manifest = stage_case(BY_ID["jsonl-250mb-file"], big, tmp_path / "out")
    big.unlink()  # keep the disk footprint to one copy
    assert manifest.records_staged == records
    assert manifest.records_rejected == 0
    assert len(manifest.files) >= 2
    assert DEFAULT_MAX_FILE_BYTES < MAX_UPLOAD_FILE_BYTES
    for staged in manifest.files:
        size = Path(staged.path).stat().st_size
        assert size == staged.bytes
        assert size <= DEFAULT_MAX_FILE_BYTES
    assert sum(staged.records for staged in manifest.files) == records


def test_a_sparse_250_mb_file_is_refused_before_upload(
    tmp_path: Path, hook: Any, emulator: EmulatorProcess, emulator_client: EmulatorClient
) -> None:
    """The cheap form (a sparse file, no disk written): the hook checks the size before sending."""
    sparse = tmp_path / "contacts.ldjson"
    with sparse.open("wb") as handle:
        handle.truncate(BIG_FILE_BYTES)
    with pytest.raises(GongPayloadTooLargeError) as raised:
        hook.upload_entities(emulator.integration_id, "CONTACT", "sparse-1", sparse)
    assert_user_message(str(raised.value), file_name=sparse.name)
    assert "200" in str(raised.value)
    assert emulator_client.requests_log() == []


# ----------------------------------------------------------------------------- hook cases


def small_account_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.ldjson"
    path.write_bytes(account_line(1))
    return path


def attempt_hook_case(case_id: str, hook: Any, integration_id: int, path: Path) -> BaseException:
    """Run the hook call of a hook case; return what it raised."""
    arguments: dict[str, Any] = {
        "hook-integration-id-float": {"integration_id": float(integration_id)},
        "hook-integration-id-rounded": {"integration_id": int(float(integration_id))},
        "hook-client-request-id-colon": {"client_request_id": "manual__2026-01-01T00:00:00+00:00"},
        "hook-object-type-case": {"object_type": "contact"},
    }[case_id]
    call = {
        "integration_id": integration_id,
        "object_type": "ACCOUNT",
        "client_request_id": f"{case_id}-1",
        "data_file": path,
        **arguments,
    }
    with pytest.raises((GongError, TypeError, ValueError)) as raised:
        hook.upload_entities(**call)
    return raised.value


@pytest.mark.parametrize("case", case_params(HOOK_CASES))
def test_hook_refuses_bad_arguments_clearly_and_stores_nothing(
    case: dict[str, Any],
    tmp_path: Path,
    hook: Any,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
) -> None:
    error = attempt_hook_case(case["id"], hook, emulator.integration_id, small_account_file(tmp_path))
    message = str(error)
    assert_user_message(message)
    for mention in case["mentions"]:
        assert mention.lower() in message.lower(), message
    assert emulator_client.upload_counts() == {}
    assert emulator_client.entities("ACCOUNT") == {}
    if case["id"] == "hook-integration-id-rounded":
        # Only Gong can tell that this id is not yours: a typed 4xx, not a silent upload elsewhere.
        assert isinstance(error, GongApiError)
        assert error.status_code is not None
        assert 400 <= error.status_code < 500
    else:
        # Refused by the hook itself: the request never left the process.
        assert emulator_client.requests_log() == []


def test_the_float_integration_id_is_also_refused_when_polling(hook: Any, emulator: EmulatorProcess) -> None:
    with pytest.raises((TypeError, ValueError)) as raised:
        hook.get_request_status(float(emulator.integration_id), "poll-1")
    assert "float" in str(raised.value)


# ----------------------------------------------------------------------------- operator cases

OPERATOR_CASES = [case for case in CASES if case["layer"] == "operator"]


@pytest.mark.parametrize("case", case_params(OPERATOR_CASES))
def test_operator_refuses_bad_arguments_before_sending(
    case: dict[str, Any],
    airflow_db: Path,
    gong_connection_env: str,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A templated argument that renders to something Gong would refuse fails the task, unsent."""
    from tests.support.faults import faults_dags, run_dag

    conf = {
        "integration_id": str(emulator.integration_id),
        "object_type": "ACCOUNT",
        "file": str(small_account_file(tmp_path)),
        "client_request_id": "bad-inputs-valid-1",
    }
    if case["id"] == "operator-integration-id-float":
        conf["integration_id"] = f"{emulator.integration_id}.0"  # what a float-typed conf value renders to
    else:
        conf["client_request_id"] = "manual__2026-01-01T00:00:00+00:00"
    result = run_dag(faults_dags().faults_upload_arguments, conf, capsys)
    assert result.state == "failed"
    assert result.state_of("upload") == "failed"
    for mention in case["mentions"]:
        assert mention in result.output, result.output[-3000:]
    assert emulator_client.requests_log() == []  # refused before any call to Gong
    assert emulator_client.upload_counts() == {}

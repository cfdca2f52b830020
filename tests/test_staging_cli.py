"""``gong-provider validate`` and ``gong-provider stage``: exit codes and what the user reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gong_provider.cli import main

DATA = Path(__file__).parent / "data" / "staging"
MAPPING = "Id=objectId,Email=emailAddress,First Name=firstName,Last Name=lastName,Account=accountId"
MORE = "LastModified=modifiedDate,Deleted=isDeleted,Phone=phoneNumber"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_validate_a_clean_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "validate", str(DATA / "accounts.json"), "--type", "account")
    assert code == 0
    assert "records read │ 2" in out
    assert "rejected │ 0" in out
    assert "Traceback" not in out


def test_validate_shows_the_first_rejects_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "validate", str(DATA / "deals.jsonl"), "--type", "DEAL")
    assert code == 1
    assert "rejected │ 1" in out
    assert "deals.jsonl, line 3 objectId d-3" in out
    assert "status: 'CLOSED_WON' is not a deal status" in out
    assert "amount: expected a number, got '7k'" in out


def test_stage_writes_files_and_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(
        capsys,
        "stage",
        str(DATA / "contacts_crm_export.csv"),
        "--type",
        "CONTACT",
        "--out",
        str(tmp_path),
        "--mapping",
        MAPPING,
        "--mapping",
        MORE,
        "--timezone",
        "Europe/Paris",
    )
    assert code == 0, out
    assert "staged │ 4" in out
    assert "files │ 2" in out
    assert "generations │ 2" in out
    manifest = json.loads((tmp_path / "CONTACT" / "manifest.json").read_text())
    assert [f["records"] for f in manifest["files"]] == [3, 1]
    first = json.loads(Path(manifest["files"][0]["path"]).read_text().splitlines()[0])
    assert first["modifiedDate"] == "2026-01-18T05:52:00+01:00"


def test_stage_with_rejects_writes_them_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["stage", str(DATA / "deals.jsonl"), "--type", "DEAL", "--out", str(tmp_path)]
    code, out = run(capsys, *args)
    assert code == 1
    assert "failed: DEAL: 1 of 3 records rejected" in out
    assert "line 3 objectId d-3" in out
    assert "rejects.ldjson" in out
    code, out = run(capsys, *args, "--max-reject-ratio", "0.5")
    assert code == 1  # tolerated, staged, but still not clean
    assert "failed" not in out
    assert "staged │ 2" in out


def test_schema_file_checks_custom_fields(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "DEAL": [
                    {
                        "uniqueName": "forecast",
                        "label": "F",
                        "type": "PICKLIST",
                        "orderedValueList": ["Pipeline"],
                    }
                ]
            }
        )
    )
    code, out = run(capsys, "validate", str(DATA / "deals.jsonl"), "--type", "DEAL", "--schema", str(schema))
    assert code == 1
    assert "forecast: 'Commit' is not one of the picklist values" in out


def test_sql_source_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("create table t (objectId text, name text)")
        db.execute("insert into t values ('won', 'Won')")
    monkeypatch.setenv("AIRFLOW_CONN_CLI_SQLITE", f"sqlite://{tmp_path / 'crm.db'}")
    code, out = run(capsys, "validate", "select * from t", "--type", "STAGE", "--conn-id", "cli_sqlite")
    assert code == 0, out
    assert "valid │ 1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "/nonexistent/x.jsonl", "--type", "CONTACT"], "source file not found"),
        (
            ["validate", str(DATA / "deals.jsonl"), "--type", "DEAL", "--mapping", "{bad"],
            "--mapping is not valid JSON",
        ),
        (
            ["validate", str(DATA / "deals.jsonl"), "--type", "DEAL", "--mapping", "nope"],
            "expected column=field",
        ),
        (
            ["validate", str(DATA / "deals.jsonl"), "--type", "DEAL", "--timezone", "Nowhere/Land"],
            "unknown time zone",
        ),
        (
            [
                "stage",
                str(DATA / "deals.jsonl"),
                "--type",
                "DEAL",
                "--out",
                "/tmp/x",
                "--max-file-bytes",
                "999999999",
            ],
            "max_file_bytes",
        ),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out = run(capsys, *argv)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_console_script_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gong_provider.cli", "validate", str(DATA / "deals.jsonl"), "--type", "DEAL"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "d-3" in result.stdout

"""``gong-provider validate`` and ``gong-provider stage``: exit codes and what the user reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gong_provider.cli import main

DATA = Path(__file__).parents[1] / "data" / "staging"
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


def seven_deals_two_bad(path: Path) -> Path:
    """Seven deal records, of which lines 3 and 6 break Gong's rules."""
    records = [
        {"objectId": f"d-{n}", "modifiedDate": "2026-02-04T18:24:59Z", "status": "OPEN", "amount": n * 100}
        for n in range(1, 8)
    ]
    records[2]["status"] = "CLOSED_WON"
    records[5]["amount"] = "7k"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def stage_seven_deals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ratio: str
) -> tuple[int, str, Path]:
    """``gong-provider stage`` of the seven deals with ``--max-reject-ratio ratio``: code, output, rejects."""
    source, out_dir = seven_deals_two_bad(tmp_path / "deals.jsonl"), tmp_path / "out"
    code, out = run(
        capsys, "stage", str(source), "--type", "DEAL", "--out", str(out_dir), "--max-reject-ratio", ratio
    )
    return code, out, out_dir / "DEAL"


def test_stage_rejects_within_the_tolerance_are_a_success_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, staged = stage_seven_deals(capsys, tmp_path, "0.5")
    assert code == 0, out
    assert "staged │ 5" in out
    assert "rejected │ 2" in out
    assert "line 3 objectId d-3" in out
    assert "line 6 objectId d-6" in out
    assert "warning: DEAL: 2 of 7 records rejected (28.57%), within max_reject_ratio=0.5" in out
    assert f"every reject: {staged / 'rejects.ldjson'}" in out
    assert "failed" not in out
    manifest = json.loads((staged / "manifest.json").read_text())
    assert (manifest["records_staged"], manifest["records_rejected"]) == (5, 2)


def test_stage_rejects_beyond_the_tolerance_fail_after_writing_everything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, staged = stage_seven_deals(capsys, tmp_path, "0.2")
    assert code == 1
    assert "failed: DEAL: 2 of 7 records rejected (28.57%), more than max_reject_ratio=0.2" in out
    assert "line 3 objectId d-3" in out
    assert f"every reject: {staged / 'rejects.ldjson'}" in out
    assert "warning" not in out
    assert (staged / "manifest.json").exists()
    code, out = run(capsys, "stage", str(DATA / "deals.jsonl"), "--type", "DEAL", "--out", str(tmp_path))
    assert code == 1  # the default tolerance is 0: any reject fails
    assert "failed: DEAL: 1 of 3 records rejected (33.33%), more than max_reject_ratio=0" in out


@pytest.mark.parametrize(("ratio", "code", "verdict"), [("0.5", 0, "warning"), ("0.2", 1, "failed")])
def test_validate_judges_rejects_as_stage_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ratio: str, code: int, verdict: str
) -> None:
    source = seven_deals_two_bad(tmp_path / "deals.jsonl")
    exit_code, out = run(capsys, "validate", str(source), "--type", "DEAL", "--max-reject-ratio", ratio)
    assert exit_code == code, out
    assert f"{verdict}: DEAL: 2 of 7 records rejected (28.57%)" in out
    assert "line 6 objectId d-6" in out
    assert not (tmp_path / "DEAL").exists()  # validate writes nothing


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

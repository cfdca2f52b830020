"""Unknown fields: a key that is neither a standard nor a registered custom field is caught, with a hint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gong_provider.cli import main
from gong_provider.models import CustomField
from gong_provider.staging import stage, validate
from gong_provider.staging.field_names import FieldNames, did_you_mean, unknown_fields_policy
from gong_provider.staging.specs import SPECS
from gong_provider.staging.validator import RecordValidator

MODIFIED = "2026-03-01T10:11:12Z"
TYPO_CSV = f"objectId,modifiedDate,firstname,email,acountId\nc-1,{MODIFIED},Ann,ann@example.com,a-1\n"


@pytest.mark.parametrize(
    ("name", "hint"),
    [("firstname", "firstName"), ("acountId", "accountId"), ("email", "emailAddress"), ("zzz", None)],
)
def test_did_you_mean_finds_near_misses(name: str, hint: str | None) -> None:
    assert did_you_mean(name, SPECS["CONTACT"].fields) == hint  # type: ignore[index]


def test_the_issue_csv_is_rejected_with_a_hint_per_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(TYPO_CSV)
    code = main(["validate", str(source), "--type", "CONTACT"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert "rejected │ 1" in out
    for typo, hint in (("firstname", "firstName"), ("email", "emailAddress"), ("acountId", "accountId")):
        assert f"{typo}: not a CONTACT field: did you mean {hint}?" in out


def test_warn_keeps_the_record_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(TYPO_CSV + f"c-2,{MODIFIED},Bob,bob@example.com,a-2\n")
    with caplog.at_level(logging.WARNING, logger="gong_provider.staging.field_names"):
        report = validate(source, object_type="CONTACT", unknown_fields="warn")
    assert (report.records_valid, report.records_rejected) == (2, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per key set, not per record
    assert "did you mean firstName?" in warnings[0]


def test_the_key_set_is_checked_once_not_per_record() -> None:
    names = FieldNames("CONTACT", SPECS["CONTACT"].fields, None)  # type: ignore[index]
    calls: list[tuple[str, ...]] = []
    unknown = names._unknown
    names._unknown = lambda keys: calls.append(keys) or unknown(keys)  # type: ignore[method-assign]
    validator = RecordValidator("CONTACT")
    validator.names = names
    for n in range(50):
        validator.check({"objectId": f"c-{n}", "modifiedDate": MODIFIED, "firstname": "x"})
    assert len(calls) == 1


def test_without_a_schema_other_keys_are_custom_fields_and_take_the_fast_path(tmp_path: Path) -> None:
    lines = [
        {"objectId": f"c-{n}", "modifiedDate": MODIFIED, "custom_tier": "Gold", "firstName": "A"}
        for n in range(3)
    ]
    source = tmp_path / "contacts.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    manifest = stage(source, object_type="CONTACT", out_dir=tmp_path / "out")
    assert (manifest.records_staged, manifest.records_rejected) == (3, 0)


def test_a_typo_in_json_lines_is_rejected_on_the_fast_path_too(tmp_path: Path) -> None:
    lines = [{"objectId": "c-1", "modifiedDate": MODIFIED, "firstName": "A"}]
    lines.append({"objectId": "c-2", "modifiedDate": MODIFIED, "firstname": "B"})
    source = tmp_path / "contacts.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = validate(source, object_type="CONTACT")
    assert (report.records_valid, report.records_rejected) == (1, 1)
    assert report.first_rejects[0].object_id == "c-2"
    assert "did you mean firstName?" in str(report.first_rejects[0])


def test_with_a_schema_a_key_outside_it_is_unknown_with_a_hint_from_custom_fields() -> None:
    schema = [CustomField("tier", "Tier", "PICKLIST", ordered_value_list=["Gold", "Silver"])]
    validator = RecordValidator("DEAL", custom_fields=schema)
    checked = validator.check({"objectId": "d-1", "modifiedDate": MODIFIED, "tierr": "Gold"})
    assert checked.record is None
    assert str(checked.reasons[0]).startswith("tierr: not a DEAL field nor a custom field")
    assert "did you mean tier?" in str(checked.reasons[0])
    assert validator.check({"objectId": "d-1", "modifiedDate": MODIFIED, "tier": "Gold"}).record


def test_a_bad_policy_names_the_choices() -> None:
    with pytest.raises(ValueError, match="reject, warn"):
        unknown_fields_policy("ignore")


def test_the_cli_warns_instead_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(TYPO_CSV)
    code = main(["validate", str(source), "--type", "CONTACT", "--unknown-fields", "warn"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "rejected │ 0" in out


def test_the_field_reference_renders_the_one_table_for_every_type(capsys: pytest.CaptureFixture[str]) -> None:
    page = (Path(__file__).parents[2] / "docs" / "fields.md").read_text()
    for object_type, spec in SPECS.items():
        assert f"```{{gong-standard-fields}} {object_type.value}\n```" in page
        assert main(["fields", object_type.value.lower()]) == 0
        printed = capsys.readouterr().out
        assert [line.split("`")[1] for line in printed.splitlines()[2:]] == list(spec.fields)


def test_a_type_without_custom_fields_rejects_any_other_key(tmp_path: Path) -> None:
    lines = [{"objectId": "s-1", "name": "Open"}, {"objectId": "s-2", "name": "Won", "colour": "green"}]
    source = tmp_path / "stages.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = validate(source, object_type="STAGE", custom_fields=[])
    assert (report.records_valid, report.records_rejected) == (1, 1)
    assert str(report.first_rejects[0]).endswith(
        "colour: not a STAGE field nor a custom field of the entity schema registered for the integration"
    )

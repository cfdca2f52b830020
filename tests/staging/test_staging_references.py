"""Reference checks while staging and validating: deals -> accounts, owners, stages; contacts ->
accounts; leads -> accounts, contacts, deals; deals Gong will not show (no accountId, ownerId or
closeDate); the compact id set they use; ``gong-provider validate --also``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.cli import main
from gong_provider.models import ObjectType
from gong_provider.staging import load_manifest, stage
from gong_provider.staging.crosscheck import check_references
from gong_provider.staging.idset import IdSet
from gong_provider.staging.outdir import OutputDir
from gong_provider.staging.references import (
    MAX_EXAMPLES,
    GongReferenceError,
    ReferenceCollector,
    load_ids,
    parse_reference_check,
    save_ids,
)

MODIFIED = "2026-01-01T00:00:00Z"


def jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def deal(object_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "modifiedDate": MODIFIED,
        "accountId": "a1",
        "ownerId": "u1",
        "stage": "s1",
        "closeDate": "2026-06-30",
        **fields,
    }


@pytest.fixture
def exports(tmp_path: Path) -> dict[ObjectType | str, Any]:
    return {
        ObjectType.BUSINESS_USER: jsonl(
            tmp_path / "users.jsonl", {"objectId": "u1", "emailAddress": "u1@x.com", "modifiedDate": MODIFIED}
        ),
        ObjectType.STAGE: jsonl(tmp_path / "stages.jsonl", {"objectId": "s1", "name": "Discovery"}),
        ObjectType.ACCOUNT: jsonl(
            tmp_path / "accounts.jsonl",
            {"objectId": "a1", "modifiedDate": MODIFIED},
            {"objectId": "a2", "modifiedDate": MODIFIED},
        ),
        ObjectType.DEAL: jsonl(
            tmp_path / "deals.jsonl",
            deal("d1"),
            deal("d2", accountId="a-gone"),
            deal("d3", stage="closed-won", ownerId="nobody"),
            {k: v for k, v in deal("d4").items() if k not in ("closeDate", "accountId")},
        ),
    }


def test_id_set_membership_save_and_load(tmp_path: Path) -> None:
    ids = [f"id-{n}" for n in range(20_000)]
    built = IdSet.of(ids)
    assert len(built) == 20_000
    assert all(i in built for i in ids[::97])
    assert not any(f"other-{n}" in built for n in range(2_000))
    folder = OutputDir(tmp_path)
    built.save(folder, "X.ids")
    loaded = IdSet.load(folder, "X.ids")
    assert "id-19999" in loaded
    assert "id-20000" not in loaded
    assert "x" not in IdSet.of([])


def test_deals_with_dangling_references_and_missing_fields(exports: dict[ObjectType | str, Any]) -> None:
    results = check_references(exports)
    refs = results["DEAL"].references
    assert refs.records == 4
    assert refs.dangling == {"accountId": 1, "ownerId": 1, "stage": 1}
    assert refs.missing == {"accountId": 1, "closeDate": 1}
    assert refs.unchecked == []
    described = [str(example) for example in refs.examples]
    deals_file = str(exports[ObjectType.DEAL])
    assert f"{deals_file}, line 2 objectId d2: accountId 'a-gone' names no record sent to Gong" in described
    assert f"{deals_file}, line 3 objectId d3: stage 'closed-won' names no record sent to Gong" in described
    assert f"{deals_file}, line 4 objectId d4: closeDate is missing" in described
    assert results["ACCOUNT"].references.findings == 0
    with pytest.raises(GongReferenceError, match="1 dangling stage"):
        refs.raise_for("fail")
    refs.raise_for("warn")


def test_known_ids_count_as_confirmed_and_absent_types_are_unchecked(
    exports: dict[ObjectType | str, Any],
) -> None:
    deals_only = {ObjectType.DEAL: exports[ObjectType.DEAL]}
    refs = check_references(deals_only)["DEAL"].references
    assert refs.unchecked == ["accountId", "ownerId", "stage"]
    assert refs.dangling == {}
    known = {
        ObjectType.ACCOUNT: IdSet.of(["a1", "a-gone"]),
        ObjectType.BUSINESS_USER: IdSet.of(["u1", "nobody"]),
        ObjectType.STAGE: IdSet.of(["s1", "closed-won"]),
    }
    refs = check_references(deals_only, known=known)["DEAL"].references
    assert refs.dangling == {}
    assert refs.missing == {"accountId": 1, "closeDate": 1}


def test_leads_and_contacts_reference_across_files(
    tmp_path: Path, exports: dict[ObjectType | str, Any]
) -> None:
    exports[ObjectType.CONTACT] = tmp_path / "contacts.csv"
    (tmp_path / "contacts.csv").write_text(
        f"objectId,modifiedDate,accountId\nc1,{MODIFIED},a2\nc2,{MODIFIED},a9\n", encoding="utf-8"
    )
    exports[ObjectType.LEAD] = jsonl(
        tmp_path / "leads.jsonl",
        {"objectId": "l1", "modifiedDate": MODIFIED, "convertedToContactId": "c1", "convertedToDealId": "d1"},
        {
            "objectId": "l2",
            "modifiedDate": MODIFIED,
            "convertedToContactId": "c3",
            "convertedToAccountId": "a1",
        },
        {"objectId": "l3", "modifiedDate": MODIFIED, "convertedToDealId": "d9"},
    )
    results = check_references(exports)
    assert results["CONTACT"].references.dangling == {"accountId": 1}
    assert str(results["CONTACT"].references.examples[0]).endswith(
        "contacts.csv, line 3 objectId c2: accountId 'a9' names no record sent to Gong"
    )
    assert results["LEAD"].references.dangling == {"convertedToContactId": 1, "convertedToDealId": 1}


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_staging_tap_locates_examples_in_the_source(tmp_path: Path, suffix: str) -> None:
    """Fast path (JSON Lines blocks) and per-record path (CSV): examples name the source line."""
    source = tmp_path / f"deals.{suffix}"
    rows = [deal(f"d{n}", stage="s1" if n % 3 else "gone") for n in range(1, 61)]
    if suffix == "jsonl":
        jsonl(source, *rows)
    else:
        header = list(rows[0])
        source.write_text(
            ",".join(header) + "\n" + "".join(",".join(str(r[k]) for k in header) + "\n" for r in rows),
            encoding="utf-8",
        )
    known = {
        ObjectType.ACCOUNT: IdSet.of(["a1"]),
        ObjectType.BUSINESS_USER: IdSet.of(["u1"]),
        ObjectType.STAGE: IdSet.of(["s1"]),
    }
    collector = ReferenceCollector(ObjectType.DEAL, known, collect_ids=True)
    manifest = stage(source, object_type="DEAL", out_dir=tmp_path / "out", tap=collector)
    own = collector.own_ids(["d-confirmed"])
    report = collector.finish(load_manifest(tmp_path / "out" / "DEAL"))
    assert manifest.records_staged == 60
    assert report.dangling == {"stage": 20}
    assert len(report.examples) == MAX_EXAMPLES
    first = report.examples[0]
    assert (first.source, first.line, first.object_id, first.field, first.value) == (
        str(source),
        3 if suffix == "jsonl" else 4,  # d3; the CSV's header is line 1
        "d3",
        "stage",
        "gone",
    )
    assert own is not None
    assert "d60" in own
    assert "d-confirmed" in own
    assert "d61" not in own
    save_ids(tmp_path / "run", "DEAL", own)
    published = load_ids(tmp_path / "run", "DEAL")
    assert published is not None
    assert "d7" in published
    assert load_ids(tmp_path / "run", "ACCOUNT") is None


def test_parse_reference_check() -> None:
    assert parse_reference_check(None) == "warn"
    assert parse_reference_check("fail") == "fail"
    with pytest.raises(ValueError, match="warn, fail, off"):
        parse_reference_check("strict")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_cli_validates_several_files_with_their_references(
    capsys: pytest.CaptureFixture[str], exports: dict[ObjectType | str, Any]
) -> None:
    deals = str(exports[ObjectType.DEAL])
    also = [
        f"--also={kind.value if isinstance(kind, ObjectType) else kind}={path}"
        for kind, path in exports.items()
        if kind != ObjectType.DEAL
    ]
    code, out = run(capsys, "validate", deals, "--type", "DEAL", *also)
    assert code == 0, out
    assert "dangling references │ 3" in out
    assert "missing fields │ 2" in out
    assert "objectId d3: stage 'closed-won' names no record sent to Gong" in out
    code, out = run(capsys, "validate", deals, "--type", "DEAL", *also, "--references", "fail")
    assert code == 1
    code, out = run(capsys, "validate", deals, "--type", "DEAL", "--also", "NOPE=x")
    assert code == 2
    assert "expected TYPE=FILE" in out

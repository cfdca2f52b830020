"""Staged output: generations, size split, manifest, sha256, sidecars, atomic and idempotent re-staging."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gong_provider.staging import (
    GongRejectLimitError,
    StagingManifest,
    load_manifest,
    locate_lines,
    stage,
)

DATA = Path(__file__).parents[1] / "data" / "staging"


def contact(object_id: str, **fields: Any) -> dict[str, Any]:
    return {"objectId": object_id, "modifiedDate": "2026-01-01T00:00:00Z", **fields}


def lines_of(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_duplicate_object_ids_go_to_successive_generations_in_source_order(tmp_path: Path) -> None:
    records = [
        contact("a", title="1"),
        contact("b"),
        contact("a", title="2"),
        contact("c"),
        contact("a", title="3"),
        contact("b", title="b2"),
    ]
    manifest = stage(records, object_type="CONTACT", out_dir=tmp_path)
    generations = [[record for f in gen for record in lines_of(f.path)] for gen in manifest.generations]
    assert [[r["objectId"] for r in gen] for gen in generations] == [["a", "b", "c"], ["a", "b"], ["a"]]
    assert [r.get("title") for r in (generations[0][0], generations[1][0], generations[2][0])] == [
        "1",
        "2",
        "3",
    ]
    assert [f.generation for f in manifest.files] == [0, 1, 2]
    assert (manifest.records_read, manifest.records_staged, manifest.records_rejected) == (6, 6, 0)


def test_files_are_split_under_max_file_bytes(tmp_path: Path) -> None:
    records = [contact(f"c-{n}", title="x" * 50) for n in range(200)]
    manifest = stage(records, object_type="CONTACT", out_dir=tmp_path, max_file_bytes=2_000)
    assert len(manifest.files) > 5
    assert all(f.generation == 0 for f in manifest.files)
    assert [f.part for f in manifest.files] == list(range(len(manifest.files)))
    staged = []
    for f in manifest.files:
        size = Path(f.path).stat().st_size
        assert size == f.bytes <= 2_000
        assert hashlib.sha256(Path(f.path).read_bytes()).hexdigest() == f.sha256
        rows = lines_of(f.path)
        assert len(rows) == f.records
        staged.extend(r["objectId"] for r in rows)
    assert staged == [f"c-{n}" for n in range(200)]


def test_a_record_larger_than_max_file_bytes_is_rejected(tmp_path: Path) -> None:
    records = [contact("small"), contact("big", title="x" * 500)]
    manifest = stage(records, object_type="CONTACT", out_dir=tmp_path, max_file_bytes=300, max_reject_ratio=1)
    assert manifest.records_staged == 1
    rejects = lines_of(manifest.rejects_path or "")
    assert rejects[0]["objectId"] == "big"
    assert "max_file_bytes" in rejects[0]["reasons"][0]["message"]


def test_a_too_big_line_of_a_valid_jsonl_block_is_rejected_alike_by_stage_and_validate(
    tmp_path: Path,
) -> None:
    """The fast path (a clean JSON Lines block) rejects the one line over max_file_bytes, keeps the
    rest, and validate() reports exactly what stage() writes."""
    from gong_provider.staging import validate

    source = tmp_path / "contacts.jsonl"
    rows = [contact("a"), contact("big", title="x" * 500), contact("b")]
    source.write_text("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))

    options: dict[str, Any] = {"object_type": "CONTACT", "max_file_bytes": 300, "max_reject_ratio": 1}
    manifest = stage(str(source), out_dir=tmp_path / "out", **options)
    report = validate(str(source), **options)
    rejects = lines_of(manifest.rejects_path or "")

    assert (manifest.records_staged, manifest.records_rejected) == (2, 1)
    assert [r["objectId"] for f in manifest.files for r in lines_of(f.path)] == ["a", "b"]
    assert [(r["line"], r["objectId"]) for r in rejects] == [(2, "big")]
    assert (report.records_valid, report.records_rejected) == (2, 1)
    assert [str(r) for r in report.first_rejects] == [
        f"{source}, line 2 objectId big: " + rejects[0]["reasons"][0]["message"]
    ]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_file_bytes"):
        stage([], object_type="CONTACT", out_dir="/nonexistent", max_file_bytes=300 * 1024 * 1024)
    with pytest.raises(ValueError, match="max_reject_ratio"):
        stage([], object_type="CONTACT", out_dir="/nonexistent", max_reject_ratio=2)


def test_manifest_lists_files_and_loads_back(tmp_path: Path) -> None:
    manifest = stage(str(DATA / "deals.jsonl"), object_type="DEAL", out_dir=tmp_path, max_reject_ratio=0.5)
    folder = tmp_path / "DEAL"
    assert files_in(folder) == [
        "deal-g0-p0.ldjson",
        "deal-g0-p0.sources.ldjson",
        "manifest.json",
        "rejects.ldjson",
    ]
    for path in (folder / "manifest.json", folder, str(folder / "manifest.json")):
        assert load_manifest(path) == manifest
    data = json.loads((folder / "manifest.json").read_text())
    assert data["object_type"] == "DEAL"
    assert data["files"][0]["sha256"] == manifest.files[0].sha256
    assert StagingManifest.from_json(json.dumps(data)) == manifest
    assert manifest.sources == [str(DATA / "deals.jsonl")]
    staged = {r["objectId"]: r for r in lines_of(manifest.files[0].path)}
    assert staged["d-2"] == {
        "objectId": "d-2",
        "modifiedDate": "2026-02-04T18:24:59Z",
        "closeDate": "2026-09-04",
        "status": "WON",
        "amount": 12500.5,
    }
    assert staged["d-1"]["forecast"] == "Commit"  # custom field passed through
    (reject,) = lines_of(manifest.rejects_path or "")
    assert reject["line"] == 3
    assert reject["record"] == 3
    assert reject["objectId"] == "d-3"
    assert reject["source"].endswith("deals.jsonl")
    assert {r["field"] for r in reject["reasons"]} == {"status", "amount"}


def test_reject_limit_fails_with_a_summary_after_writing_everything(tmp_path: Path) -> None:
    with pytest.raises(GongRejectLimitError) as raised:
        stage(str(DATA / "deals.jsonl"), object_type="DEAL", out_dir=tmp_path)
    error = raised.value
    assert (error.records_read, error.records_rejected) == (3, 1)
    text = str(error)
    assert "1 of 3 records rejected" in text
    assert "deals.jsonl, line 3 objectId d-3" in text
    assert "status" in text
    assert "amount" in text
    assert load_manifest(tmp_path / "DEAL").records_rejected == 1
    assert (tmp_path / "DEAL" / "rejects.ldjson").exists()
    assert (
        stage(
            str(DATA / "deals.jsonl"), object_type="DEAL", out_dir=tmp_path, max_reject_ratio=0.34
        ).records_staged
        == 2
    )


def test_restaging_replaces_the_previous_output(tmp_path: Path) -> None:
    first = stage(
        [contact("a"), contact("a"), contact("a"), {"objectId": "bad"}],
        object_type="CONTACT",
        out_dir=tmp_path,
        max_reject_ratio=1,
    )
    assert len(first.generations) == 3
    again = stage(
        [contact("a"), contact("a"), contact("a"), {"objectId": "bad"}],
        object_type="CONTACT",
        out_dir=tmp_path,
        max_reject_ratio=1,
    )
    assert again == first  # same content, same names, same sha256: a retry is idempotent
    second = stage([contact("a"), contact("b")], object_type="CONTACT", out_dir=tmp_path)
    assert files_in(tmp_path / "CONTACT") == [
        "contact-g0-p0.ldjson",
        "contact-g0-p0.sources.ldjson",
        "manifest.json",
    ]
    assert load_manifest(tmp_path / "CONTACT") == second
    assert second.rejects_path is None


def test_a_failing_source_leaves_no_half_written_file(tmp_path: Path) -> None:
    stage([contact("old")], object_type="CONTACT", out_dir=tmp_path)

    def broken() -> Iterator[dict[str, Any]]:
        for n in range(50_000):
            yield contact(f"c-{n}")
        raise RuntimeError("the upstream query died")

    with pytest.raises(RuntimeError, match="upstream"):
        stage(broken(), object_type="CONTACT", out_dir=tmp_path)
    folder = tmp_path / "CONTACT"
    assert not (folder / "manifest.json").exists()  # the previous commit marker is gone
    assert not [name for name in files_in(folder) if name.endswith(".tmp")]
    assert lines_of(str(folder / "contact-g0-p0.ldjson")) == [contact("old")]


def test_locate_lines_maps_staged_lines_back_to_the_source(tmp_path: Path) -> None:
    mapping = {
        "Id": "objectId",
        "Email": "emailAddress",
        "First Name": "firstName",
        "Last Name": "lastName",
        "Account": "accountId",
        "LastModified": "modifiedDate",
        "Deleted": "isDeleted",
        "Phone": "phoneNumber",
    }
    source = str(DATA / "contacts_crm_export.csv")
    manifest = stage(source, object_type="CONTACT", out_dir=tmp_path, mapping=mapping)
    first, second = manifest.files
    located = locate_lines(first, [1, 3, 99])
    assert set(located) == {1, 3}
    assert (located[1].object_id, located[1].source, located[1].source_line) == ("003A1", source, 2)
    assert located[3].object_id == "003A3"
    assert located[3].source_line == 4
    assert "003A3" in str(located[3])
    assert "line 4" in str(located[3])
    again = locate_lines(second, [1])
    assert (again[1].object_id, again[1].source_line) == ("003A1", 5)
    assert locate_lines(first, []) == {}


def test_object_storage_output(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    out = ObjectStoragePath(f"file://{tmp_path}/staging")
    manifest = stage([contact("a"), contact("a")], object_type="CONTACT", out_dir=out)
    assert len(manifest.files) == 2
    loaded = load_manifest(ObjectStoragePath(f"file://{tmp_path}/staging/CONTACT/manifest.json"))
    assert loaded == manifest
    assert locate_lines(loaded.files[1], [1])[1].object_id == "a"

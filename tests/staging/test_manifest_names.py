"""The manifest and sidecar naming rules (staging/manifest.py) are the ones staging writes by, and
the ones the operator, lineage and the DAGs find its files by."""

from __future__ import annotations

from pathlib import Path

import pytest

from gong_provider.operators.upload_files import resolve_files, staged_file_for
from gong_provider.staging import stage
from gong_provider.staging.manifest import (
    is_manifest_path,
    load_manifest,
    manifest_beside,
    manifest_path,
    sidecar_path,
)


def test_staging_writes_where_the_rules_say(tmp_path: Path) -> None:
    records = [{"objectId": f"c-{n}", "modifiedDate": "2026-01-01T00:00:00Z"} for n in range(3)]
    manifest = stage(records, object_type="CONTACT", out_dir=tmp_path)
    [staged] = manifest.files

    assert staged.sources_path == sidecar_path(staged.path)
    assert Path(manifest_beside(staged.path)) == tmp_path / "CONTACT" / "manifest.json"
    assert manifest_path(str(tmp_path / "CONTACT")) == manifest_beside(staged.path)
    assert load_manifest(manifest_beside(staged.path)) == manifest
    assert staged_file_for(staged.path, "CONTACT").sources_path == staged.sources_path
    files, several = resolve_files(manifest_beside(staged.path))
    assert ([f.path for f in files], several) == ([staged.path], True)


@pytest.mark.parametrize(
    ("path", "is_manifest"),
    [
        ("/out/CONTACT/manifest.json", True),
        ("s3://bucket/out/CONTACT/manifest.json", True),
        ("manifest.json/", True),
        ("/out/CONTACT/contacts.json", False),  # a user's JSON export is not a manifest
        ("/out/CONTACT/my-manifest.json", False),
        ("/out/CONTACT", False),
    ],
)
def test_a_manifest_is_known_by_its_name(path: str, is_manifest: bool) -> None:
    assert is_manifest_path(path) is is_manifest


def test_load_manifest_reads_a_json_file_of_another_name_as_a_folder(tmp_path: Path) -> None:
    """The operator and load_manifest used to disagree here (name against ``.json`` suffix)."""
    other = tmp_path / "contacts.json"
    other.write_text("{}")
    with pytest.raises(NotADirectoryError):
        load_manifest(other)
    files, several = resolve_files(str(other))
    assert ([f.path for f in files], several) == ([str(other)], False)


def test_sidecar_and_manifest_of_urls() -> None:
    assert sidecar_path("s3://b/out/DEAL/deal-g0-p1.ldjson") == "s3://b/out/DEAL/deal-g0-p1.sources.ldjson"
    assert sidecar_path("deal.jsonl") == "deal.jsonl.sources.ldjson"
    assert manifest_beside("s3://b/out/DEAL/deal-g0-p1.ldjson") == "s3://b/out/DEAL/manifest.json"
    assert manifest_path("s3://b/out/DEAL/") == "s3://b/out/DEAL/manifest.json"

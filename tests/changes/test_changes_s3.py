"""Change capture with its state on a real S3 endpoint (moto's server, through ObjectStoragePath)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gong_provider.changes import commit_changes, stage_changes
from gong_provider.changes.state import StateStore
from gong_provider.models import RequestState, RequestStatus
from tests.fixtures.s3 import S3Bucket

DONE = RequestStatus(None, RequestState.DONE)


def _stage(tmp: Path, state_base: str, run_key: str, count: int, out_dir: Any = None, **options: Any) -> Any:
    source = tmp / f"{run_key}.jsonl"
    source.write_text(
        "".join(
            json.dumps({"objectId": f"c{n}", "modifiedDate": "2026-01-01T00:00:00Z", "firstName": "x"}) + "\n"
            for n in range(count)
        )
    )
    return stage_changes(
        source,
        object_type="CONTACT",
        out_dir=out_dir or tmp / "out" / run_key,
        state_base=state_base,
        integration_id=7,
        run_key=run_key,
        run_time="2026-03-01T00:00:00Z",
        mode="mirror",
        **options,
    )


def test_the_first_run_on_s3_commits_and_leaves_no_marker(tmp_path: Path, s3: S3Bucket) -> None:
    """Item 12: no listing of a prefix that does not exist yet; a committed run leaves no plan."""
    base = s3.url("prefix", "state")
    plan = _stage(tmp_path, base, "run-1", 6)
    report = commit_changes(plan, {f.path: DONE for f in plan.files})
    assert report.live == 6
    store = StateStore(base, 7, "CONTACT")
    assert store.plan_tokens() == []
    assert not [name for name in store.names() if name.startswith("plan-")]
    again = _stage(tmp_path, base, "run-2", 6)
    assert again.files == []
    assert again.counts.pending_retried == 0
    assert commit_changes(again, {}).pending == 0


def test_the_claim_is_exclusive_on_s3(s3: S3Bucket) -> None:
    """Item 6: the store's conditional write, not check-then-write."""
    store = StateStore(s3.url("state"), 7, "CONTACT")
    assert store.create_file("claim-00000001.json", b"a")
    assert not store.create_file("claim-00000001.json", b"b")
    assert store.read_file("claim-00000001.json") == b"a"


def test_staging_and_state_both_on_s3(tmp_path: Path, s3: S3Bucket) -> None:
    """As the sync runs with GONG_STAGING_BASE on S3: the upload folder does not exist yet, and an
    empty S3 "folder" lists as NotADirectoryError, which must read as empty (it failed every run)."""
    base = s3.url("state")
    plan = _stage(tmp_path, base, "run-1", 3, out_dir=s3.url("runs", "run-1"))
    assert [f.path.startswith("s3://") for f in plan.files] == [True]
    report = commit_changes(plan, {f.path: DONE for f in plan.files})
    assert report.live == 3
    again = _stage(tmp_path, base, "run-2", 3, out_dir=s3.url("runs", "run-2"))
    assert again.files == []


def test_a_folder_on_s3_lists_nothing_before_its_first_file_and_then_its_files(s3: S3Bucket) -> None:
    """A staged run's folder on S3 does not exist before its first file (an object store has no
    folders): listing it must not raise (it did, NotADirectoryError, and failed every sync on S3)."""
    from gong_provider.staging.outdir import OutputDir

    folder = OutputDir(s3.url("runs", "gong_crm_sync", "run-1", "CONTACT", "upload"))
    assert folder.names() == []
    folder.write_text("contacts.jsonl", "{}\n")
    assert folder.names() == ["contacts.jsonl"]
    assert OutputDir(s3.url("runs", "gong_crm_sync", "run-1", "CONTACT")).names() == []  # no file of its own

"""The sync's cleanup task: staged run folders older than the retention go, on a local disk and on a
real S3 endpoint (moto's server through ObjectStoragePath); this run's folder and the state never do."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fixtures.s3 import S3Bucket

DAG_ID = "gong_crm_sync"
RUNS = ("scheduled__2026-01-01", "scheduled__2026-01-05", "manual__now")


def write(location: str, text: str = "x") -> None:
    from gong_provider.staging.location import resolve_location

    target = resolve_location(location)
    if isinstance(target, str):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(text)
    else:
        target.write_text(text)


def exists(location: str) -> bool:
    from gong_provider.staging.location import location_exists

    return location_exists(location)


def stage_runs(base: str) -> dict[str, str]:
    """A file in each run folder, the state's HEAD and a bucket file beside them; returns the files."""
    from gong_provider.dags.stage import staging_dir

    files = {run: f"{staging_dir(DAG_ID, run, base)}/CONTACT/upload/CONTACT-0.ldjson" for run in RUNS}
    files["state"] = f"{base}/state/42/CONTACT/HEAD.json"
    files["bucket"] = f"{base}/state/42/CONTACT/b-00000-g1.msgpack"
    files["other dag"] = f"{staging_dir('another_sync', 'scheduled__2026-01-01', base)}/x.ldjson"
    for location in files.values():
        write(location)
    return files


def test_old_local_runs_go_the_current_run_and_the_state_stay(tmp_path: Path) -> None:
    from gong_provider.dags.cleanup import clean_staged_runs

    base = str(tmp_path / "staging")
    files = stage_runs(base)
    old = time.time() - 10 * 86400
    for location in (
        files["scheduled__2026-01-01"],
        files["manual__now"],
        files["state"],
        files["other dag"],
    ):
        os.utime(location, (old, old))
    removed = clean_staged_runs(
        DAG_ID, keep_run_id="manual__now", retention_days=3, staging_base=base, state_base=f"{base}/state"
    )
    assert removed == [f"{base}/runs/{DAG_ID}/scheduled__2026-01-01"]
    assert not (tmp_path / "staging" / "runs" / DAG_ID / "scheduled__2026-01-01").exists()  # folder too
    for kept in ("scheduled__2026-01-05", "manual__now", "state", "bucket", "other dag"):
        assert exists(files[kept]), kept
    # nothing to clean, and a base never written: no error
    assert (
        clean_staged_runs(
            DAG_ID, keep_run_id="manual__now", retention_days=3, staging_base=base, state_base="s"
        )
        == []
    )
    assert (
        clean_staged_runs(
            DAG_ID, keep_run_id="r", retention_days=3, staging_base=str(tmp_path / "no"), state_base="s"
        )
        == []
    )


def test_a_state_inside_the_runs_folder_is_never_removed(tmp_path: Path) -> None:
    from gong_provider.dags.cleanup import clean_staged_runs

    base = str(tmp_path / "staging")
    state = f"{base}/runs/{DAG_ID}/state"  # a user's odd GONG_STATE_BASE
    write(f"{state}/42/CONTACT/HEAD.json")
    later = datetime.now(timezone.utc) + timedelta(days=30)
    assert (
        clean_staged_runs(
            DAG_ID, keep_run_id="r", retention_days=3, staging_base=base, state_base=state, now=later
        )
        == []
    )
    assert exists(f"{state}/42/CONTACT/HEAD.json")


def test_old_runs_go_on_s3_without_folders(s3: S3Bucket) -> None:
    """S3 has no folders and no settable modification time: the age comes from the objects' listing."""
    from gong_provider.dags.cleanup import clean_staged_runs

    base = s3.url("gong")
    files = stage_runs(base)
    now = datetime.now(timezone.utc)
    assert (
        clean_staged_runs(
            DAG_ID,
            keep_run_id="manual__now",
            retention_days=3,
            staging_base=base,
            state_base=f"{base}/state",
            now=now,
        )
        == []
    )
    removed = clean_staged_runs(
        DAG_ID,
        keep_run_id="manual__now",
        retention_days=3,
        staging_base=base,
        state_base=f"{base}/state",
        now=now + timedelta(days=4),
    )
    assert removed == [
        f"{base}/runs/{DAG_ID}/{run}" for run in ("scheduled__2026-01-01", "scheduled__2026-01-05")
    ]
    for gone in ("scheduled__2026-01-01", "scheduled__2026-01-05"):
        assert not exists(files[gone]), gone
    for kept in ("manual__now", "state", "bucket", "other dag"):
        assert exists(files[kept]), kept


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"mtime": 0.0}, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        (
            {"LastModified": datetime(2026, 1, 2, tzinfo=timezone.utc)},
            datetime(2026, 1, 2, tzinfo=timezone.utc),
        ),
        ({"updated": "2026-01-03T00:00:00Z"}, datetime(2026, 1, 3, tzinfo=timezone.utc)),
        ({"last_modified": datetime(2026, 1, 4)}, datetime(2026, 1, 4, tzinfo=timezone.utc)),
        ({"size": 3}, None),
    ],
)
def test_modification_time_of_every_store(info: dict[str, object], expected: datetime | None) -> None:
    from gong_provider.dags.cleanup import modified_time

    assert modified_time(info) == expected


def test_retention_comes_from_the_param_then_the_environment_and_is_never_below_a_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gong_provider.dags import settings

    monkeypatch.delenv("GONG_STAGING_RETENTION_DAYS", raising=False)
    assert settings.staging_retention_days() == 3
    monkeypatch.setenv("GONG_STAGING_RETENTION_DAYS", "7")
    assert settings.staging_retention_days() == 7
    assert settings.staging_retention_days(2) == 2
    monkeypatch.setenv("GONG_STAGING_RETENTION_DAYS", "0.1")  # a run still uploading keeps its files
    assert settings.staging_retention_days() == 1
    assert settings.staging_retention_days(0) == 1

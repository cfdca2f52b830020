"""One rule for "local path or object storage?" (gong_provider.staging.location), and every layer
that names a file by it agreeing: the DAG's source folder, staging's output, the operator's files
and the hook's upload, on a local path, a ``file://`` URL and a real (in-memory) object store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.models import ObjectType
from gong_provider.staging.location import (
    is_object_storage_path,
    is_url,
    location_exists,
    location_text,
    open_location,
    resolve_location,
)
from gong_provider.staging.outdir import OutputDir
from tests.support.gong_tasks import run_task, task_context

ACCOUNTS = Path(__file__).resolve().parents[2] / "dags" / "data" / "accounts.csv"


@pytest.fixture
def memory_store() -> Iterator[str]:
    """``memory://`` registered with Airflow's object storage: a remote store in this process."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    memory = MemoryFileSystem()
    attach("memory", fs=memory)
    yield "memory://gong-location-test"
    if memory.exists("/gong-location-test"):
        memory.rm("/gong-location-test", recursive=True)


def test_the_rule(memory_store: str, tmp_path: Path) -> None:
    assert resolve_location(f"file://{tmp_path}/a.csv") == f"{tmp_path}/a.csv"
    assert resolve_location(f"{tmp_path}/a.csv") == f"{tmp_path}/a.csv"
    assert resolve_location(tmp_path) is tmp_path
    assert resolve_location("relative/dir:with/colon") == "relative/dir:with/colon"  # not a URL
    remote = resolve_location(f"{memory_store}/a.csv")
    assert is_object_storage_path(remote)
    assert remote.protocol == "memory"
    assert resolve_location(remote) is remote
    assert not is_object_storage_path(f"{memory_store}/a.csv")
    assert not is_object_storage_path(tmp_path)
    assert is_url("s3://bucket/key")
    assert is_url("file:///tmp")
    assert not is_url("/tmp/a://b")
    assert not is_url(tmp_path)
    assert location_text(remote) == f"{memory_store}/a.csv"
    assert location_text(tmp_path / "a.csv") == f"{tmp_path}/a.csv"
    assert OutputDir(f"file://{tmp_path}").local == tmp_path
    assert OutputDir(str(tmp_path)).local == tmp_path
    assert OutputDir(memory_store).remote is not None


def put(base: str, tmp_path: Path) -> str:
    """Copy the sample accounts export into ``<base>/exports`` (local or object storage)."""
    folder = f"{base}/exports"
    target = resolve_location(f"{folder}/accounts.csv")
    if is_object_storage_path(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            handle.write(ACCOUNTS.read_bytes())
    else:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ACCOUNTS, target)
    return folder


@pytest.mark.parametrize("kind", ["path", "file-url", "object-storage"])
def test_every_layer_reads_a_location_the_same_way(
    kind: str,
    memory_store: str,
    tmp_path: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
) -> None:
    """Source folder -> staged files -> manifest -> operator -> hook upload -> Gong, one location."""
    from gong_provider.dags.sources import list_source_files, resolve_source
    from gong_provider.operators.gong import GongUploadEntitiesOperator
    from gong_provider.operators.upload_files import file_facts, resolve_files, upload_target
    from gong_provider.staging import stage

    base = {"path": str(tmp_path), "file-url": f"file://{tmp_path}", "object-storage": memory_store}[kind]
    folder = put(base, tmp_path)
    found = list_source_files(folder)
    assert list(found) == [ObjectType.ACCOUNT]
    source: Any = resolve_source(ObjectType.ACCOUNT, source=folder, sql_conn_id=None, sql_queries=None)
    assert is_object_storage_path(source) == (kind == "object-storage")

    manifest = stage(source, object_type="ACCOUNT", out_dir=f"{base}/staging")
    manifest_path = f"{base}/staging/ACCOUNT/manifest.json"
    assert location_exists(manifest_path)
    [staged] = manifest.files
    assert staged.path.startswith("memory://" if kind == "object-storage" else str(tmp_path))
    files, several = resolve_files(manifest_path)
    assert several
    assert [f.path for f in files] == [staged.path]
    with open_location(staged.path) as handle:
        assert handle.read().count(b"\n") == staged.records
    assert file_facts(files[0]).sha256 == staged.sha256
    assert is_object_storage_path(upload_target(staged.path)) == (kind == "object-storage")

    operator = GongUploadEntitiesOperator(
        task_id="upload",
        integration_id=str(emulator.integration_id),
        object_type="ACCOUNT",
        file=manifest_path,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    [result] = run_task(operator, task_context())
    assert result["status"] == "DONE"
    assert result["total_success_count"] == staged.records
    assert result["file"] == staged.path
    assert len(emulator_client.entities("ACCOUNT")) == staged.records
    assert emulator_client.upload_counts() == {result["client_request_id"]: 1}

"""GongRequestStatusSensor against the emulator, in poke mode and deferrable mode."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.sensors.gong import GongRequestStatusSensor
from gong_provider.staging import stage
from gong_provider.waiting.events import GongUploadFailed
from tests.support.gong_tasks import contact, run_task, task_context, write_ldjson

STATUS_PATH = "/v2/crm/request-status"
MODES = ["poke", "deferrable"]


def upload(emulator: EmulatorProcess, path: Path, request_id: str) -> None:
    with GongCrmHook() as hook:
        hook.upload_entities(emulator.integration_id, "CONTACT", request_id, path)


def sensor(emulator: EmulatorProcess, request_id: str, mode: str, **kwargs: Any) -> GongRequestStatusSensor:
    kwargs.setdefault("timeout", 30)
    return GongRequestStatusSensor(
        task_id="wait",
        integration_id=str(emulator.integration_id),
        client_request_id=request_id,
        deferrable=mode == "deferrable",
        poke_interval=0.05,
        max_poll_interval=0.2,
        **kwargs,
    )


def run(task: GongRequestStatusSensor) -> Any:
    return run_task(task, task_context())


@pytest.mark.parametrize("mode", MODES)
def test_done_returns_the_counts(emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")]), f"s-done-{mode}")
    result = run(sensor(emulator, f"s-done-{mode}", mode))
    assert result["status"] == "DONE"
    assert result["total_success_count"] == 2
    assert result["integration_id"] == "2271307570613351879"


@pytest.mark.parametrize("mode", MODES)
def test_deferrable_waits_in_the_trigger_when_gong_is_slow(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    emulator_client.configure(processing_delay=0.5)
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), f"s-slow-{mode}")
    task = sensor(emulator, f"s-slow-{mode}", mode)
    if mode == "deferrable":
        with pytest.raises(TaskDeferred):
            task.execute(task_context())
    assert run(task)["status"] == "DONE"


@pytest.mark.parametrize("mode", MODES)
def test_record_errors_name_the_object_ids(
    emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str
) -> None:
    records = [contact("c-1"), contact("c-bad", modifiedDate="yesterday"), contact("c-3")]
    path = write_ldjson(tmp_path / "c.ldjson", records)
    upload(emulator, path, f"s-rec-{mode}")
    with pytest.raises(GongUploadFailed) as info:
        run(sensor(emulator, f"s-rec-{mode}", mode, file=str(path)))
    message = str(info.value)
    assert "line 2 [objectId c-bad" in message
    assert "1 record error(s), 2 record(s) stored" in message


@pytest.mark.parametrize("form", ["manifest", "staged path"])
@pytest.mark.parametrize("mode", MODES)
def test_record_errors_map_to_the_source_line_through_the_manifest(
    emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str, form: str
) -> None:
    """The manifest dict, or the staged file's path (its ``.sources.ldjson`` sidecar is found)."""
    source = tmp_path / "contacts.csv"
    source.write_text(
        "objectId,modifiedDate,emailAddress\nc-1,2026-01-01T00:00:00Z,a@x.io\nc-2,2026-01-01T00:00:00Z,b@x.io\n"
    )
    manifest = stage(str(source), object_type="CONTACT", out_dir=str(tmp_path / "out"))
    [staged] = manifest.files
    lines = Path(staged.path).read_text().splitlines()
    broken = json.loads(lines[1]) | {"modifiedDate": "not a date"}
    Path(staged.path).write_text("\n".join([lines[0], json.dumps(broken)]) + "\n")  # Gong will refuse line 2
    upload(emulator, Path(staged.path), f"s-man-{mode}")
    file = manifest.to_dict() if form == "manifest" else staged.path
    with pytest.raises(GongUploadFailed) as info:
        run(sensor(emulator, f"s-man-{mode}", mode, file=file))
    assert "objectId c-2 (" in str(info.value)
    assert "contacts.csv, line 3)" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_record_errors_tolerated_when_asked(
    emulator: EmulatorProcess, conn: str, tmp_path: Path, mode: str
) -> None:
    path = write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-bad", modifiedDate="x")])
    upload(emulator, path, f"s-tol-{mode}")
    result = run(sensor(emulator, f"s-tol-{mode}", mode, fail_on_record_errors=False))
    assert result["status"] == "FAILED"
    assert result["total_error_count"] == 1
    assert result["total_success_count"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_general_error_always_fails(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    emulator_client.inject_fault("fail_next_request", description="Integration is being deleted")
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), f"s-gen-{mode}")
    with pytest.raises(GongUploadFailed, match="general error: Integration is being deleted"):
        run(sensor(emulator, f"s-gen-{mode}", mode, fail_on_record_errors=False))


@pytest.mark.parametrize("mode", MODES)
def test_timeout(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, mode: str
) -> None:
    emulator_client.configure(processing_delay=30)
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), f"s-to-{mode}")
    with pytest.raises(AirflowSensorTimeout):
        run(sensor(emulator, f"s-to-{mode}", mode, timeout=0.5))


def test_execution_timeout_bounds_the_deferred_wait(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    from datetime import timedelta

    emulator_client.configure(processing_delay=30)
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), "s-et")
    task = sensor(emulator, "s-et", "deferrable", timeout=3600, execution_timeout=timedelta(seconds=0.5))
    with pytest.raises(TaskDeferred) as info:
        task.execute(task_context())
    assert info.value.trigger.end_time < time.time() + 1  # type: ignore[attr-defined]
    with pytest.raises(AirflowSensorTimeout):
        run(task)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [500, 429])
def test_500_and_429_while_polling_do_not_fail(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
    tmp_path: Path,
    mode: str,
    status: int,
) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), f"s-{status}-{mode}")
    emulator_client.inject_fault("status", status=status, count=3, path=STATUS_PATH, retry_after=1)
    assert run(sensor(emulator, f"s-{status}-{mode}", mode))["status"] == "DONE"
    answers = [c["status"] for c in emulator_client.requests_log() if c["path"] == STATUS_PATH]
    assert answers[:3] == [status] * 3
    assert answers[-1] == 200

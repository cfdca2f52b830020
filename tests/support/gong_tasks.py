"""Helpers of the operator, sensor, trigger and DAG tests: files, connections, task contexts, triggers."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gong_provider.emulator.process import EmulatorProcess
from gong_provider.triggers.gong import GongRequestStatusTrigger

MODIFIED = "2026-01-02T03:04:05Z"
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_dag_file() -> str:
    """The DAG file README tells pip users to write (the python block that starts "# Airflow DAG")."""
    blocks = re.findall(r"```python\n(# Airflow DAG.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, blocks
    return str(blocks[0])


def contact(object_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "modifiedDate": MODIFIED,
        "emailAddress": f"{object_id}@example.com",
        **fields,
    }


def write_ldjson(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def connect(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> str:
    """``gong_default`` at the emulator; no hook retries, so 429/5xx/drops reach the code under test."""
    conn = json.loads(emulator.connection_json())
    conn["extra"] = {"max_retries": 0, "calls_per_second": 0, **extra}
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", json.dumps(conn))
    return "gong_default"


def task_context(
    *,
    dag_id: str = "dag",
    task_id: str = "task",
    run_id: str = "manual__2026-11-29T05:00:00.123456+00:00",
    map_index: int = -1,
    try_number: int = 1,
) -> Any:
    ti = SimpleNamespace(
        dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number
    )
    return {"ti": ti}


def run_trigger(trigger: GongRequestStatusTrigger, timeout: float = 60) -> list[dict[str, Any]]:
    """Every event of ``trigger.run()`` (there must be exactly one), bounded in time."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))


def run_task(task: Any, context: Any, *, drop_kwargs: bool = False) -> Any:
    """Run as Airflow would: execute; while it defers, run the trigger, then the method it names.

    ``drop_kwargs`` resumes with the event only, as ``dag.test()`` / ``airflow dags test`` do.
    """
    from airflow.sdk.exceptions import TaskDeferred

    step: Any = lambda: task.execute(context)  # noqa: E731
    for _ in range(100):
        try:
            return step()
        except TaskDeferred as deferred:
            trigger, method = deferred.trigger, deferred.method_name
            kwargs = {} if drop_kwargs else deferred.kwargs or {}
            timeout = deferred.timeout
        assert isinstance(trigger, GongRequestStatusTrigger)
        assert timeout is not None
        [event] = run_trigger(trigger)
        step = lambda: getattr(task, method)(context, event, **kwargs)  # noqa: E731, B023
    raise AssertionError("the task deferred 100 times")


def as_utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

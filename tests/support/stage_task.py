"""The sync's stage task code (``stage_entity``) called as the DAG calls it, on a test's own folders.

One helper for the tests that stage a type without Airflow: the export under ``tmp_path / "export"``,
staging and change-capture state beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gong_provider.dags.stage import stage_entity
from gong_provider.emulator.config import DEFAULT_INTEGRATION_ID


def stage_type(tmp_path: Path, run_id: str, object_type: str, **params: Any) -> dict[str, Any]:
    """Stage ``object_type`` for run ``run_id`` with the DAG's conf ``params`` over these defaults: the
    export in ``tmp_path / "export"`` and the emulator's default integration."""
    conf = {"source": str(tmp_path / "export"), "integration_id": str(DEFAULT_INTEGRATION_ID), **params}
    return stage_entity(
        object_type,
        conf,
        dag_id="sync",
        run_id=run_id,
        render=str,
        staging_base=str(tmp_path / "staging"),
        state_base=str(tmp_path / "state"),
    )

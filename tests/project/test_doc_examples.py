"""The examples shown in README.md and docs/ do what their comments say (issue 22 item 8).

Each example is read from the Markdown as the reader sees it and run here, so it cannot drift.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODIFIED = "2026-03-01T10:11:12Z"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / page).read_text(), flags=re.S | re.M)


def _in_a_dag(code: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    from airflow.sdk import DAG

    scope: dict[str, Any] = dict(namespace or {})
    with DAG("doc_example", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
        exec(compile(code, "<doc example>", "exec"), scope)  # the doc's own code
    return scope


def test_changes_md_shows_the_user_dag_the_tests_run_verbatim() -> None:
    page = (ROOT / "docs" / "changes.md").read_text()
    section = page.split("## In your own DAG", 1)[1]
    shown = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert shown is not None, "the example must be visible code in the Markdown"
    dag_file = (ROOT / "tests" / "airflow_dags" / "gong_changes_contacts.py").read_text()
    assert shown.group(1) == dag_file.split('"""', 2)[2].lstrip("\n")
    assert '"confirm_deletes": Param(' in shown.group(1)  # the guard's error tells the user to set it
    assert "literalinclude" not in page


def test_readme_pieces_defer_and_stage_into_a_path_safe_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = next(block for block in python_blocks("README.md") if "stage_contacts" in block)
    scope = _in_a_dag(code.replace('"/shared/staging"', repr(str(tmp_path / "staging"))))
    assert scope["upload"].deferrable is True  # its comment says the wait holds no worker slot
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "contacts.csv").write_text(f"objectId,modifiedDate\nc-1,{MODIFIED}\n")
    monkeypatch.chdir(tmp_path)
    run = SimpleNamespace(dag_id="doc_example", run_id="manual__2026-03-01T10:11:12.123+00:00")
    manifest = scope["stage_contacts"].function(dag_run=run)
    folder = Path(manifest["files"][0]["path"]).parent.parent
    assert folder.name == "manual__2026-03-01T10_11_12.123_00_00"
    assert manifest["records_staged"] == 1


def test_the_sensor_page_waits_for_a_manifest_upload_with_a_mapped_sensor() -> None:
    from gong_provider.operators.gong import GongUploadEntitiesOperator

    blocks = [b for b in python_blocks("docs/sensor-and-trigger.md") if "GongRequestStatusSensor" in b]
    assert len(blocks) == 2
    upload = GongUploadEntitiesOperator(
        task_id="upload", integration_id="1", object_type="CONTACT", file="/staging/CONTACT/manifest.json"
    )
    scope = _in_a_dag(blocks[1], {"upload": upload, **_in_a_dag(blocks[0])})
    statuses = scope["status_of"]({"client_request_id": "r-1", "file": "f", "records": 3})
    assert statuses == {"client_request_id": "r-1", "file": "f"}
    assert type(scope["wait"]).__name__ == "MappedOperator"  # one sensor per uploaded file
    assert scope["wait"].upstream_task_ids == {"upload"}

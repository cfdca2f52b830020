"""The installed wheel, not the checkout: what a pip user gets runs gong_crm_sync from a three-line file.

Builds the wheel, installs it into a fresh venv (uv, from its cache; with the repo's constraints file
when there is one), writes the three-line DAG file README gives into an empty dags folder and runs
``airflow dags test gong_crm_sync`` with the venv's Airflow against the session emulator, every
setting from the environment (GONG_CRM_SOURCE is the repo's sample export).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.gong_tasks import readme_dag_file
from tests.support.paths import clean_environment
from tests.support.paths import uv as find_uv

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "dags" / "data"

PREPARE_HOME = """
import gong_provider, sys
from pathlib import Path
assert Path(gong_provider.__file__).is_relative_to(sys.prefix), gong_provider.__file__
from airflow.utils.db import initdb
initdb()
from airflow.models.pool import Pool
Pool.create_or_update_pool("gong_api", 3, "Gong API calls", include_deferred=False)
"""

PARSE = """
import json, os
from airflow.dag_processing.dagbag import BundleDagBag
from pathlib import Path
folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, safe_mode=True)
errors = {str(path): str(error) for path, error in bag.import_errors.items()}
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": errors}))
"""

RUN_STATES = """
import json
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from sqlalchemy import select
with create_session() as session:
    runs = [str(run.state) for run in session.scalars(select(DagRun))]
    tis = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in session.scalars(select(TaskInstance))}
print(json.dumps({"runs": runs, "tis": tis}))
"""


def uv() -> str:
    found = find_uv()
    if found is None:
        pytest.skip("uv is not installed (make install puts it in .venv/bin)")
    return found


def constraints_file() -> Path | None:
    """The repo's Airflow-style constraints for this Python, when the repo has them."""
    files = sorted((ROOT / "constraints").glob("*.txt"))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return next((f for f in files if python in f.name), files[0] if files else None)


def timed(timings: dict[str, float], step: str, action: Callable[[], Any]) -> Any:
    started = time.monotonic()
    try:
        return action()
    finally:
        timings[step] = round(time.monotonic() - started, 1)


def run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def object_ids(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as handle:
        if path.suffix == ".csv":
            return {row["objectId"] for row in csv.DictReader(handle)}
        return {json.loads(line)["objectId"] for line in handle if line.strip()}


def build_wheel(out_dir: Path) -> Path:
    run([uv(), "build", "--wheel", "--out-dir", out_dir, ROOT], cwd=ROOT)
    [wheel] = out_dir.glob("airflow_provider_gong-*.whl")
    return wheel


def test_the_wheel_ships_the_dags_and_runs_the_three_line_file(
    tmp_path: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    record_property: Callable[[str, object], None],
) -> None:
    timings: dict[str, float] = {}
    wheel = timed(timings, "build wheel", lambda: build_wheel(tmp_path / "dist"))
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("__init__", "sync_dag", "setup_dag", "params", "settings", "stage", "report"):
        assert f"gong_provider/dags/{module}.py" in names, module
    assert not [n for n in names if n.startswith(("tests/", "dags/", "benchmarks/", "scripts/"))]

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    install = [uv(), "pip", "install", "--python", python, wheel]
    if (constraints := constraints_file()) is not None:
        install += ["--constraint", constraints]
    # nothing of the checkout's environment: no PYTHONPATH, no AIRFLOW_* or GONG_* of the test session
    clean = {k: v for k, v in clean_environment().items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    timed(timings, "create venv", lambda: run([uv(), "venv", "--python", sys.executable, venv], env=clean))
    timed(timings, "install wheel", lambda: run(install, env=clean))

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "gong_crm.py").write_text(readme_dag_file())
    home = tmp_path / "airflow_home"
    env = {
        **clean,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_GONG_DEFAULT": emulator.connection_json(),
        "GONG_CRM_SOURCE": str(SAMPLE_DATA),
        "GONG_INTEGRATION_ID": str(emulator.integration_id),
        "GONG_STAGING_BASE": str(tmp_path / "staging"),
        "GONG_POLL_INTERVAL": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    airflow = venv / "bin" / "airflow"
    timed(timings, "migrate db", lambda: run([python, "-c", PREPARE_HOME], env=env, cwd=tmp_path))
    parsed = timed(timings, "parse", lambda: run([python, "-c", PARSE], env=env, cwd=tmp_path))
    assert json.loads(parsed.stdout.splitlines()[-1]) == {"dags": ["gong_crm_sync"], "errors": {}}
    timed(
        timings,
        "airflow dags test",
        lambda: run([airflow, "dags", "test", "gong_crm_sync"], env=env, cwd=tmp_path, timeout=600),
    )
    states = json.loads(run([python, "-c", RUN_STATES], env=env, cwd=tmp_path).stdout.splitlines()[-1])
    assert states["runs"] == ["success"], states["tis"]
    assert states["tis"]["report[-1]"] == "success"

    from gong_provider.dags.sources import list_source_files

    for object_type, path in list_source_files(str(SAMPLE_DATA)).items():
        stored = emulator_client.entities(object_type.value, integration_id=emulator.integration_id)
        assert set(stored) == object_ids(Path(path)), object_type
    record_property("timings_s", timings)
    print(f"wheel test timings (s): {timings}")

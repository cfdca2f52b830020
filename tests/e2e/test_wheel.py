"""The installed wheel, not the checkout: what a pip user gets runs gong_crm_sync from a three-line file,
and the first hour of docs/getting-started.md runs command for command as written (issue 22).

Builds the wheel, installs it into a fresh venv (uv, from its cache; with the repo's constraints file
when there is one), writes the three-line DAG file README gives into an empty dags folder and runs
``airflow dags test gong_crm_sync`` with the venv's Airflow against the session emulator, every
setting from the environment (GONG_CRM_SOURCE is the repo's sample export).
"""

from __future__ import annotations

import csv
import json
import re
import socket
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


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The wheel built and installed into a fresh venv once for this module's tests."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    timings: dict[str, float] = {}
    wheel = timed(timings, "build wheel", lambda: build_wheel(tmp_path / "dist"))
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    install = [uv(), "pip", "install", "--python", python, wheel]
    if (constraints := constraints_file()) is not None:
        install += ["--constraint", constraints]
    # nothing of the checkout's environment: no PYTHONPATH, no AIRFLOW_* or GONG_* of the test session
    clean = {k: v for k, v in clean_environment().items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    timed(timings, "create venv", lambda: run([uv(), "venv", "--python", sys.executable, venv], env=clean))
    timed(timings, "install wheel", lambda: run(install, env=clean))
    return {"wheel": wheel, "venv": venv, "python": python, "clean": clean, "timings": timings}


def test_the_wheel_ships_the_dags_and_runs_the_three_line_file(
    tmp_path: Path,
    installed: dict[str, Any],
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    record_property: Callable[[str, object], None],
) -> None:
    timings: dict[str, float] = dict(installed["timings"])
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for module in ("__init__", "sync_dag", "setup_dag", "params", "settings", "stage", "report"):
        assert f"gong_provider/dags/{module}.py" in names, module
    assert not [n for n in names if n.startswith(("tests/", "dags/", "benchmarks/", "scripts/"))]
    venv, python, clean = installed["venv"], installed["python"], installed["clean"]

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


# --------------------------------------------------------------------------- the first hour

GETTING_STARTED = ROOT / "docs" / "getting-started.md"
FIRST_HOUR = "## The first hour, by hand"
INTEGRATION_ID = "2271307570613351879"

RUNS = """
import json
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select
out = []
with create_session() as session:
    for run in session.scalars(select(DagRun).order_by(DagRun.id)):
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id))
        rows = session.scalars(select(XComModel).where(XComModel.run_id == run.run_id))
        out.append({
            "dag_id": run.dag_id, "run_id": run.run_id, "state": str(run.state),
            "tis": {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis},
            "xcom": {f"{r.task_id}|{r.key}": XComModel.deserialize_value(r) for r in rows if r.map_index < 0},
        })
print(json.dumps(out, default=str))
"""


def first_hour_blocks() -> list[str]:
    """The bash blocks of getting-started's first hour, in the order a reader runs them."""
    text = GETTING_STARTED.read_text(encoding="utf-8")
    section = text.split(FIRST_HOUR, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def first_hour(installed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """getting-started's first hour, command for command, from the installed wheel: what each step left."""
    import requests

    work = tmp_path_factory.mktemp("first-hour")
    venv = installed["venv"]
    blocks = first_hour_blocks()
    install, emulator_block, *steps = blocks
    assert "pip install airflow-provider-gong --constraint constraints-" in install
    port = str(free_port())
    env = {
        **installed["clean"],
        "PATH": f"{venv / 'bin'}:{installed['clean'].get('PATH', '')}",
        "GONG_POLL_INTERVAL": "0.2",  # only quicker: the first check of each wait comes sooner
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
    }
    url = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        ["bash", "-c", "exec " + emulator_block.strip().replace("8085", port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    outcome: dict[str, Any] = {"steps": [], "counts": []}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_emulator/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert emulator.poll() is None, "the emulator exited"
            assert time.monotonic() < deadline, "the emulator did not answer within 60 s"
            time.sleep(0.2)
        exports: list[str] = []
        for block in steps:
            script = "\n".join([*exports, block.replace("8085", port)])
            result = subprocess.run(
                ["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, f"{block}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            outcome["steps"].append(result.stdout + result.stderr)
            (work / f"step-{len(outcome['steps'])}.log").write_text(outcome["steps"][-1])
            counts = requests.get(f"{url}/_emulator/record-counts/CONTACT", timeout=10)
            outcome["counts"].append(counts.json() if counts.ok else None)
            exports += [
                line for line in block.replace("8085", port).splitlines() if line.startswith("export ")
            ]
        airflow_env = {**env, "AIRFLOW_HOME": str(work / "airflow_home")}
        runs = run([installed["python"], "-c", RUNS], env=airflow_env, cwd=work)
        outcome["runs"] = json.loads(runs.stdout.splitlines()[-1])
        outcome["work"] = work
        return outcome
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def _runs(first_hour: dict[str, Any], dag_id: str) -> list[dict[str, Any]]:
    return [run for run in first_hour["runs"] if run["dag_id"] == dag_id]


def test_first_hour_setup_finds_the_emulators_integration(first_hour: dict[str, Any]) -> None:
    [setup] = _runs(first_hour, "gong_crm_setup")
    assert setup["state"] == "success", setup["tis"]
    assert str(setup["xcom"]["announce|return_value"]) == INTEGRATION_ID
    assert setup["xcom"]["write_schema|return_value"] == {"CONTACT": 1}


def test_first_hour_validate_names_the_bad_row(first_hour: dict[str, Any]) -> None:
    output = " ".join(first_hour["steps"][2].split())
    assert "contacts.csv, line 4 objectId c-3: emailAddress:" in output
    assert "1 record to fix" in output  # validate exited non-zero


def test_first_hour_first_sync_names_the_reject_and_fails_at_its_end(first_hour: dict[str, Any]) -> None:
    first, _second = _runs(first_hour, "gong_crm_sync")
    assert first["state"] == "failed"
    [rejects] = (first_hour["work"] / "airflow_home" / "gong_staging" / "runs" / "gong_crm_sync").glob(
        "*/CONTACT/rejects.ldjson"
    )
    [reject] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (reject["line"], reject["objectId"]) == (4, "c-3")
    assert reject["reasons"][0]["field"] == "emailAddress"


def test_first_hour_first_sync_sends_the_valid_rows(first_hour: dict[str, Any]) -> None:
    assert first_hour["counts"][3] == {"c-1": 1, "c-2": 1}


def test_first_hour_second_sync_succeeds(first_hour: dict[str, Any]) -> None:
    _first, second = _runs(first_hour, "gong_crm_sync")
    assert second["state"] == "success", second["tis"]
    assert set(first_hour["counts"][4]) == {"c-1", "c-2", "c-3"}
    assert "Staged CONTACT: read 3" in first_hour["steps"][4]  # the output holds the tasks' logs
    assert "XCom not found" not in first_hour["steps"][4]  # and no error line on a successful run


def test_first_hour_second_sync_sends_only_the_fix_and_the_change(first_hour: dict[str, Any]) -> None:
    _first, second = _runs(first_hour, "gong_crm_sync")
    summary = second["xcom"]["contact.stage|summary"]
    counts = (summary["new"], summary["changed"], summary["unchanged"], summary["pending_retried"])
    assert counts == (0, 1, 1, 1), summary  # c-3 was pending since its reject; c-1 changed
    assert first_hour["counts"][4] == {"c-1": 2, "c-2": 1, "c-3": 1}

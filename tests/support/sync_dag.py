"""gong_crm_sync run whole in an Airflow of its own (``airflow dags test``), as ``make demo`` runs it.

The one harness of the whole-DAG tests (tests/dags/test_sync_*_dag.py, the fault, leak and lineage
tests): a metadata database initialised once per session (``sync_template``) and copied into each
test's Airflow home (``new_sync_home``), the environment of such an Airflow (``sync_env``), runs
(``SyncDag``) and what they left in the database (``inspect_sync_db``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import connection_json
from tests.support.paths import clean_environment

ROOT = Path(__file__).resolve().parents[2]
SYNC_DAG_ID = "gong_crm_sync"

INIT_SYNC_HOME = """
from airflow.utils.db import initdb
initdb()
from airflow.models.pool import Pool
Pool.create_or_update_pool("gong_api", 3, "Gong API calls", include_deferred=False)
"""


def sync_env(home: Path, pycache: Path, **extra: str) -> dict[str, str]:
    """Environment of an Airflow whose dags folder is the product's ``dags/`` (not the test DAGs)."""
    env = clean_environment()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GONG_STAGING_BASE": str(home / "gong_staging"),
            "GONG_POLL_INTERVAL": "0.2",
            "PYTHONPYCACHEPREFIX": str(pycache),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def sync_template(tmp_path_factory: pytest.TempPathFactory, pycache: Path) -> Path:
    """An initialized metadata DB with the ``gong_api`` pool, copied by each test that runs the DAG."""
    home = tmp_path_factory.mktemp("sync-template")
    subprocess.run(
        [sys.executable, "-c", INIT_SYNC_HOME],
        env=sync_env(home, pycache),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return home / "airflow.db"


def new_sync_home(template: Path, home: Path) -> Path:
    import shutil

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, home / "airflow.db")
    return home


RUN_AT = """
import json, sys
from datetime import datetime
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

dags = Path(sys.argv[1])
dag = BundleDagBag(dag_folder=str(dags), bundle_path=dags).dags[sys.argv[2]]
moment = datetime.fromisoformat(sys.argv[3])
run = dag.test(run_after=moment, logical_date=moment, run_conf=json.loads(sys.argv[4]))
print("RUN", run.run_id, run.state)
sys.exit(0 if str(run.state) == "success" else 1)
"""


def sync_run_at(environment: dict[str, str], run_at: str, conf: dict[str, Any]) -> list[str]:
    """The command of a ``gong_crm_sync`` run at a fixed ``run_after`` (``dag.test()``): its run id is
    the same each time, and the earlier run of that id is replaced by a fresh one, as a user's "Clear"
    of the whole run re-runs it (``airflow dags test`` always derives a new run id from the clock)."""
    dags = environment["AIRFLOW__CORE__DAGS_FOLDER"]
    return [sys.executable, "-c", RUN_AT, dags, SYNC_DAG_ID, run_at, json.dumps(conf)]


@dataclass
class SyncDag:
    """``airflow dags test gong_crm_sync`` on one Airflow home (so one change-capture state) against
    ``emulator``, as ``make demo`` runs it: every whole-DAG test starts its runs here."""

    home: Path
    pycache: Path
    emulator: EmulatorProcess
    defaults: dict[str, Any] = field(default_factory=dict)
    """Conf of every run (``source``, ``entity_types``, ...); a run's own conf wins."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment of every run beyond ``sync_env``'s and the Gong connection's."""
    connection: str | None = None
    """``gong_default`` as a connection JSON; the emulator's (``connection_json``) unless given."""

    def command(
        self, run_at: str | None = None, env: dict[str, str] | None = None, **conf: Any
    ) -> tuple[list[str], dict[str, str]]:
        """The command and environment of one run; with ``run_at``, a run of that fixed run id (run
        again: the run cleared, see ``sync_run_at``); ``env`` adds to this run's environment."""
        values = {"integration_id": str(self.emulator.integration_id), **self.defaults, **conf}
        environment = sync_env(
            self.home,
            self.pycache,
            AIRFLOW_CONN_GONG_DEFAULT=self.connection or connection_json(self.emulator),
            GONG_INTEGRATION_ID=str(self.emulator.integration_id),
            **{**self.env, **(env or {})},
        )
        if run_at:
            return sync_run_at(environment, run_at, values), environment
        airflow = str(Path(sys.executable).with_name("airflow"))
        return [airflow, "dags", "test", SYNC_DAG_ID, "--conf", json.dumps(values)], environment

    def run(
        self, run_at: str | None = None, env: dict[str, str] | None = None, **conf: Any
    ) -> subprocess.CompletedProcess[str]:
        """One run to its end, its output captured."""
        args, environment = self.command(run_at, env, **conf)
        return subprocess.run(args, env=environment, capture_output=True, text=True, timeout=600, check=False)

    def start(
        self, log: Path, run_at: str | None = None, env: dict[str, str] | None = None, **conf: Any
    ) -> subprocess.Popen[bytes]:
        """One run started in a process group of its own (for a test to stop or kill), output to ``log``."""
        args, environment = self.command(run_at, env, **conf)
        with log.open("wb") as handle:
            return subprocess.Popen(
                args, env=environment, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    def inspect(self) -> dict[str, Any]:
        """This home's metadata database: see ``inspect_sync_db``."""
        return inspect_sync_db(self.home, self.pycache)


def run_sync_dag(
    home: Path,
    pycache: Path,
    emulator: EmulatorProcess,
    conf: dict[str, Any],
    *,
    connection: str | None = None,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """One ``airflow dags test gong_crm_sync --conf ...`` run against ``emulator`` (``SyncDag.run``)."""
    return SyncDag(home, pycache, emulator, env=extra_env, connection=connection).run(**conf)


INSPECT_SYNC_DB = """
import json
from airflow.models.dagrun import DagRun
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

with create_session() as session:
    runs = [
        {"run_id": r.run_id, "state": str(r.state), "conf": r.conf} for r in session.scalars(select(DagRun))
    ]
    tis = [
        {"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state), "run_id": ti.run_id,
         "try_number": ti.try_number, "next_kwargs": ti.next_kwargs, "next_method": ti.next_method}
        for ti in session.scalars(select(TaskInstance))
    ]
    xcoms = [
        {"task_id": x.task_id, "map_index": x.map_index, "key": x.key, "run_id": x.run_id,
         "value": XComModel.deserialize_value(x)}
        for x in session.scalars(select(XComModel))
    ]
    rendered = [
        {"task_id": r.task_id, "map_index": r.map_index, "fields": r.rendered_fields}
        for r in session.scalars(select(RenderedTaskInstanceFields))
    ]
    triggers = [{"classpath": t.classpath, "kwargs": t.kwargs} for t in session.scalars(select(Trigger))]
print(json.dumps({"runs": runs, "tis": tis, "xcoms": xcoms, "rendered": rendered, "triggers": triggers},
                 default=repr))
"""


def inspect_sync_db(home: Path, pycache: Path) -> dict[str, Any]:
    """Runs, task instances (with trigger events), XComs, rendered fields and decrypted trigger kwargs."""
    result = subprocess.run(
        [sys.executable, "-c", INSPECT_SYNC_DB],
        env=sync_env(home, pycache),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data

"""One LocalExecutor Airflow shared by the end-to-end modules that drive it from outside (REST API, browser).

Starting an Airflow (``db migrate``, four processes, the DAGs parsed) costs a minute or more on a small
machine, so tests/e2e/test_e2e_airflow.py and tests/e2e/test_browser_ui.py share one: the api-server,
scheduler (LocalExecutor), dag-processor and triggerer on SQLite, serving the repository's ``dags/``,
next to a Gong emulator. ``SharedLocalAirflow.get`` starts it on first use; tests/e2e/conftest.py stops
it as soon as the next test does not use it (so it does not idle through the Celery test). A module
starts from a clean Gong and change-capture state with ``LocalAirflow.fresh``.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.airflow_stack import AirflowProcesses, Api, airflow_env, free_port, running_airflow

ROOT = Path(__file__).resolve().parents[2]
SYNC_DAG_ID = "gong_crm_sync"
SETUP_DAG_ID = "gong_crm_setup"


@dataclass
class LocalAirflow:
    airflow: AirflowProcesses
    api: Api
    emulator: Any
    staging: Path
    """GONG_STAGING_BASE of every process (the change-capture state is under it, at its default)."""

    def fresh(self, processing_delay: float) -> None:
        """Gong as new (no record, request or fault; its default integration), its processing taking
        ``processing_delay`` seconds, and no staged run or change-capture state: a module's runs then
        see only their own effects. Call between modules. A run an earlier module's failure left in
        flight is marked failed first: with ``max_active_runs=1`` it would hold every later run queued,
        and one failure would show as errors in every module after it."""
        for dag_id in (SYNC_DAG_ID, SETUP_DAG_ID):
            for state in ("running", "queued"):
                left = self.api.get(f"/dags/{dag_id}/dagRuns", state=state)["dag_runs"]
                for run in left:
                    self.api.send("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", {"state": "failed"})
        self.emulator.client.reset()
        self.emulator.client.configure(processing_delay=processing_delay)
        shutil.rmtree(self.staging, ignore_errors=True)


class SharedLocalAirflow:
    """Starts the shared stack on first ``get`` and stops it on ``stop`` (again on a later ``get``)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.stack: LocalAirflow | None = None
        self._exit = contextlib.ExitStack()
        self.starts = 0

    def get(self) -> LocalAirflow:
        if self.stack is None:
            self.stack = self._start(self.base / f"local-{self.starts}")
            self.starts += 1
        return self.stack

    def _start(self, base: Path) -> LocalAirflow:
        from gong_provider.emulator.process import EmulatorProcess

        home = base / "airflow_home"
        home.mkdir(parents=True)
        emulator = EmulatorProcess(base / "emulator").start()
        self._exit.callback(emulator.stop)
        try:
            env = airflow_env(
                home,
                free_port(),
                ROOT / "dags",
                AIRFLOW_CONN_GONG_DEFAULT=emulator.connection_json(),
                GONG_INTEGRATION_ID=str(emulator.integration_id),  # the sync form's default
                # trigger-only here: a schedule would add a run of its own when the DAG is unpaused
                GONG_CRM_SYNC_SCHEDULE="none",
                GONG_STAGING_BASE=str(base / "staging"),
                GONG_POLL_INTERVAL="1",
            )
            airflow, api = self._exit.enter_context(running_airflow(home, env, [SYNC_DAG_ID, SETUP_DAG_ID]))
            api.send("PATCH", f"/dags/{SETUP_DAG_ID}", {"is_paused": True})  # as it is created
        except BaseException:
            self.stop()
            raise
        return LocalAirflow(airflow=airflow, api=api, emulator=emulator, staging=base / "staging")

    def stop(self) -> None:
        """Stop every process of the stack (Airflow's, then the emulator)."""
        self.stack = None
        self._exit.close()
        self._exit = contextlib.ExitStack()
